"""who opened a link: the joiner an inviter confirms, and the therapist's Telegram account

An invite remembers who pressed "join" and waits for the inviter's yes (their id, and their
Telegram name and username as the inviter is shown them); a care remembers the Telegram account
that opened the therapist link, shown to the partners. Names are encrypted (SecretText). Existing
rows get nothing: no one is waiting on a confirmation that did not exist before.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from storage.secret import SecretText

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("joiner_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("joiner_name", SecretText(), nullable=True))
        batch_op.add_column(sa.Column("joiner_username", SecretText(), nullable=True))
    with op.batch_alter_table("cares", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_name", SecretText(), nullable=True))
        batch_op.add_column(sa.Column("account_username", SecretText(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cares", schema=None) as batch_op:
        batch_op.drop_column("account_username")
        batch_op.drop_column("account_name")
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.drop_column("joiner_username")
        batch_op.drop_column("joiner_name")
        batch_op.drop_column("joiner_id")
