"""people: a minute's count of messages, for the kind flood notice (dialogues/flood.py)

Existing people start uncounted: no window, no messages.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flood_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("flood_count", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("flood_count")
        batch_op.drop_column("flood_since")
