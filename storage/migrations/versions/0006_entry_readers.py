"""who may read a journal entry is part of it; texts held out of turn are journal rows

Each entry gets a name for the engine (`entry`), a held mark, and its readers (`entry_readers`).
Existing entries were shown to both partners, except what the couple's state shows was never
passed on: texts held out of turn (now held rows, out of the state), crisis texts waiting for
their writer's choice, a private answer its partner had not answered yet, a draft not sent,
questions saved for another day. Those are readable by their writer alone.

Revision ID: 0006
Revises: 0005
"""

import json

import sqlalchemy as sa
from alembic import op

from storage.secret import SecretText

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entry", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("held", sa.String(length=8), nullable=True))
        batch_op.create_index("ix_entries_entry", ["couple_id", "entry"], unique=False)
    op.create_table(
        "entry_readers",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "user_id"),
    )
    op.create_index(op.f("ix_entry_readers_user_id"), "entry_readers", ["user_id"], unique=False)
    _move_rows()


def _move_rows() -> None:
    bind = op.get_bind()
    couples = sa.table(
        "couples", sa.column("id"), sa.column("member_a"), sa.column("member_b"), sa.column("state", SecretText())
    )
    entries = sa.table(
        "entries",
        sa.column("id"),
        sa.column("couple_id"),
        sa.column("author_id"),
        sa.column("text", SecretText()),
        sa.column("entry"),
        sa.column("held"),
    )
    readers = sa.table("entry_readers", sa.column("entry_id"), sa.column("user_id"))
    for couple in bind.execute(sa.select(couples)).all():
        state = json.loads(couple.state)
        rows = bind.execute(sa.select(entries).where(entries.c.couple_id == couple.id).order_by(entries.c.id)).all()
        claimed: dict[int, str | None] = {}  # entry id -> held mark, for entries never passed on

        def claim(author_id, text, held=None, rows=rows, claimed=claimed) -> str:
            """The newest unclaimed entry with this writer and text: its name, or "" if none."""
            for row in reversed(rows):
                if row.id not in claimed and row.author_id == author_id and row.text == text:
                    claimed[row.id] = held
                    return f"m{row.id}"
            return ""

        writers = []
        for held in state.get("held") or []:
            if isinstance(held, dict):
                claim(held["author_id"], held["text"], "turn")
                writers.append(held["author_id"])
            else:
                writers.append(held)
        state["held"] = list(dict.fromkeys(writers))
        for unsent in state.get("unsent") or []:
            unsent["entry"] = claim(unsent["author_id"], unsent["text"])
        run = state.get("run")
        if run:
            answers = run.get("answers") or []
            if len(answers) == 1:  # the partner has not answered yet: not revealed
                answers[0]["entry"] = claim(answers[0]["author_id"], answers[0]["text"])
            if run.get("text") and "draft" in _kinds(run):
                run["entry"] = claim(run["starter_id"], run["text"])
        state["saved_entries"] = [claim_any(rows, claimed, question) for question in state.get("saved_questions") or []]
        for row in rows:
            private = row.id in claimed
            bind.execute(
                entries.update().where(entries.c.id == row.id).values(entry=f"m{row.id}", held=claimed.get(row.id))
            )
            ids = {row.author_id} if private else {row.author_id, couple.member_a, couple.member_b}
            ids.discard(0)  # an erased partner
            if ids:
                bind.execute(readers.insert(), [{"entry_id": row.id, "user_id": i} for i in sorted(ids)])
        bind.execute(couples.update().where(couples.c.id == couple.id).values(state=json.dumps(state)))


def claim_any(rows, claimed: dict, text: str) -> str:
    for row in reversed(rows):
        if row.id not in claimed and row.text == text:
            claimed[row.id] = None
            return f"m{row.id}"
    return ""


def _kinds(run: dict) -> set[str]:
    """Whether the run stands at a draft ("write" step) not sent yet, as the tables said then."""
    try:
        from dialogues.exercises import EXERCISES

        return {"draft"} if EXERCISES[run["name"]].steps[run["step"]].kind == "write" else set()
    except (ImportError, KeyError, AttributeError):
        return set()


def downgrade() -> None:
    op.drop_index(op.f("ix_entry_readers_user_id"), table_name="entry_readers")
    op.drop_table("entry_readers")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_entry")
        batch_op.drop_column("held")
        batch_op.drop_column("entry")
