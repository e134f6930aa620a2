"""The schema: migrations reach head on both backends and agree with the models."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import Session, SQLModel

from storage import repo, secret
from storage.db import HEAD, alembic_config, current_revision, make_engine, migrate

NOW = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)


def test_an_empty_database_migrates_to_head(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # a second start finds nothing to do
    tables = set(inspect(engine).get_table_names())
    assert {"people", "couples", "invites", "inbox", "outbox", "meta", "alembic_version"} <= tables
    assert current_revision(engine) == HEAD
    engine.dispose()


def test_the_head_a_start_compares_with_is_the_newest_migration(database_url):
    # migrate() skips Alembic when the database is at HEAD, so HEAD must move with every new revision.
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() == HEAD
    engine.dispose()


def test_the_models_and_the_migrations_agree(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_an_update_stored_twice_is_kept_once(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    update = {"update_id": 7, "message": {"text": "hello"}}
    repo.store_updates(engine, [update], NOW)
    repo.store_updates(engine, [update, {"update_id": 8}], NOW)
    with Session(engine) as session:
        assert [u["update_id"] for u in repo.pending_updates(session)] == [7, 8]
        assert repo.polling_offset(session) == 9
    engine.dispose()


def test_what_people_write_is_encrypted_at_rest(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    repo.store_updates(engine, [{"update_id": 1, "message": {"text": "a secret sentence"}}], NOW)
    with engine.connect() as connection:
        raw = connection.execute(text("SELECT payload FROM inbox")).scalar_one()
    assert "secret sentence" not in raw
    with Session(engine) as session:
        assert repo.pending_updates(session)[0]["message"]["text"] == "a secret sentence"
    engine.dispose()


def test_saving_a_world_writes_only_what_changed(database_url):
    from dataclasses import replace

    from sqlalchemy import event

    from dialogues.model import Couple, Person, Phase, Role, World

    engine = make_engine(database_url)
    migrate(engine)
    couple = Couple(id="c1", member_ids=(1, 2), started_at=NOW)
    anna = Person(1, "Anna", "en", phase=Phase.LINKED, role=Role.HURT, couple_id="c1")
    ben = Person(2, "Ben", "en", phase=Phase.LINKED, role=Role.DAMAGED, couple_id="c1")
    with Session(engine) as session:  # new rows: inserted
        repo.save_world(session, World(me=anna, partner=ben, couple=couple), NOW)
        session.commit()

    writes: list[str] = []
    event.listen(
        engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: writes.append(sql.split()[0].upper())
    )

    def load_and_save(change) -> World:
        writes.clear()
        with Session(engine) as session:
            world = change(repo.load_world(session, 1, None))
            repo.save_world(session, world, NOW)
            session.commit()
        with Session(engine) as session:
            return repo.load_world(session, 1, None)

    unchanged = load_and_save(lambda world: world)
    assert "UPDATE" not in writes and "INSERT" not in writes
    assert unchanged.me == anna and unchanged.partner == ben and unchanged.couple == couple

    moved = load_and_save(lambda world: replace(world, me=replace(world.me, checkin_at="21:30")))
    assert writes.count("UPDATE") == 1 and "INSERT" not in writes
    assert moved.me.checkin_at == "21:30" and moved.partner == ben

    writes.clear()
    with Session(engine) as session:  # not loaded in this transaction, but there: updated, not doubled
        repo.save_world(session, World(me=replace(anna, checkin_at="19:00")), NOW)
        session.commit()
    with Session(engine) as session:
        assert repo.load_world(session, 1, None).me.checkin_at == "19:00"
        assert session.scalar(text("SELECT count(*) FROM people")) == 2

    with Session(engine) as session:  # what one transaction loaded says nothing about the next one
        loaded = repo.load_world(session, 1, None)
        session.commit()
        with Session(engine) as elsewhere:
            elsewhere.execute(text("UPDATE people SET checkin_at = '06:00' WHERE user_id = 1"))
            elsewhere.commit()
        repo.save_world(session, World(me=loaded.me), NOW)
        session.commit()
    with Session(engine) as session:
        assert repo.load_world(session, 1, None).me.checkin_at == "19:00"
    engine.dispose()


def test_calls_to_someone_who_blocked_the_bot_are_held_until_they_are_back(database_url):
    from alembic import command

    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0001")  # a database from before `held`
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO people (user_id, first_name, language, phase, menu, time_zone, screened, checkin_at, reachable, created_at)"
                " VALUES (1, 'Anna', 'en', 'linked', 0, 'Europe/Amsterdam', 4, '20:00', false, :now),"
                " (2, 'Ben', 'en', 'linked', 0, 'Europe/Amsterdam', 4, '20:00', true, :now)"
            ),
            {"now": NOW},
        )
        for chat, words, sent in ((1, "sent before", NOW), (1, "waiting for Anna", None), (2, "for Ben", None)):
            connection.execute(
                text(
                    "INSERT INTO outbox (chat_id, method, payload, created_at, sent_at, failed)"
                    " VALUES (:chat, 'sendMessage', :payload, :now, :sent, false)"
                ),
                {"chat": chat, "payload": secret.encrypt(f'{{"text": "{words}"}}'), "now": NOW, "sent": sent},
            )
    migrate(engine)

    def held() -> list[tuple[int, bool]]:
        with engine.connect() as connection:
            return [
                (chat, bool(flag))
                for chat, flag in connection.execute(text("SELECT chat_id, held FROM outbox ORDER BY id"))
            ]

    assert held() == [(1, True), (2, False)]  # the copy of a sent call is gone; what waits for Anna is held
    with Session(engine) as session:
        assert [q.call.chat_id for q in repo.due_calls(session)] == [2]
        assert repo.set_reachable(session, 2, False)  # Ben blocks the bot: his call waits too
        repo.queue(session, [repo.Call(2, "sendMessage", {"text": "later for Ben"})], NOW)
        session.commit()
    with Session(engine) as session:
        repo.load_world(session, 2, None)  # a unit of work that knows Ben is unreachable holds what it queues
        repo.queue(session, [repo.Call(2, "sendMessage", {"text": "even later"})], NOW)
        session.commit()
    assert held() == [(1, True), (2, True), (2, True), (2, True)]
    with Session(engine) as session:
        assert repo.due_calls(session) == []
        assert repo.set_reachable(session, 1, True)  # Anna is back
        session.commit()
        assert [q.call.params["text"] for q in repo.due_calls(session)] == ["waiting for Anna"]
    engine.dispose()


def test_two_processes_starting_at_once_migrate_the_database_once(database_url):
    import threading

    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serves one process")
    from sqlalchemy.engine import make_url

    url = make_url(database_url)  # a lock waited on longer than this fails the start, instead of hanging it
    url = url.update_query_dict({"options": f"{url.query['options']} -c lock_timeout=20s"}).render_as_string(
        hide_password=False
    )
    engines = [make_engine(url) for _ in range(3)]
    start, failures = threading.Barrier(len(engines)), []

    def start_up(engine) -> None:
        start.wait()
        try:
            migrate(engine)
        except Exception as error:  # what a second process would die of
            failures.append(type(error).__name__)

    starters = [threading.Thread(target=start_up, args=(engine,)) for engine in engines]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    assert failures == []
    assert current_revision(engines[0]) == HEAD
    for engine in engines:
        engine.dispose()
