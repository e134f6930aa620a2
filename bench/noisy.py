"""Noisy neighbours (issue #14), and units of work side by side on PostgreSQL.

Noisy neighbours: 50 ordinary couples talk at their usual pace (an open loop, OFFERED updates a second
from whichever couple is ready) while, from the same moment, one person sends 1,000 messages to their
partner as fast as the emulator takes them, a stranger presses 200 stale check-in buttons, and a third
person's client sends 20 updates nobody can parse. The same run without the noisy ones, in a bot of its
own, is the yardstick: the ordinary couples' latency (update queued -> the last call it caused) side by
side, and in the end every one of the 1,000 messages must have reached the partner, in order.

Saturation: a closed loop (every couple sends again the moment it is answered) against the echo bot,
Herstel on PostgreSQL one unit of work at a time (HERSTEL_PARALLEL_UNITS=1) and several at once.

Limits: the emulator's flood limits are off and HERSTEL_SEND_RATE=1000 as in the other end-to-end runs;
HERSTEL_CHAT_BURST is raised to 1000 too, so that the noisy partner's 1,000 messages can arrive within
the run (at Telegram's one a second a chat they would take 17 minutes; the pace itself is a test).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.db import Database
from bench.e2e import TOKEN, make_couples
from bench.emu import UNLIMITED, TimedEmulator
from bench.load import Load, RunResult, percentile
from bench.procs import BotProcess
from bench.scenario import utc_now

ORDINARY = 50
OFFERED = 10.0  # updates a second from the ordinary couples together (one every 5 s a couple)
NOISY_MESSAGES, STALE_PRESSES, UNPARSEABLE = 1_000, 200, 20
UNPARSEABLE_FIELDS = ({"message": {}}, {"callback_query": {"id": "1"}}, {"edited_message": "not an object"})


@dataclass
class NoisyRun:
    backend: str
    noisy: bool
    ordinary: RunResult
    delivered: int = 0  # of the noisy person's messages, at their partner
    in_order: bool = True
    drained_s: float = 0.0  # from the first noisy message to the last one delivered
    extra_calls: int = 0  # calls to the noisy people (acknowledgements, answers to presses)


@dataclass
class Saturation:
    bot: str  # "echo", "PostgreSQL, 1 at a time", "PostgreSQL, 4 at once"
    run: RunResult
    cpu_ms: float = 0.0


@dataclass
class Figures:
    seconds: float
    runs: list[NoisyRun] = field(default_factory=list)
    saturation: list[Saturation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _Ordinary(Load):
    """The load of the ordinary couples; calls to the noisy people are counted apart, in order."""

    def __init__(self, emu, couples, noisy_chats: set[int], noisy_queries: set[str]) -> None:
        super().__init__(emu, couples, echo=False)
        self.noisy_chats, self.noisy_queries = noisy_chats, noisy_queries
        self.noisy_calls = 0

    def _delivered(self, chat_id, query_id, now) -> None:
        if chat_id in self.noisy_chats or query_id in self.noisy_queries:
            self.noisy_calls += 1
            return
        super()._delivered(chat_id, query_id, now)


def _herstel(name: str, emu: TimedEmulator, db: Database, key: str, folder: Path, **env) -> BotProcess:
    settings = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "HERSTEL_BOT_API_URL": emu.url,
        "HERSTEL_DATABASE_URL": db.url,
        "HERSTEL_ENCRYPTION_KEYS": key,
        "HERSTEL_SEND_RATE": "1000",
        "HERSTEL_CHAT_BURST": "1000",
        "HERSTEL_LOG_LEVEL": "WARNING",
        **env,
    }
    return BotProcess(name, ["-m", "bot.main", "run"], settings, folder)


async def noisy_run(emu: TimedEmulator, db: Database, key: str, folder: Path, noisy: bool, seconds: float) -> NoisyRun:
    warm, warm_worlds = make_couples(emu, 10)
    ordinary, ordinary_worlds = make_couples(emu, ORDINARY)
    loud, loud_worlds = make_couples(emu, 1)
    db.store_worlds(warm_worlds + ordinary_worlds + loud_worlds, utc_now())
    sender, reader = loud[0].a, loud[0].b
    stranger, broken = emu.person("Stale"), emu.person("Broken")
    stranger.started = broken.started = True
    emu.limits = UNLIMITED
    emu.forget()
    bot = _herstel(f"herstel-{db.backend}-{'noisy' if noisy else 'quiet'}", emu, db, key, folder)
    bot.start()
    try:
        await bot.ready(emu.polled)
        await Load(emu, warm, False).run("warm-up", 40, None, 30.0)
        queries: set[str] = set()
        load = _Ordinary(emu, ordinary, {sender.id, reader.id, stranger.id, broken.id}, queries)
        texts = [f"Noisy message number {n}." for n in range(NOISY_MESSAGES)]

        async def neighbours() -> None:
            for n, text in enumerate(texts):
                await sender.send(text)
                if n < STALE_PRESSES:
                    query = await stranger.press_data(1, "ci:2026-01-05:3")
                    queries.add(query["id"])
                if n < UNPARSEABLE:
                    emu.queue_raw(UNPARSEABLE_FIELDS[n % len(UNPARSEABLE_FIELDS)])
                if n % 20 == 0:
                    await asyncio.sleep(0)  # the emulator answers the bot meanwhile

        started = time.perf_counter()
        chatter = asyncio.create_task(neighbours()) if noisy else None
        result = await load.run("ordinary", round(OFFERED * seconds), OFFERED, seconds)
        if chatter:
            await chatter
        found = NoisyRun(db.backend, noisy, result)
        if noisy:
            deadline = time.perf_counter() + 240  # on a busy machine the last ones take a while
            while time.perf_counter() < deadline:
                got = [t for t in reader.texts() if "Noisy message number" in t]
                if len(got) >= NOISY_MESSAGES:
                    break
                await asyncio.sleep(0.2)
            found.drained_s = time.perf_counter() - started
            got = [next((x for x in texts if x in t), None) for t in reader.texts() if "Noisy message number" in t]
            found.delivered = len(got)
            found.in_order = got == texts[: len(got)]
            found.extra_calls = load.noisy_calls
        return found
    finally:
        await bot.stop()


async def saturation(emu: TimedEmulator, db: Database | None, key: str, folder: Path, seconds: float, **env):
    """A closed loop of 150 couples for `seconds`, after a warm-up."""
    warm, warm_worlds = make_couples(emu, 20)
    couples, worlds = make_couples(emu, 150)
    if db is None:
        bot = BotProcess("echo-sat", ["-m", "bench.echo_bot"], {"ECHO_TOKEN": TOKEN, "ECHO_API_URL": emu.url}, folder)
    else:
        db.store_worlds(warm_worlds + worlds, utc_now())
        bot = _herstel(f"herstel-sat-{env.get('HERSTEL_PARALLEL_UNITS')}", emu, db, key, folder, **env)
    emu.limits = UNLIMITED
    emu.forget()
    bot.start()
    try:
        await bot.ready(emu.polled)
        await Load(emu, warm, db is None).run("warm-up", 60, None, 30.0)
        await asyncio.sleep(0.5)
        cpu = bot.cpu_seconds()
        run = await Load(emu, couples, db is None, db.server_cpu if db else lambda: 0.0).run(
            "saturation", 1_000_000, None, seconds
        )
        run.bot_cpu = bot.cpu_seconds() - cpu
        return run
    finally:
        await bot.stop()


async def measure(
    emu: TimedEmulator,
    backends: list[str],
    postgres_url: str,
    key: str,
    folder: Path,
    parts: set[str],
    quick: bool,
    say,
) -> Figures:
    """Both parts, on databases of their own (dropped at the end)."""
    dbs = {backend: Database.create(backend, folder / f"noisy-{backend}", postgres_url) for backend in backends}
    try:
        return await _measure(emu, dbs, key, folder, parts, quick, say)
    finally:
        for db in dbs.values():
            db.drop()


async def _measure(emu, dbs: dict[str, Database], key: str, folder: Path, parts: set[str], quick: bool, say) -> Figures:
    started = time.perf_counter()
    figures = Figures(0.0)
    seconds = 20.0 if quick else 30.0
    if "noisy" in parts:
        for backend, db in dbs.items():
            for noisy in (False, True):
                say(f"noisy neighbours on {backend}: {'with' if noisy else 'without'} the noisy ones, {seconds:.0f} s")
                try:
                    figures.runs.append(await noisy_run(emu, db, key, folder, noisy, seconds))
                except Exception as exc:
                    figures.errors.append(f"noisy on {backend}: {type(exc).__name__}: {exc}")
    if "pg-parallel" in parts and "postgresql" in dbs:
        db = dbs["postgresql"]
        sat = 6.0 if quick else 8.0
        for label, parallel in (("echo bot", None), ("PostgreSQL, 1 at a time", "1"), ("PostgreSQL, 4 at once", "4")):
            say(f"saturation: {label}, {sat:.0f} s")
            try:
                if parallel is None:
                    run = await saturation(emu, None, key, folder, sat)
                else:
                    run = await saturation(emu, db, key, folder, sat, HERSTEL_PARALLEL_UNITS=parallel)
                cpu = run.bot_cpu * 1000 / run.answered if run.answered else 0.0
                figures.saturation.append(Saturation(label, run, cpu))
            except Exception as exc:
                figures.errors.append(f"saturation, {label}: {type(exc).__name__}: {exc}")
    figures.seconds = time.perf_counter() - started
    return figures


NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def render(figures: Figures) -> list[str]:
    lines: list[str] = []
    if figures.runs:
        lines += [
            "",
            f"Noisy neighbours (#14): {ORDINARY} ordinary couples at {OFFERED:.0f} updates/s together; beside them "
            f"one person sends {NOISY_MESSAGES:,} messages,",
            f"a stranger presses {STALE_PRESSES} stale buttons and a client sends {UNPARSEABLE} unparseable updates, "
            "all at once from the start. Ordinary couples' latency, ms:",
            "",
            f"| {'backend':<10} | {'noisy ones':<10} | {'answered':>8} | {'p50':>6} | {'p95':>6} | {'p99':>6} | "
            f"{'p99 vs without':>14} | {'noisy msgs delivered, in order':<32} |",
            f"|{'-' * 12}|{'-' * 12}|{'-' * 10}:|{'-' * 7}:|{'-' * 7}:|{'-' * 7}:|{'-' * 15}:|{'-' * 34}|",
        ]
        for run in figures.runs:
            ms = run.ordinary.all_ms
            quiet = next((r for r in figures.runs if r.backend == run.backend and not r.noisy), None)
            p99 = percentile(ms, 99)
            ratio = (
                p99 / percentile(quiet.ordinary.all_ms, 99) if quiet and run.noisy and quiet.ordinary.all_ms else None
            )
            ratio_text = f"{ratio:.2f}x {'pass' if ratio <= 1.2 else 'SHORT'}" if ratio is not None else "-"
            delivered = (
                f"{run.delivered:,} of {NOISY_MESSAGES:,}, {'in order' if run.in_order else 'OUT OF ORDER'}, "
                f"{run.drained_s:.0f} s"
                if run.noisy
                else "-"
            )
            answered = f"{run.ordinary.answered}/{run.ordinary.sent}"
            lines.append(
                f"| {NAMES[run.backend]:<10} | {'with' if run.noisy else 'without':<10} | {answered:>8} | "
                f"{percentile(ms, 50):>6.0f} | {percentile(ms, 95):>6.0f} | {p99:>6.0f} | {ratio_text:>14} | "
                f"{delivered:<32} |"
            )
        stuck = sum(r.ordinary.stuck for r in figures.runs)
        unexpected = sum(r.ordinary.unexpected for r in figures.runs)
        lines.append(
            f"Checks: ordinary updates never answered {stuck}, calls no update accounts for {unexpected} (both should be 0)."
        )
        lines.append("Target: p99 with the noisy ones at most 1.2x without; every noisy message delivered, in order.")
    if figures.saturation:
        echo = next((s for s in figures.saturation if s.bot == "echo bot"), None)
        lines += [
            "",
            "Saturation on PostgreSQL (#14): a closed loop of 150 couples; units of work one at a time beside several at once:",
            "",
            f"| {'bot':<24} | {'answered/s':>10} | {'vs echo':>10} | {'p50 ms':>7} | {'p99 ms':>7} | {'bot CPU ms/upd':>14} |",
            f"|{'-' * 26}|{'-' * 11}:|{'-' * 11}:|{'-' * 8}:|{'-' * 8}:|{'-' * 15}:|",
        ]
        for s in figures.saturation:
            versus = s.run.per_second / echo.run.per_second if echo and echo.run.per_second else None
            mark = ""
            if versus is not None and s is not echo:
                mark = " pass" if versus >= 0.6 else " SHORT"
            lines.append(
                f"| {s.bot:<24} | {s.run.per_second:>10.1f} | "
                f"{(f'{versus:.2f}x' + mark) if versus is not None else '-':>10} | "
                f"{percentile(s.run.all_ms, 50):>7.0f} | {percentile(s.run.all_ms, 99):>7.0f} | {s.cpu_ms:>14.2f} |"
            )
        lines.append("Target: PostgreSQL with units of work at once at least 0.6x the echo bot.")
    for error in figures.errors:
        lines.append(f"FAILED: {error}")
    if figures.runs or figures.saturation:
        lines.append(f"(these parts: {figures.seconds / 60:.1f} min)")
    return lines
