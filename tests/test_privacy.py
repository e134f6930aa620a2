"""Data rights and encryption at rest, through the emulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, select

from dialogues.model import Couple
from storage import codec, privacy, secret
from storage.db import make_engine, migrate
from tests.conftest import KEY
from tests.test_daily import at, settle_in
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
    """Every value of every row as one text to search: as stored, and decrypted wherever it is ciphertext
    (encrypted columns, the couples' state blobs), whatever the models say."""
    engine = make_engine(database_url)
    found = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(text(f"SELECT * FROM {table.name}")):
                found += [_plain(value) for value in row]
    engine.dispose()
    return "\n".join(found)


def _plain(value) -> str:
    if isinstance(value, str):
        try:
            return secret.decrypt(value)
        except ValueError:
            return value
    return str(value)


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


async def test_delete_leaves_no_id_name_check_in_or_unshared_text_in_any_table_or_state(herstel):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, EN)
    await settle_in(herstel, anna, city="Amsterdam")
    await settle_in(herstel, ben, city="Brussel")
    await at(herstel, datetime(2026, 3, 3, 19, 0, tzinfo=UTC))  # 20:00: both are asked how they are
    await anna.press("4 · fairly good")
    await herstel.settle()
    await anna.send("Hollowed")  # her word: private until Ben answers, which he never does
    await herstel.settle()
    assert "Your answer is kept until Ben has answered too" in anna.last.text
    ben.block()  # what is sent to Ben now waits in the outbox, with her name in it
    await anna.send("Written while Ben was away")
    await herstel.settle()
    await anna.send("/delete")
    await herstel.settle()
    await anna.press("Erase everything")
    await herstel.settle()
    stored = every_value(herstel.database_url)
    assert str(anna.id) not in stored
    assert "Anna" not in stored
    assert "Hollowed" not in stored
    assert "Written while Ben was away" not in stored
    assert str(ben.id) in stored  # the scan sees what is there: Ben's own rows stay


def test_delete_drops_calls_to_the_couples_therapist_that_may_quote_the_erased_partner(database_url):
    from storage import repo
    from storage.models import CareRow, CoupleRow, OutboxRow, PersonRow

    engine = make_engine(database_url)
    migrate(engine)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    couple = Couple(id="c1", member_ids=(1, 2), started_at=now)
    with Session(engine) as session:
        for user_id, name in ((1, "Anna"), (2, "Ben"), (3, "Dr Vos")):
            session.add(PersonRow(user_id=user_id, first_name=name, language="en", phase="linked", created_at=now))
        session.add(CoupleRow(id="c1", member_a=1, member_b=2, started_at=now, state=codec.dumps(couple)))
        session.add(
            CareRow(
                id="k1",
                token="t",
                link="t",
                couple_id="c1",
                requested_by=1,
                created_at=now,
                status="active",
                therapist_id=3,
            )
        )
        session.commit()
        repo.queue(session, [repo.Call(3, "sendMessage", {"chat_id": 3, "text": "Anna wrote: the hotel"})], now)
        session.commit()
        privacy.erase(session, 1)
        session.commit()
        assert session.exec(select(OutboxRow)).all() == []
    engine.dispose()


def test_the_playground_writes_its_key_to_a_dot_env_only_its_owner_can_read(tmp_path, monkeypatch):
    from bot.main import _with_local_key
    from bot.settings import Settings

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HERSTEL_LOG_LEVEL=INFO\n")
    (tmp_path / ".env").chmod(0o644)
    settings = _with_local_key(Settings(_env_file=None))
    assert settings.keys and settings.keys[0] in (tmp_path / ".env").read_text()
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600


async def test_the_sqlite_files_are_the_owners_alone_and_an_erasure_leaves_nothing_in_the_wal(tmp_path, private_logs):
    from tests.conftest import running

    url = f"sqlite:///{tmp_path / 'data' / 'herstel.db'}"
    async with running(url, private_logs, lambda emulator: {}) as herstel:
        anna, ben = herstel.person("Annabellezq"), herstel.person("Ben")
        await pair(herstel, anna, ben, EN)
        await anna.send(SECRET)
        await herstel.settle()
        folder = tmp_path / "data"
        files = sorted(p.name for p in folder.iterdir())
        assert files == ["herstel.db", "herstel.db-shm", "herstel.db-wal"]
        assert folder.stat().st_mode & 0o777 == 0o700
        assert all((folder / name).stat().st_mode & 0o777 == 0o600 for name in files)
        assert b"Annabellezq" in (folder / "herstel.db-wal").read_bytes()  # her name, as the WAL holds it now
        await anna.send("/delete")
        await herstel.settle()
        await anna.press("Erase everything")
        await herstel.settle()
        raw = b"".join((folder / name).read_bytes() for name in files)
        assert b"Annabellezq" not in raw
        with herstel.bot.engine.connect() as connection:  # deleted rows are overwritten, not left in free pages
            assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_a_wrong_key_stops_herstel_with_one_line_before_it_asks_telegram_for_anything(tmp_path):
    import os
    import sys

    engine = make_engine(f"sqlite:///{tmp_path / 'herstel.db'}")
    migrate(engine)
    privacy.check_keys(engine)  # the first start leaves the canary, under KEY
    engine.dispose()
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": "123456789:TESTtokenTESTtokenTESTtokenTESTtoken",
        "HERSTEL_BOT_API_URL": "http://127.0.0.1:9",  # nothing listens: the check must come first
        "HERSTEL_DATABASE_URL": f"sqlite:///{tmp_path / 'herstel.db'}",
        "HERSTEL_ENCRYPTION_KEYS": secret.new_key(),  # valid, but not the key the data was written with
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot.main", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "HERSTEL_ENCRYPTION_KEYS cannot decrypt what the database holds: start with the key it was written with "
        "(first or among the others); nothing was taken in."
    ]


def test_the_key_check_uses_the_newest_stored_text_in_a_database_from_before_the_canary(database_url):
    from storage import repo

    engine = make_engine(database_url)
    migrate(engine)
    repo.store_updates(engine, [{"update_id": 1, "message": {"text": SECRET}}], datetime.now(UTC))
    try:
        secret.configure([secret.new_key()])
        with pytest.raises(secret.KeysDoNotFit):
            privacy.check_keys(engine)
        secret.configure([secret.new_key(), KEY])  # a new first key, the old one still there: fits
        privacy.check_keys(engine)
    finally:
        secret.configure([KEY])
        engine.dispose()


@pytest.fixture
def keys_restored():
    """For a test that changes the keys of a running Herstel: KEY again after the bot has stopped."""
    yield
    secret.configure([KEY])


def leftover_ciphertext(database_url: str) -> list[str]:
    """Stored values that look like Fernet tokens but that the configured keys do not decrypt."""
    engine = make_engine(database_url)
    left = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(text(f"SELECT * FROM {table.name}")):
                left += [
                    f"{table.name}: {v[:12]}" for v in row if isinstance(v, str) and _plain(v) == v and v[:5] == "gAAAA"
                ]
    engine.dispose()
    return left


async def test_an_update_that_meets_a_key_this_process_lacks_waits_and_is_handled_once_the_key_is_there(
    keys_restored, herstel, private_logs
):
    import asyncio

    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, EN)
    new = secret.new_key()
    engine = make_engine(herstel.database_url)
    secret.configure([new, KEY])  # another process rotated everything to a new key ...
    privacy.rotate_keys(engine)
    secret.configure([KEY])  # ... that this one does not have yet
    await anna.send("Are you still there, Ben?")
    await herstel.emulator.wait_until_confirmed()
    for _ in range(100):  # its first try fails
        if "cannot be decrypted" in private_logs.text or "failed (attempt" in private_logs.text:
            break
        await asyncio.sleep(0.05)
    with engine.connect() as connection:
        attempts, done = connection.execute(
            text("SELECT attempts, processed_at FROM inbox ORDER BY update_id DESC")
        ).first()
    engine.dispose()
    assert (attempts, done) == (0, None)  # not counted against the update, not set aside
    secret.configure([new, KEY])  # the key arrives (a restart with it, here in the same process)
    await herstel.settle()
    assert "Are you still there, Ben?" in ben.last.text


async def test_keys_roll_across_processes_as_the_readme_says(keys_restored, herstel):
    """README, "Changing the encryption key": the new key second everywhere, restart; then first, restart;
    `herstel rotate-keys`; the old key out, restart. Each restart here is a process coming up with those keys."""
    from pydantic import SecretStr

    from tests.test_pairing import pass_screen

    anna, ben, dora, eve = (herstel.person(n) for n in ("Anna", "Ben", "Dora", "Eve"))
    await pair(herstel, anna, ben, EN)
    await dora.send("/start")
    await herstel.settle()
    await pass_screen(herstel, dora, EN)
    await dora.press(EN["damaged"])
    await herstel.settle()
    dora_link = next(w for w in dora.last.text.split() if w.startswith("https://t.me/"))  # hashed under KEY
    new = secret.new_key()

    async def restart_with(*keys):
        herstel.bot.settings = herstel.bot.settings.model_copy(update={"encryption_keys": SecretStr(",".join(keys))})
        await herstel.restart()

    await restart_with(KEY, new)  # 1. the new key second, everywhere
    await anna.send("Written in step one")
    await herstel.settle()
    await restart_with(new, KEY)  # 2. then first: new texts are written under it
    await anna.send("Written in step two")
    await herstel.settle()
    secret.configure([KEY, new])  # a process not yet restarted in step 2 reads what step 2 wrote
    await ben.send("Read by a process still in step one")
    await herstel.settle()
    secret.configure([new, KEY])
    engine = make_engine(herstel.database_url)
    privacy.rotate_keys(engine)  # 3. `herstel rotate-keys`
    engine.dispose()
    await restart_with(new)  # 4. the old key out
    await ben.send("Written with the new key alone")
    await herstel.settle()
    for written in ("Written in step one", "Written in step two"):
        assert any(written in t for t in ben.texts())
    assert "Read by a process still in step one" in anna.texts()[-2] + anna.last.text
    assert "Written with the new key alone" in anna.last.text
    assert leftover_ciphertext(herstel.database_url) == []  # everything decrypts under the new key alone
    await eve.open_link(dora_link)  # a link made under the old key still opens
    await herstel.settle()
    await pass_screen(herstel, eve, EN)
    assert EN["role_of_joiner"] in eve.last.text
    secret.configure([KEY])
    engine = make_engine(herstel.database_url)
    with pytest.raises(secret.KeysDoNotFit):  # and the old key alone no longer fits
        privacy.check_keys(engine)
    engine.dispose()
    secret.configure([new])


def raw_values(database_url: str) -> list[str]:
    """Every value of every row exactly as a dump of the database without the keys shows it, with where."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        values = [
            f"{t.name}.{c}: {v}"
            for t in SQLModel.metadata.sorted_tables
            for row in connection.execute(text(f"SELECT * FROM {t.name}")).mappings()
            for c, v in row.items()
        ]
    engine.dispose()
    return values


async def test_a_dump_without_the_key_shows_no_role_no_screening_outcome_and_no_usable_link(herstel):
    from tests.test_exercises import act
    from tests.test_pairing import pass_screen

    anna, ben, carla, dora = (herstel.person(n) for n in ("Anna", "Ben", "Carla", "Dora"))
    await pair(herstel, anna, ben, EN)  # Anna damaged the trust, Ben was hurt
    await act(herstel, (anna, "write", "/therapist"))  # a live therapist link
    therapist_link = next(w for r in anna.inbox for w in r.text.split() if "?start=th_" in w)
    await act(herstel, (carla, "write", "/start"), (carla, "press", EN["country"]), (carla, "press", "Yes"))
    assert "not the safe step" in carla.texts()[-2] + carla.last.text
    await act(herstel, (dora, "write", "/start"))
    await pass_screen(herstel, dora, EN)
    await act(herstel, (dora, "press", EN["damaged"]))  # a live invite link
    invite_link = next(w for w in dora.last.text.split() if w.startswith("https://t.me/"))
    values = raw_values(herstel.database_url)
    for fact in ("damaged", "hurt", "not_safe", "rescreen", "screening", "inviting", "linked"):
        assert not [v for v in values if v.endswith(f": {fact}")]
    dump = "\n".join(values)
    for link in (therapist_link, invite_link):
        token = link.split("start=", 1)[1]
        assert token not in dump and token.removeprefix("th_") not in dump
    everything = every_value(herstel.database_url)  # with the key it is all there
    assert "not_safe" in everything and "damaged" in everything
    await ben.open_link(invite_link)  # and the hashed link still works (here: Ben is linked already)
    await herstel.settle()


def test_migration_0004_seals_roles_and_screening_and_hashes_links_of_rows_already_there(database_url):
    from alembic import command

    from storage import repo
    from storage.db import alembic_config

    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0002")
    then = "2026-01-05 10:00:00"
    with engine.begin() as db:
        for user_id, phase, role, token in ((1, "inviting", "damaged", "inv-token"), (2, "not_safe", None, None)):
            db.execute(
                text(
                    "INSERT INTO people (user_id, first_name, language, phase, role, invite_token, menu, asking, "
                    "time_zone, screened, checkin_at, reachable, created_at) VALUES (:id, 'P', 'en', :phase, :role, "
                    ":token, 0, :asking, 'Europe/Amsterdam', 0, '20:00', true, :then)"
                ),
                {"id": user_id, "phase": phase, "role": role, "token": token, "asking": None, "then": then},
            )
        db.execute(
            text(
                "INSERT INTO invites (token, inviter_id, inviter_role, created_at) VALUES ('inv-token', 1, 'damaged', :t)"
            ),
            {"t": then},
        )
        db.execute(
            text(
                "INSERT INTO cares (id, token, couple_id, requested_by, created_at, status, allowed_by, history_by) "
                "VALUES ('k1', 'care-token', 'c1', 1, :t, 'requested', '[]', '[]')"
            ),
            {"t": then},
        )
    migrate(engine)
    values = raw_values(database_url)
    for plain in ("inviting", "damaged", "not_safe", "inv-token", "care-token"):
        assert not [v for v in values if v.endswith(f": {plain}")], plain
    with Session(engine) as session:
        world = repo.load_world(session, 3, "inv-token")  # someone opens the link: it is found by its hash
        assert world.invite.inviter_id == 1 and world.invite.inviter_role.value == "damaged"
        assert world.partner.phase.value == "inviting" and world.partner.invite_token == "inv-token"
        assert repo.load_world(session, 2, None).me.phase.value == "not_safe"
        therapist = repo.load_world(session, 4, "th_care-token")
        assert therapist.care.id == "k1" and therapist.care.token == "care-token"
    engine.dispose()
