"""python -m bench.units [--updates N]: what one unit of work costs, with no HTTP around it.

Linked couples write free messages to each other; each update is stored in the inbox as the intake
stores it, then `bot.unit_of_work.process` handles it (claim, load, step, save, outbox, commit), one
after the other in this process. Prints CPU and wall time per unit of work and the SQL statements it
sent, on SQLite and on PostgreSQL (a throw-away schema, as in `python -m bench`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event
from telegram import Update

from bench.db import Database
from bench.scenario import linked_couple
from bot.unit_of_work import process
from dialogues.texts import Texts
from storage import repo, secret

COUPLES = 50
WARM_UP = 200


def message(n: int) -> dict:
    """The n-th update: a free message from one of the couples' partners, in turn."""
    user_id = 1000 + n % (2 * COUPLES)
    person = {"id": user_id, "is_bot": False, "first_name": "Anna", "language_code": "en"}
    return {
        "update_id": 10 + n,
        "message": {
            "message_id": n + 1,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Anna"},
            "from": person,
            "text": f"What I hear you saying is that you felt alone ({n}).",
        },
    }


def measure(backend: str, updates: int, postgres_url: str) -> str:
    db = Database.create(backend, Path(tempfile.mkdtemp(prefix="herstel-units-")), postgres_url)
    try:
        now = datetime.now(UTC)
        db.store_worlds(
            [linked_couple(f"units-{i}", 1000 + 2 * i, 1001 + 2 * i, "Anna", "Ben", "en", now) for i in range(COUPLES)],
            now,
        )
        texts = Texts(bot_username="HerstelBenchBot")
        data = [message(n) for n in range(WARM_UP + updates)]
        repo.store_updates(db.engine, data, now)
        parsed = [Update.de_json(d, None) for d in data]
        for update in parsed[:WARM_UP]:
            process(db.engine, update, datetime.now(UTC), texts, "en")
        statements = 0

        def count(*_) -> None:
            nonlocal statements
            statements += 1

        event.listen(db.engine, "before_cursor_execute", count)
        cpu, wall = time.process_time(), time.perf_counter()
        for update in parsed[WARM_UP:]:
            process(db.engine, update, datetime.now(UTC), texts, "en")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        return (
            f"{backend:<10}  {1000 * cpu / updates:6.2f} ms CPU  {1000 * wall / updates:6.2f} ms wall  "
            f"{statements / updates:4.1f} statements (and a commit) a unit of work, {updates} units"
        )
    finally:
        db.drop()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.units", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("HERSTEL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    secret.configure([secret.new_key()])
    for backend in args.backends.split(","):
        print(measure(backend.strip(), args.updates, args.postgres_url), flush=True)


if __name__ == "__main__":
    main()
