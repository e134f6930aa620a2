"""Loaded into a bot process by `python -m bench --count-sql` (this folder goes first on PYTHONPATH).

Counts every SQL statement the process sends, by its kind and main table, and every commit, and
writes them as JSON to $BENCH_SQL_COUNT when the process exits. Nothing else changes; the counting
costs a few microseconds a statement.
"""

import atexit
import json
import os
import re
from collections import Counter

from sqlalchemy import event
from sqlalchemy.engine import Engine

_counts: Counter = Counter()


def _kind(statement: str) -> str:
    head = statement.lstrip()[:12].upper()
    verb = next((v for v in ("SELECT", "INSERT", "UPDATE", "DELETE") if head.startswith(v)), head.split(" ")[0] or "?")
    match = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", statement, re.IGNORECASE)
    return f"{verb} {match.group(1) if match else ''}".strip()


@event.listens_for(Engine, "before_cursor_execute")
def _statement(conn, cursor, statement, parameters, context, executemany):
    _counts[_kind(statement)] += 1


@event.listens_for(Engine, "commit")
def _commit(conn):
    _counts["COMMIT"] += 1


@atexit.register
def _write():
    path = os.environ.get("BENCH_SQL_COUNT")
    if path:
        with open(path, "w") as out:
            json.dump(dict(_counts), out)
