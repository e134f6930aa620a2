"""Migration 0006 moves what is there: entries get their readers, held texts become held rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text
from sqlmodel import Session

from dialogues.model import Couple
from storage import codec, privacy, repo, secret
from storage.db import alembic_config, make_engine, migrate

NOW = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
ANNA, BEN = 1, 2


def test_existing_entries_keep_what_was_shown_and_what_never_was_stays_its_writers(database_url):
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0002")
    state = {  # as 0002's Couple wrote it: held texts in the state
        "id": "c1",
        "member_ids": [ANNA, BEN],
        "started_at": NOW.isoformat(),
        "run": {"name": "room", "step": "vent", "starter_id": ANNA, "answers": []},
        "held": [{"author_id": BEN, "text": "Can I explain?"}],
        "unsent": [{"author_id": BEN, "text": "I want to die"}],
    }
    written = [(ANNA, "I found the messages."), (BEN, "Can I explain?"), (BEN, "I want to die")]
    with engine.begin() as connection:
        for user_id, name in ((ANNA, "Anna"), (BEN, "Ben")):
            connection.execute(
                text(
                    "INSERT INTO people (user_id, first_name, language, phase, couple_id, menu, time_zone, screened,"
                    " checkin_at, reachable, created_at) VALUES (:id, :name, 'en', 'linked', 'c1', 0,"
                    " 'Europe/Amsterdam', 0, '20:00', true, :now)"
                ),
                {"id": user_id, "name": name, "now": NOW},
            )
        connection.execute(
            text("INSERT INTO couples (id, member_a, member_b, started_at, state) VALUES ('c1', 1, 2, :now, :state)"),
            {"now": NOW, "state": secret.encrypt(json.dumps(state))},
        )
        for user_id, words in written:
            connection.execute(
                text(
                    "INSERT INTO entries (couple_id, author_id, exercise, text, created_at)"
                    " VALUES ('c1', :id, 'room', :text, :now)"
                ),
                {"id": user_id, "text": secret.encrypt(words), "now": NOW},
            )
    migrate(engine)
    with Session(engine) as session:
        anna = [e["text"] for e in privacy.export(session, ANNA)["shared_with_me"]]
        ben = privacy.export(session, BEN)
        assert anna == []  # Ben's held text and his kept crisis text never reached her
        assert [e["text"] for e in ben["shared_with_me"]] == ["I found the messages."]
        assert [(e["text"], e["held"]) for e in ben["written"]] == [("Can I explain?", "turn"), ("I want to die", None)]
        couple = codec.loads(Couple, session.get(repo.CoupleRow, "c1").state)
        assert couple.held == (BEN,)  # the state keeps who has held texts, not the texts
        assert couple.unsent[0].entry  # the crisis text can still be passed on, by its entry's name
    engine.dispose()
