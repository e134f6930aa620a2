"""Database engines and migrations, for SQLite (the default) and PostgreSQL."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0007"  # the newest revision in migrations/versions (tests/test_storage.py checks it)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_file(Path(parsed.database))
        engine = create_engine(url, hide_parameters=True, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    # hide_parameters keeps values (names, ciphertext) out of error messages and logs.
    return create_engine(parsed, hide_parameters=True, pool_pre_ping=True)


def _private_file(database: Path) -> None:
    """The folder we make for the database is the owner's alone (0700), the database file too (0600);
    SQLite gives its -wal and -shm files the database's mode."""
    if not database.parent.exists():
        database.parent.mkdir(mode=0o700, parents=True)
    os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(database, 0o600)


def checkpoint(engine: Engine) -> None:
    """After an erasure: SQLite moves the write-ahead log into the database (where secure_delete has
    overwritten what was deleted) and empties it, so no erased row lingers in the -wal file."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten with zeros, not left in free pages
    cursor.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(engine: Engine):
    from alembic.config import Config  # imported when needed: alembic and mako stay out of a running bot's memory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema; run at every start. A database that is there already
    is left alone without loading Alembic, which would stay in the bot's memory (about 15 MB)."""
    if current_revision(engine) == HEAD:
        return
    from alembic import command

    with _one_at_a_time(engine):
        if current_revision(engine) != HEAD:  # another process may have done it while this one waited
            command.upgrade(alembic_config(engine), "head")


MIGRATION_LOCK = 48_657_370  # our key for PostgreSQL's advisory lock around a migration


@contextmanager
def _one_at_a_time(engine: Engine):
    """Processes starting together on one PostgreSQL migrate one after the other; unguarded, their
    migrations wait on each other's tables and can hang for ever. (SQLite serves one process.)"""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()  # the lock belongs to the connection: it outlives this transaction
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            connection.commit()


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at; None for a database never migrated."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):  # no such table yet
        return None
