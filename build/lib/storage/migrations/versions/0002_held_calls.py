"""the outbox is a queue: held calls are passed by an index, and what was sent is no longer kept

Calls to someone who blocked the bot carry `held`, so the courier's query skips them by an index
instead of reading each one. A call leaves the outbox once Telegram has it, so `sent_at` and
`failed` are gone, and with them the copies of calls sent before this revision.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
DUE = "held = false"  # as in storage.models, as it stood then


def upgrade() -> None:
    outbox = sa.table("outbox", sa.column("chat_id"), sa.column("sent_at"))
    op.execute(outbox.delete().where(outbox.c.sent_at.is_not(None)))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.drop_index("ix_outbox_pending")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("failed")
        batch_op.create_index(
            "ix_outbox_due",
            ["id"],
            unique=False,
            postgresql_where=sa.text(DUE),
            sqlite_where=sa.text(DUE.replace("false", "0")),
        )
    people = sa.table("people", sa.column("user_id"), sa.column("reachable", sa.Boolean()))
    held = sa.table("outbox", sa.column("chat_id"), sa.column("held", sa.Boolean()))
    blocked = sa.select(people.c.user_id).where(people.c.reachable == sa.false())
    op.execute(held.update().where(held.c.chat_id.in_(blocked)).values(held=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.add_column(sa.Column("failed", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_outbox_pending", ["sent_at", "id"], unique=False)
        batch_op.drop_column("held")
