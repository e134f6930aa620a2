"""held calls: the courier's query skips calls to people who blocked the bot by index, not by reading them

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None
DUE = "held = false AND sent_at IS NULL"  # as in storage.models, as it stood then


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.drop_index('ix_outbox_pending')
        batch_op.create_index('ix_outbox_due', ['id'], unique=False, postgresql_where=sa.text(DUE),
                              sqlite_where=sa.text(DUE.replace('false', '0')))
    people = sa.table('people', sa.column('user_id'), sa.column('reachable', sa.Boolean()))
    outbox = sa.table('outbox', sa.column('chat_id'), sa.column('sent_at'), sa.column('held', sa.Boolean()))
    blocked = sa.select(people.c.user_id).where(people.c.reachable == sa.false())
    op.execute(outbox.update().where(outbox.c.sent_at.is_(None), outbox.c.chat_id.in_(blocked)).values(held=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')
        batch_op.create_index('ix_outbox_pending', ['sent_at', 'id'], unique=False)
        batch_op.drop_column('held')
