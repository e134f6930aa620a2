"""the inbox says why an update was set aside: a short kind of failure, never its content

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    # Updates set aside before this revision failed for a reason nobody wrote down.
    inbox = sa.table("inbox", sa.column("failure"), sa.column("attempts"), sa.column("processed_at"))
    op.execute(
        inbox.update()
        .where(inbox.c.processed_at.is_not(None), inbox.c.attempts >= 5)
        .values(failure="failed: unknown (before 0003)")
    )


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_column("failure")
