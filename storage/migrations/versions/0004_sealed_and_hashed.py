"""privacy: who damaged the trust, the screening outcome and live links are no longer readable in a dump

`people.phase` (it can say "not_safe"), `people.role`, `people.asking` (it can say "rescreen"),
`people.invite_token` and `invites.inviter_role` become encrypted text. Link tokens in `invites.token`
and `cares.token` become keyed hashes (storage.secret.link_hash); a care keeps its token encrypted in
`cares.link` to show the link again. `people.active_on` is the last day a person came: retention counts
from it (existing people count from the day of this migration). Existing rows are moved, so the
encryption keys must be configured when there are any (the bot and `herstel rotate-keys` do that).

Revision ID: 0004
Revises: 0003
"""

from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from storage import secret

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
PEOPLE_SEALED = ("phase", "role", "asking", "invite_token")
LENGTHS = {"phase": 32, "role": 16, "asking": 32, "invite_token": 64}  # as they were in 0001


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        for name in PEOPLE_SEALED:
            batch_op.alter_column(name, type_=sa.Text(), existing_nullable=name != "phase")
        batch_op.add_column(sa.Column("active_on", sa.Date(), nullable=True))
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.alter_column("inviter_role", type_=sa.Text(), existing_nullable=False)
    with op.batch_alter_table("cares", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link", sa.Text(), nullable=True))

    db = op.get_bind()
    today = datetime.now(UTC).date()
    for row in db.execute(sa.text("SELECT user_id, phase, role, asking, invite_token FROM people")).all():
        sealed = {name: _seal(getattr(row, name)) for name in PEOPLE_SEALED}
        db.execute(
            sa.text(
                "UPDATE people SET phase = :phase, role = :role, asking = :asking, invite_token = :invite_token, "
                "active_on = :today WHERE user_id = :user_id"
            ),
            {**sealed, "today": today, "user_id": row.user_id},
        )
    for row in db.execute(sa.text("SELECT token, inviter_role FROM invites")).all():
        db.execute(
            sa.text("UPDATE invites SET token = :hashed, inviter_role = :role WHERE token = :token"),
            {"hashed": secret.link_hash(row.token), "role": secret.encrypt(row.inviter_role), "token": row.token},
        )
    for row in db.execute(sa.text("SELECT id, token FROM cares")).all():
        db.execute(
            sa.text("UPDATE cares SET token = :hashed, link = :link WHERE id = :id"),
            {"hashed": secret.link_hash(row.token), "link": secret.encrypt(row.token), "id": row.id},
        )

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.alter_column("active_on", existing_type=sa.Date(), nullable=False)
    with op.batch_alter_table("cares", schema=None) as batch_op:
        batch_op.alter_column("link", existing_type=sa.Text(), nullable=False)


def _seal(value: str | None) -> str | None:
    return None if value is None else secret.encrypt(value)


def downgrade() -> None:
    """Back to plaintext. An invite's token comes back from the people who hold it; one nobody holds
    any more (a used or abandoned link) is dropped."""
    db = op.get_bind()
    for row in db.execute(sa.text("SELECT user_id, phase, role, asking, invite_token FROM people")).all():
        opened = {
            name: None if getattr(row, name) is None else secret.decrypt(getattr(row, name)) for name in PEOPLE_SEALED
        }
        db.execute(
            sa.text(
                "UPDATE people SET phase = :phase, role = :role, asking = :asking, invite_token = :invite_token "
                "WHERE user_id = :user_id"
            ),
            {**opened, "user_id": row.user_id},
        )
        token = opened["invite_token"]
        if token:
            db.execute(
                sa.text("UPDATE invites SET token = :token WHERE token = :hashed"),
                {"token": token, "hashed": secret.link_hash(token)},
            )
    db.execute(sa.text("DELETE FROM invites WHERE length(token) = 64"))  # still hashed: nobody holds it
    for row in db.execute(sa.text("SELECT token, inviter_role FROM invites")).all():
        db.execute(
            sa.text("UPDATE invites SET inviter_role = :role WHERE token = :token"),
            {"role": secret.decrypt(row.inviter_role), "token": row.token},
        )
    for row in db.execute(sa.text("SELECT id, link FROM cares")).all():
        db.execute(
            sa.text("UPDATE cares SET token = :token WHERE id = :id"), {"token": secret.decrypt(row.link), "id": row.id}
        )
    with op.batch_alter_table("cares", schema=None) as batch_op:
        batch_op.drop_column("link")
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.alter_column(
            "inviter_role", type_=sqlmodel.sql.sqltypes.AutoString(length=16), existing_nullable=False
        )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("active_on")
        for name in PEOPLE_SEALED:
            batch_op.alter_column(
                name, type_=sqlmodel.sql.sqltypes.AutoString(length=LENGTHS[name]), existing_nullable=name != "phase"
            )
