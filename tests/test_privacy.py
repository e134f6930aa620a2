"""Data rights and encryption at rest, through the emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, select

from storage import privacy, secret
from storage.db import make_engine, migrate
from tests.conftest import KEY
from tests.test_pairing import WORDS, pair

EN = WORDS["en"]
SECRET = "The hotel was the Bellevue, room 312"


async def linked_with_history(herstel, language="en"):
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    await pair(herstel, anna, ben, WORDS[language])
    await anna.send(SECRET)
    await ben.send("Thank you for telling me where")
    await herstel.settle()
    return anna, ben


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_export_sends_everything_written_and_shared_as_json_and_text(herstel, language):
    anna, ben = await linked_with_history(herstel, language)
    await anna.send("/export")
    await herstel.settle()
    files = {r.filename: r.document for r in anna.inbox if r.document}
    data = json.loads(files["herstel-export.json"])
    assert [e["text"] for e in data["written"]] == [SECRET]
    assert [e["text"] for e in data["shared_with_me"]] == ["Thank you for telling me where"]
    assert data["settings"]["country"] == ("uk" if language == "en" else "nl")
    readable = files["herstel-export.txt"].decode()
    assert SECRET in readable and ("What you wrote" if language == "en" else "Wat je schreef") in readable
    assert not any("export" in t.lower() for t in ben.texts())  # nothing of this reaches the partner


def every_value(database_url: str) -> str:
    """Every column of every row, decrypted where encrypted, as one text to search."""
    engine = make_engine(database_url)
    found = []
    with Session(engine) as session:
        for model in SQLModel.__subclasses__():
            if getattr(model, "__tablename__", None):
                found += [json.dumps(row.model_dump(), default=str) for row in session.exec(select(model))]
    engine.dispose()
    return "\n".join(found)


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_delete_erases_every_row_about_the_person_and_dissolves_the_couple(herstel, language):
    anna, ben = await linked_with_history(herstel, language)
    await anna.send("/menu")
    await herstel.settle()
    await anna.press("Naming what happened" if language == "en" else "Zeggen wat ik heb gedaan")
    await anna.send("A draft about the hotel")
    await anna.send("/delete")
    await herstel.settle()
    await anna.press("Erase everything" if language == "en" else "Alles wissen")
    await herstel.settle()
    told = ben.last.text
    assert ("The link in Herstel has ended" if language == "en" else "De koppeling in Herstel is gestopt") in told
    assert "Anna" not in told
    stored = every_value(herstel.database_url)
    assert str(anna.id) not in stored
    for written in (SECRET, "A draft about the hotel"):
        assert written not in stored
    assert "Thank you for telling me where" in stored  # what Ben wrote stays Ben's
    await ben.send("Are you there?")
    await herstel.settle()
    assert not any("Are you there?" in t for t in anna.texts())


async def test_what_people_write_is_unreadable_in_the_database_files(herstel, tmp_path):
    anna, ben = await linked_with_history(herstel)
    await herstel.bot.stop()
    url = make_url(herstel.database_url)
    if url.get_backend_name() == "sqlite":
        raw = b"".join(p.read_bytes() for p in Path(url.database).parent.glob("herstel.db*"))
    else:
        if not shutil.which("pg_dump"):
            pytest.fail("pg_dump is needed to check PostgreSQL at rest: apt-get install postgresql-client")
        schema = url.query["options"].split("=", 1)[1]
        raw = subprocess.run(
            ["pg_dump", "-h", url.host, "-p", str(url.port or 5432), "-U", url.username, "-n", schema, url.database],
            capture_output=True,
            check=True,
        ).stdout
    assert len(raw) > 1000
    assert SECRET.encode() not in raw and b"Bellevue" not in raw
    await herstel.restart()


def test_rotating_keys_re_encrypts_everything_under_the_new_key(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    from datetime import datetime

    from storage import repo

    repo.store_updates(engine, [{"update_id": 1, "message": {"text": SECRET}}], datetime.now(UTC))
    new = secret.new_key()
    try:
        secret.configure([new, KEY])  # the new key encrypts, the old still decrypts
        assert privacy.rotate_keys(engine) == 1
        secret.configure([new])  # the old key is gone
        with engine.connect() as connection:
            token = connection.execute(text("SELECT payload FROM inbox")).scalar_one()
        assert SECRET in secret.decrypt(token)
    finally:
        secret.configure([KEY])
        engine.dispose()
