"""End-to-end sessions: one bot process, fresh couples, a warm-up, then the measured runs.

A session is one start of a bot (Herstel on one database at one size, or the echo bot): warm-up
(closed loop, not measured), then an open-loop run at the offered rate, then a saturation run
(closed loop). CPU time per update is the bot process's user + system time during a run divided by
the updates answered in it; memory is the process's resident set now and at its peak (VmHWM) at the
end of the session.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from bench.db import Database
from bench.emu import UNLIMITED, TimedEmulator
from bench.load import Load, RunResult, SimCouple
from bench.procs import BotProcess
from bench.scenario import Script, Shadow, linked_couple, utc_now

TOKEN = "424242424:BENCHbenchBENCHbenchBENCHbench"
SQLCOUNT = Path(__file__).parent / "sqlcount"  # a sitecustomize that counts the bot's SQL statements
E2E_SEND_RATE = (
    1000  # HERSTEL_SEND_RATE in end-to-end runs: the highest it allows, so the pacer is not what is measured
)
_serial = itertools.count(1)


@dataclass
class Plan:
    rate: float = 30.0  # updates a second offered in the open-loop runs
    rate_seconds: float = 10.0
    rate_couples: int = 60
    light_rate: float = 10.0  # a light open-loop run: the latency of one update with no queue in front of it
    light_seconds: float = 8.0
    light_couples: int = 30
    sat_seconds: float = 8.0  # closed loop: every couple sends again as soon as it is answered
    sat_couples: int = 200
    warm_updates: int = 60
    warm_couples: int = 40
    sizes: tuple = (("empty", 0), ("1k", 1_000), ("100k", 100_000))
    entries_each: int = 10  # journal entries a bulk couple (100k couples: 1M entries)
    updates_each: int = 10  # handled update ids a bulk couple leaves in the inbox
    burst_rows: int = 5_000
    burst_deadline: float = 215.0  # seconds the burst may take at most (5,000 at 25/s: 200 s, plus the start)


@dataclass
class Session:
    bot: str  # "herstel" or "echo"
    backend: str  # "sqlite", "postgresql" or "-" for the echo bot
    size: str
    runs: dict[str, RunResult] = field(default_factory=dict)
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    db_counts: dict[str, int] = field(default_factory=dict)
    seq_scans: dict[str, tuple[int, int]] = field(default_factory=dict)  # PostgreSQL, during the session
    max_chat_posts: int = 0  # the most messages one chat got in the session (Herstel's own pacing allows 20)
    sql_counts: dict[str, int] = field(default_factory=dict)  # with --count-sql: statements by kind and table
    handled: int = 0  # updates answered in the whole session, warm-up included


def make_couples(emu: TimedEmulator, count: int) -> tuple[list[SimCouple], list]:
    """New people in the emulator, linked in pairs; returns the couples and their stored worlds."""
    couples, worlds, now = [], [], utc_now()
    for _ in range(count):
        n = next(_serial)
        language = "nl" if n % 2 else "en"
        kind = "naming" if (n // 2) % 2 else "impact"
        a = emu.person(f"A{n}", language)
        b = emu.person(f"B{n}", language)
        a.started = b.started = True  # both wrote to the bot when they paired
        world = linked_couple(f"bench-{n}-{a.id}", a.id, b.id, a.name, b.name, language, now)
        worlds.append(world)
        couples.append(SimCouple(a, b, Shadow.of(world), Script(kind, language)))
    return couples, worlds


async def session(
    emu: TimedEmulator,
    plan: Plan,
    folder: Path,
    key: str,
    db: Database | None,
    size: str,
    profile: Path | None = None,
    count_sql: bool = False,
) -> Session:
    """Herstel on `db` (or the echo bot with db=None): warm-up, the offered rate, saturation.
    With `profile`, the bot runs under pyinstrument and writes its profile there (figures are then slower)."""
    echo = db is None
    result = Session("echo" if echo else "herstel", "-" if echo else db.backend, size)
    warm, warm_worlds = make_couples(emu, plan.warm_couples)
    light, light_worlds = make_couples(emu, plan.light_couples)
    paced, paced_worlds = make_couples(emu, plan.rate_couples)
    saturating, saturating_worlds = make_couples(emu, plan.sat_couples)
    if echo:
        bot = BotProcess("echo", ["-m", "bench.echo_bot"], {"ECHO_TOKEN": TOKEN, "ECHO_API_URL": emu.url}, folder)
    else:
        db.store_worlds(warm_worlds + light_worlds + paced_worlds + saturating_worlds, utc_now())
        result.db_counts = db.counts()
        db.flush_stats()  # so the counting above is not taken for the bot's scans
        env = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "HERSTEL_BOT_API_URL": emu.url,
            "HERSTEL_DATABASE_URL": db.url,
            "HERSTEL_ENCRYPTION_KEYS": key,
            "HERSTEL_SEND_RATE": str(E2E_SEND_RATE),
            "HERSTEL_LOG_LEVEL": "INFO",
        }
        name = f"herstel-{db.backend}-{size}"
        argv = ["-m", "bot.main", "run"]
        if profile:
            profile.mkdir(parents=True, exist_ok=True)
            # A sampled session of the whole process; render it with `pyinstrument --load FILE`.
            argv = ["-m", "pyinstrument", "-r", "pyisession", "-o", str(profile / f"{name}.pyisession"), *argv]
        if count_sql:
            env["BENCH_SQL_COUNT"] = str(folder / f"{name}.sql.json")
        bot = BotProcess(name, argv, env, folder, first_on_path=[SQLCOUNT] if count_sql else [])
    server_cpu = db.server_cpu if db else (lambda: 0.0)
    emu.limits = UNLIMITED
    emu.forget()
    scans_before = db.seq_scans() if db else {}
    bot.start()
    try:
        await bot.ready(emu.polled)
        await Load(emu, warm, echo, server_cpu).run("warm-up", plan.warm_updates, None, 60.0)
        for label, couples, updates, rate, seconds in (
            ("light", light, round(plan.light_rate * plan.light_seconds), plan.light_rate, plan.light_seconds + 5),
            ("rate", paced, round(plan.rate * plan.rate_seconds), plan.rate, plan.rate_seconds + 5),
            ("saturation", saturating, 1_000_000, None, plan.sat_seconds),
        ):
            await asyncio.sleep(0.5)
            cpu = bot.cpu_seconds()
            run = await Load(emu, couples, echo, server_cpu).run(label, updates, rate, seconds)
            run.bot_cpu = bot.cpu_seconds() - cpu
            result.runs[label] = run
        result.rss_mb, result.peak_rss_mb = bot.memory_mb()
        result.max_chat_posts = max(
            (len((c.a, c.b)[i].inbox) for c in light + paced + saturating for i in (0, 1)), default=0
        )
    finally:
        code = await bot.stop()
        if code not in (0, None, -2):
            print(f"  ({bot.name} exited with {code}; log: {bot.log_path})")
    counted = Path(bot.env.get("BENCH_SQL_COUNT", "/nonexistent"))
    if counted.exists():
        result.sql_counts = json.loads(counted.read_text())
        result.handled = plan.warm_updates + sum(r.answered for r in result.runs.values())
    if db:
        after = db.seq_scans()
        result.seq_scans = {
            t: (after[t][0] - scans_before.get(t, (0, 0))[0], after[t][1] - scans_before.get(t, (0, 0))[1])
            for t in after
        }
    return result
