"""A scheduled burst, and the cost of claiming due rows.

The burst: N check-ins fall due in the same minute. The people are linked couples stored as the bot
stores them; their check-ins are rows in the `schedules` table (`repo.schedule`, as the engine's
Schedule effects are stored), all due now; then the bot starts (its scheduler first looks half a second
after the start, then every HERSTEL_TICK_SECONDS, so no tick interval is waited out). The bot's own scheduler
(the repeating job in bot/app.py, every HERSTEL_TICK_SECONDS) claims them, steps each through the
engine in its own unit of work, and the courier delivers the check-in messages at its configured
pace (HERSTEL_SEND_RATE, 25/s by default) through an emulator that enforces Telegram's limits
(30/s overall, a burst of 20 then 1/s a chat). Without a scheduler (no `repo.schedule`) the calls
are queued straight into the outbox instead.

The claims: the scheduler's query (`repo.due_schedule_ids`, then `repo.claim_schedule` of the first)
on a schedules table of 200k rows of which 5k are due, and the courier's (`repo.due_calls(limit=200)`,
then `repo.lock_calls`) on an outbox of 200k unsent rows, twice: 100k chats with two calls each, and
with the oldest 195k held for 1,000 people who blocked the bot.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session, SQLModel

from bench.db import Database, outbox_payload
from bot.settings import Settings
from emulator import Limits
from storage import repo, secret

CONFIGURED_RATE = Settings.model_fields["send_rate"].default
TICK_SECONDS = Settings.model_fields["tick_seconds"].default if "tick_seconds" in Settings.model_fields else None
HAS_SCHEDULER = (
    hasattr(repo, "schedule") and hasattr(repo, "due_schedule_ids") and "schedules" in SQLModel.metadata.tables
)


@dataclass
class BurstResult:
    backend: str
    rows: int
    via: str  # "scheduler" or "outbox"
    configured: float
    deadline: float
    delivered: int = 0
    to_first_s: float = 0.0  # due -> first check-in at the emulator
    to_last_s: float = 0.0  # due -> last check-in at the emulator (or the deadline, if not all came)
    rate: float = 0.0  # check-ins a second from the first delivery to the last
    too_many: int = 0  # 429s the emulator answered
    other_errors: int = 0

    @property
    def complete(self) -> bool:
        return self.delivered >= self.rows


async def burst(db: Database, emu, make_couples, start_bot, rows: int, deadline: float) -> BurstResult:
    """`make_couples(emu, n)` makes linked couples; `start_bot()` starts Herstel on `db` against `emu`
    and returns its BotProcess once it polls."""
    result = BurstResult(db.backend, rows, "scheduler" if HAS_SCHEDULER else "outbox", CONFIGURED_RATE, deadline)
    emu.limits = Limits()  # Telegram's: 30/s overall, a burst of 20 then 1/s a chat
    couples, worlds = make_couples(emu, (rows + 1) // 2)
    people = [p for c in couples for p in (c.a, c.b)][:rows]
    db.store_worlds(worlds, datetime.now(UTC))
    chats = {p.id for p in people}
    times: list[float] = []

    def delivered(chat_id, query_id, at):
        if chat_id in chats:
            times.append(at)

    errors_before = len(emu.errors)
    emu.on_delivered = delivered
    now = datetime.now(UTC)
    with Session(db.engine) as session:  # all due now; the bot starts right after and its scheduler finds them
        if HAS_SCHEDULER:
            for person in people:
                repo.schedule(session, person.id, "checkin", "", now)
        else:
            repo.queue(
                session,
                [
                    repo.Call(p.id, "sendMessage", {"chat_id": p.id, "parse_mode": "HTML", "text": "How did today go?"})
                    for p in people
                ],
                now,
            )
        session.commit()
    t0 = time.perf_counter()
    bot = None
    try:
        bot = await start_bot()
        end = t0 + deadline
        while len(times) < rows and time.perf_counter() < end:
            await asyncio.sleep(0.2)
        stopped = time.perf_counter()
    finally:
        emu.on_delivered = None
        if bot is not None:
            await bot.stop()
    errors = [(m, code) for m, code in emu.errors[errors_before:] if m in ("sendMessage", "answerCallbackQuery")]
    result.delivered = len(times)
    result.too_many = sum(1 for _, code in errors if code == 429)
    result.other_errors = len(errors) - result.too_many
    if times:
        result.to_first_s = times[0] - t0
        result.to_last_s = (times[-1] if result.complete else stopped) - t0
        if len(times) > 1:
            result.rate = (len(times) - 1) / (times[-1] - times[0])
    return result


@dataclass
class ClaimResult:
    backend: str
    case: str
    median_ms: float
    worst_ms: float
    found: int


def claims(db: Database, repeats: int = 15) -> list[ClaimResult]:
    now = datetime.now(UTC)
    results = []
    if HAS_SCHEDULER:
        results.append(_schedules(db, now, repeats))
    payloads = [outbox_payload(9_000_000_000 + i, "How did today go?") for i in range(4)]
    chats = 100_000
    db.execute("DELETE FROM outbox")
    db.bulk_outbox((9_000_000_000 + (i % chats), "sendMessage", payloads[i % 4], now) for i in range(2 * chats))
    results.append(_time(db, "outbox: 200k unsent, 100k chats", repeats, _claim_call))
    db.execute("DELETE FROM outbox")
    blocked = 1_000
    linked = secret.encrypt("linked")  # the phase is stored encrypted
    db.bulk_insert(
        [
            (
                "people",
                (
                    {
                        "user_id": 9_500_000_000 + i,
                        "first_name": "X",
                        "language": "en",
                        "phase": linked,
                        "reachable": False,
                        "created_at": now,
                        "active_on": now.date(),
                    }
                    for i in range(blocked)
                ),
            )
        ]
    )
    db.bulk_outbox(
        ((9_500_000_000 + (i % blocked), "sendMessage", payloads[i % 4], now) for i in range(195_000)), held=True
    )
    db.bulk_outbox((9_000_000_000 + i, "sendMessage", payloads[i % 4], now) for i in range(5_000))
    results.append(_time(db, "outbox: 200k, oldest 195k held (blocked)", repeats, _claim_call))
    db.execute("DELETE FROM outbox")
    db.execute("DELETE FROM people WHERE user_id >= 9500000000 AND user_id < 9600000000")
    return results


def _schedules(db: Database, now: datetime, repeats: int) -> ClaimResult:
    """A schedules table of 200k rows (the bulk couples' check-ins, due tomorrow, topped up), 5k due now."""
    have = db.execute("SELECT count(*) FROM schedules")[0][0]
    later = now + timedelta(days=1)
    extra = max(0, 195_000 - have)
    db.bulk_insert(
        [
            (
                "schedules",
                (
                    {"user_id": 9_100_000_000 + i, "kind": "checkin", "due_at": later + timedelta(seconds=i % 3600)}
                    for i in range(extra)
                ),
            )
        ]
    )
    db.bulk_insert(
        [
            (
                "schedules",
                (
                    {"user_id": 9_200_000_000 + i, "kind": "checkin", "due_at": now - timedelta(seconds=i % 60)}
                    for i in range(5_000)
                ),
            )
        ]
    )
    total = db.execute("SELECT count(*) FROM schedules")[0][0]
    result = _time(db, f"schedules: {total // 1000}k rows, 5k due", repeats, _claim_schedule)
    db.execute("DELETE FROM schedules WHERE user_id >= 9100000000 AND user_id < 9300000000")
    return result


def _claim_schedule(session: Session) -> int:
    now = datetime.now(UTC)
    due = repo.due_schedule_ids(session, now)
    if due:
        repo.claim_schedule(session, due[0], now)
    return len(due)


def _claim_call(session: Session) -> int:
    heads = repo.due_calls(session, limit=200)
    if heads:
        repo.lock_calls(session, [heads[0].id])
    return len(heads)


def _time(db: Database, case: str, repeats: int, claim) -> ClaimResult:
    if db.backend == "postgresql":  # what autovacuum would do: the rows the last case deleted are gone from the indexes
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    spent, found = [], 0
    for _ in range(repeats):
        with Session(db.engine) as session:
            started = time.perf_counter()
            found = claim(session)
            spent.append((time.perf_counter() - started) * 1000)
            session.rollback()
    return ClaimResult(db.backend, case, statistics.median(spent), max(spent), found)


def plan_of(db: Database, sql: str) -> str:
    """EXPLAIN of a statement, for the README."""
    prefix = "EXPLAIN QUERY PLAN " if db.backend == "sqlite" else "EXPLAIN "
    with db.engine.connect() as connection:
        return "\n".join(" ".join(str(c) for c in row) for row in connection.execute(text(prefix + sql)))
