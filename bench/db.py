"""Databases for the bench: a fresh SQLite file or PostgreSQL schema each, and a fast bulk generator.

The schema always comes from the project's own migrations. The couples the load drives are stored
through `storage.repo.save_world`, exactly as the bot stores them; the bulk rows (people, couples
with state, the journal, handled update ids, outbox rows) go in with executemany (SQLite) or COPY
(PostgreSQL). Texts are encrypted with `storage.secret`: every couple's state is its own ciphertext
(about 20 µs each); journal texts reuse a few ciphertexts made up front.
"""

from __future__ import annotations

import itertools
import json
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

import storage.models  # noqa: F401  (the tables, for their columns and defaults)
from bench.procs import process_cpu_seconds
from dialogues.model import Couple, World
from storage import codec, repo, secret
from storage.db import make_engine, migrate

BULK_PERSON = 8_000_000_000  # bulk people's ids: 2n and 2n+1 (the emulator's are 7_000_000_000 + n)
BULK_UPDATE = 5_000_000_000  # handled update ids, far above the emulator's
NAMES = ("Anna", "Ben", "Carla", "Daan", "Emma", "Finn", "Grace", "Hugo", "Iris", "Jens", "Kim", "Lars")
JOURNAL = (
    "I had an affair with a colleague for six months. It was my choice.",
    "I stopped trusting my own judgement.",
    "What I hear you saying is that you doubt yourself now.",
    "Ik schaam me voor wat ik je heb aangedaan.",
    "Can we talk about the weekend?",
    "Wat ik je hoor zeggen is dat je je schaamt.",
    "I keep thinking about what you wrote, and I am grateful you wrote it.",
    "Thank you for listening tonight.",
)
EXERCISES = (None, "naming", "impact", "room", None, "questions", None, None)


@dataclass
class Database:
    backend: str  # "sqlite" or "postgresql"
    url: str  # as the bot gets it in HERSTEL_DATABASE_URL
    drop_with: object  # a Path to delete, or (admin engine, schema) to drop
    engine: Engine | None = None

    @classmethod
    def create(cls, backend: str, folder: Path, postgres_url: str) -> Database:
        if backend == "sqlite":
            folder.mkdir(parents=True, exist_ok=True)
            db = cls(backend, f"sqlite:///{folder / 'herstel.db'}", folder)
        else:
            base = make_url(postgres_url).set(drivername="postgresql+psycopg")
            if base.host not in (None, "", "127.0.0.1", "localhost", "::1"):
                raise ValueError(f"the bench talks to 127.0.0.1 only; {base.host!r} is not local")
            schema = "bench_" + secrets.token_hex(5)
            admin = create_engine(base, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            # The application name marks the bot's connections, so their server processes can be found.
            url = base.update_query_dict(
                {"options": f"-csearch_path={schema}", "application_name": schema}
            ).render_as_string(hide_password=False)
            db = cls(backend, url, (admin, schema))
        db.engine = make_engine(db.url)
        migrate(db.engine)
        return db

    def drop(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
        if isinstance(self.drop_with, Path):
            shutil.rmtree(self.drop_with, ignore_errors=True)
        else:
            admin, schema = self.drop_with
            with admin.connect() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()

    # The couples the load drives ------------------------------------------------------

    def store_worlds(self, worlds: list[World], now: datetime) -> None:
        with Session(self.engine) as session:
            for world in worlds:
                repo.save_world(session, world, now)
            session.commit()

    # Bulk -------------------------------------------------------------------------------

    def bulk_couples(self, first: int, count: int, entries_each: int, updates_each: int) -> None:
        """Couples first..first+count-1: two linked people each with a check-in scheduled for tomorrow,
        the couple with its state, `entries_each` journal entries and `updates_each` handled update ids."""
        if count <= 0:
            return
        now = datetime.now(UTC)
        people, couples = _people_and_couples(first, count, now)
        journal = [secret.encrypt(t) for t in JOURNAL]
        tomorrow = (now + timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)
        entries = (
            {
                "couple_id": f"bulk-{n}",
                "author_id": BULK_PERSON + 2 * n + (i % 2),
                "exercise": EXERCISES[i % len(EXERCISES)],
                "text": journal[(n + i) % len(journal)],
                "created_at": now - timedelta(minutes=i),
            }
            for n in range(first, first + count)
            for i in range(entries_each)
        )
        updates = (
            {
                "update_id": BULK_UPDATE + n * updates_each + i,
                "payload": None,
                "user_id": None,
                "received_at": now,
                "processed_at": now,
            }
            for n in range(first, first + count)
            for i in range(updates_each)
        )
        schedules = (
            {"user_id": BULK_PERSON + 2 * n + i, "kind": "checkin", "due_at": tomorrow + timedelta(seconds=n % 3600)}
            for n in range(first, first + count)
            for i in range(2)
        )
        tables = [("people", people), ("couples", couples), ("entries", entries), ("inbox", updates)]
        if "schedules" in SQLModel.metadata.tables:
            tables.append(("schedules", schedules))
        self.bulk_insert(tables)

    def bulk_outbox(self, rows, held: bool = False) -> None:
        """rows: (chat_id, method, encrypted payload, created_at); held: for people who blocked the bot."""
        self.bulk_insert(
            [
                (
                    "outbox",
                    ({"chat_id": c, "method": m, "payload": p, "created_at": t, "held": held} for c, m, p, t in rows),
                )
            ]
        )

    def bulk_insert(self, tables) -> None:
        """tables: (name, rows as dicts). Columns left out get the model's default; rows must share their keys."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            for name, rows in tables:
                rows = iter(rows)
                first = next(rows, None)
                if first is None:
                    continue
                table = SQLModel.metadata.tables[name]
                fill = {
                    c.name: c.default.arg
                    for c in table.columns
                    if c.name not in first and c.default is not None and c.default.is_scalar
                }
                columns = [*first, *fill]
                tail = tuple(fill.values())
                every = itertools.chain([first], rows)
                if self.backend == "sqlite":
                    marks = ", ".join("?" for _ in columns)
                    cursor.executemany(
                        f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})",
                        (tuple(_sqlite(v) for v in (*row.values(), *tail)) for row in every),
                    )
                else:
                    with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in every:
                            copy.write_row((*row.values(), *tail))
            connection.commit()
            if self.backend == "postgresql":
                cursor.execute("ANALYZE")  # what autovacuum would do after a load this size
                connection.commit()
            else:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # leave no big WAL for the bot to start with
                connection.commit()
        finally:
            connection.close()

    def execute(self, sql: str) -> list:
        with self.engine.begin() as connection:
            result = connection.execute(text(sql))
            return list(result) if result.returns_rows else []

    def counts(self) -> dict[str, int]:
        tables = [t for t in ("people", "couples", "entries", "inbox", "schedules") if t in SQLModel.metadata.tables]
        return {t: self.execute(f"SELECT count(*) FROM {t}")[0][0] for t in tables}

    def server_cpu(self) -> float:
        """PostgreSQL: CPU seconds of the server processes connected under this database's schema name
        (the bot's connections, and the bench's own, which are idle during a run); SQLite: 0."""
        if self.backend != "postgresql":
            return 0.0
        admin, schema = self.drop_with
        with admin.connect() as connection:
            pids = [
                row[0]
                for row in connection.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": schema}
                )
            ]
        return process_cpu_seconds(pids)

    def flush_stats(self) -> None:
        """PostgreSQL: make this process's own table statistics visible now (they are flushed lazily)."""
        if self.backend == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_stat_force_next_flush()"))
                connection.commit()
            self.engine.dispose()  # the backends exit, and a backend flushes what it holds when it exits
            time.sleep(0.2)

    def seq_scans(self) -> dict[str, tuple[int, int]]:
        """PostgreSQL: (sequential scans, rows they read) per table, from pg_stat_user_tables."""
        if self.backend != "postgresql":
            return {}
        rows = self.execute(
            "SELECT relname, seq_scan, seq_tup_read FROM pg_stat_user_tables WHERE schemaname = current_schema()"
        )
        return {name: (scans, tuples) for name, scans, tuples in rows}


_cache: dict[tuple[int, int], tuple[list, list]] = {}


def _people_and_couples(first: int, count: int, now: datetime) -> tuple[list, list]:
    """Made once per range and reused for every backend (encrypting 100k states takes a few seconds)."""
    key = (first, count)
    if key not in _cache:
        people, couples = [], []
        started = now - timedelta(days=60)
        sealed = {v: secret.encrypt(v) for v in ("linked", "damaged", "hurt")}  # stored encrypted; one token each
        for n in range(first, first + count):
            a, b = BULK_PERSON + 2 * n, BULK_PERSON + 2 * n + 1
            language = "nl" if n % 2 else "en"
            cid = f"bulk-{n}"
            for uid, role in ((a, "damaged"), (b, "hurt")):
                people.append(
                    {
                        "user_id": uid,
                        "first_name": NAMES[uid % len(NAMES)],
                        "language": language,
                        "phase": sealed["linked"],
                        "role": sealed[role],
                        "couple_id": cid,
                        "menu": 3,
                        "country": "nl" if n % 2 else "uk",
                        "screened": 4,
                        "created_at": started,
                        "active_on": started.date(),
                    }
                )
            state = codec.dumps(Couple(id=cid, member_ids=(b, a), started_at=started, done=("naming",)))
            couples.append(
                {"id": cid, "member_a": b, "member_b": a, "started_at": started, "state": secret.encrypt(state)}
            )
        _cache[key] = (people, couples)
    return _cache[key]


_stamps: dict[datetime, str] = {}


def _sqlite(value):
    """As SQLAlchemy stores them in SQLite: datetimes as text (UTC), dates as text, booleans as 0/1."""
    if isinstance(value, datetime):
        stamp = _stamps.get(value)
        if stamp is None:
            if len(_stamps) > 100_000:
                _stamps.clear()
            stamp = _stamps[value] = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return stamp
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def outbox_payload(chat_id: int, text_: str) -> str:
    return secret.encrypt(
        json.dumps(
            {"chat_id": chat_id, "text": text_, "parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}
        )
    )
