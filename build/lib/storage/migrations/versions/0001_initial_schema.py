"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 11:55:58.039129
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.secret

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cares",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("couple_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("therapist_id", sa.BigInteger(), nullable=True),
        sa.Column("name", storage.secret.SecretText(), nullable=True),
        sa.Column("practice", storage.secret.SecretText(), nullable=True),
        sa.Column("register_number", storage.secret.SecretText(), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("allowed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("history_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("history", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("cares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cares_couple_id"), ["couple_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cares_therapist_id"), ["therapist_id"], unique=False)

    op.create_table(
        "couples",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("member_a", sa.BigInteger(), nullable=False),
        sa.Column("member_b", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", storage.secret.SecretText(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("couple_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("exercise", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("text", storage.secret.SecretText(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entries_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_entries_couple_id"), ["couple_id"], unique=False)

    op.create_table(
        "inbox",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", storage.secret.SecretText(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("update_id"),
    )
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_pending", ["processed_at", "update_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_inbox_user_id"), ["user_id"], unique=False)

    op.create_table(
        "invites",
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("inviter_id", sa.BigInteger(), nullable=False),
        sa.Column("inviter_role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token"),
    )
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invites_inviter_id"), ["inviter_id"], unique=False)

    op.create_table(
        "meta",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("payload", storage.secret.SecretText(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_chat_id"), ["chat_id"], unique=False)
        batch_op.create_index("ix_outbox_pending", ["sent_at", "id"], unique=False)

    op.create_table(
        "people",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("phase", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("couple_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("invite_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("menu", sa.Integer(), nullable=False),
        sa.Column("asking", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("time_zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("screened", sa.Integer(), nullable=False),
        sa.Column("checkin_at", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("awaiting", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("nudged_on", sa.Date(), nullable=True),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_people_couple_id"), ["couple_id"], unique=False)

    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "kind", "key"),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedules_due_at"), ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedules_due_at"))

    op.drop_table("schedules")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_couple_id"))

    op.drop_table("people")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")
        batch_op.drop_index(batch_op.f("ix_outbox_chat_id"))

    op.drop_table("outbox")
    op.drop_table("meta")
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invites_inviter_id"))

    op.drop_table("invites")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_user_id"))
        batch_op.drop_index("ix_inbox_pending")

    op.drop_table("inbox")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entries_couple_id"))
        batch_op.drop_index(batch_op.f("ix_entries_author_id"))

    op.drop_table("entries")
    op.drop_table("couples")
    with op.batch_alter_table("cares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cares_therapist_id"))
        batch_op.drop_index(batch_op.f("ix_cares_couple_id"))

    op.drop_table("cares")
