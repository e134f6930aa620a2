"""python -m bench [--quick] [--backends sqlite,postgresql]: Herstel beside a bare PTB echo bot, at scale.

Runs every figure in one go, against one local Bot API emulator on 127.0.0.1, and prints one table.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench import burst as bursts
from bench import engine_bench, noisy, report
from bench.db import Database
from bench.e2e import TOKEN, Plan, make_couples, session
from bench.emu import TimedEmulator
from bench.procs import CODE, BotProcess
from storage import secret

# herstel: the end-to-end sessions of Herstel (scale: at the bigger sizes too); noisy and pg-parallel: bench/noisy.py
PARTS = ("engine", "echo", "herstel", "scale", "burst", "claims", "noisy", "pg-parallel")
FULL = Plan()
QUICK = Plan(
    rate_seconds=8.0,
    rate_couples=40,
    light_seconds=5.0,
    light_couples=20,
    sat_seconds=6.0,
    sat_couples=150,
    warm_updates=60,
    warm_couples=20,
    sizes=(("empty", 0), ("1k", 1_000), ("10k", 10_000)),
    burst_rows=1_000,
    burst_deadline=80.0,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller and shorter: sizes up to 10k couples, 1,000 check-ins"
    )
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("HERSTEL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL database to make a throw-away schema in (default: HERSTEL_TEST_POSTGRES_URL "
        "or postgresql://postgres@127.0.0.1:5432/test)",
    )
    parser.add_argument("--skip", default="", help=f"comma-separated parts to leave out: {', '.join(PARTS)}")
    parser.add_argument(
        "--only", default="", help="comma-separated parts to run, and nothing else (say --only noisy,pg-parallel)"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run Herstel under pyinstrument and write its profiles to DIR "
        "(needs pyinstrument importable; all figures get slower)",
    )
    parser.add_argument(
        "--count-sql",
        action="store_true",
        help="count the SQL statements and commits Herstel sends (a few µs a statement) and print them per update",
    )
    parser.add_argument("--out", metavar="FILE", help="also write the table to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (databases, bot logs)")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown or not backends:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown)) or '(none)'}")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if (skip | only) - set(PARTS):
        parser.error(f"unknown part(s): {', '.join(sorted((skip | only) - set(PARTS)))}; the parts: {', '.join(PARTS)}")
    if only:
        skip |= set(PARTS) - only
    plan = QUICK if args.quick else FULL
    if "scale" in skip:
        plan = replace(plan, sizes=plan.sizes[:1])
    return asyncio.run(_run(plan, backends, skip, args))


async def _run(plan: Plan, backends: list[str], skip: set[str], args) -> int:
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="herstel-bench-"))
    key = secret.new_key()
    secret.configure([key])
    out = report.Report(mode="quick" if args.quick else "full", plan=plan, backends=backends)
    out.context = _context()
    profile = Path(args.profile) if args.profile else None
    dbs: dict[str, Database] = {}
    emulators: list[TimedEmulator] = []

    async def emulator() -> TimedEmulator:
        emu = TimedEmulator(token=TOKEN, bot_username="HerstelBenchBot")
        await emu.start()
        emulators.append(emu)
        return emu

    try:
        if "engine" not in skip:
            _say("pure engine: stepping on one core")
            out.engine = engine_bench.measure(seconds=3.0 if not args.quick else 1.5)
        emu = await emulator()
        if "echo" not in skip:
            _say("echo bot: warm-up, 10/s, 30/s, saturation")
            found = await _guard(out, "echo bot", session(emu, plan, folder, key, None, "-"))
            if found:
                out.sessions.append(found)
        for backend in list(backends):
            try:
                db = dbs[backend] = Database.create(backend, folder / backend, args.postgres_url)
            except Exception as exc:
                out.errors.append(f"{backend}: no database ({type(exc).__name__}: {str(exc).strip().splitlines()[0]})")
                _say(f"FAILED {backend}: {exc}")
                backends.remove(backend)
                continue
            filled = 0
            for size, couples in plan.sizes if "herstel" not in skip else ():
                if couples > filled:
                    _say(f"{backend}: filling to {couples:,} couples")
                    t = time.perf_counter()
                    db.bulk_couples(filled, couples - filled, plan.entries_each, plan.updates_each)
                    out.fill_seconds[(backend, size)] = time.perf_counter() - t
                    filled = couples
                _say(f"{backend}, {size}: Herstel warm-up, 10/s, 30/s, saturation")
                found = await _guard(
                    out,
                    f"Herstel on {backend}, {size}",
                    session(emu, plan, folder, key, db, size, profile, args.count_sql),
                )
                if found:
                    out.sessions.append(found)
        # The burst takes minutes at 25 messages a second; the claim timings run meanwhile, in a thread, on
        # databases of their own (the bots under the burst never see those tables).
        runs, claiming = [], []
        if "burst" not in skip:
            _say(
                f"scheduled burst: {plan.burst_rows:,} check-ins due at once, "
                f"{' and '.join(backends)} side by side (up to {plan.burst_deadline:.0f} s)"
            )
            for backend in backends:
                own = emu if not runs else await emulator()
                runs.append(
                    _guard(
                        out,
                        f"burst on {backend}",
                        bursts.burst(
                            dbs[backend],
                            own,
                            make_couples,
                            _starter(dbs[backend], own, key, folder),
                            plan.burst_rows,
                            plan.burst_deadline,
                        ),
                    )
                )
        if "claims" not in skip:
            _say(f"claim queries on 200k-row tables ({', '.join(backends)}), meanwhile")
            claiming.append(_guard(out, "claims", asyncio.to_thread(_claims, backends, folder, args.postgres_url)))
        done = await asyncio.gather(*runs, *claiming)
        if {"noisy", "pg-parallel"} - skip:
            out.noisy = await _guard(
                out,
                "noisy neighbours",
                noisy.measure(
                    await emulator(), backends, args.postgres_url, key, folder, set(PARTS) - skip, args.quick, _say
                ),
            )
        out.bursts = [b for b in done[: len(runs)] if b is not None]
        out.claims = [c for found in done[len(runs) :] if found for c in found]
    finally:
        for emu in emulators:
            await emu.stop()
        for db in dbs.values():
            db.drop()
        if args.keep:
            print(f"work folder kept: {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    out.seconds = time.perf_counter() - started
    text = out.render()
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


async def _guard(out: report.Report, what: str, work):
    """A part that fails is reported in the table, and the rest of the run goes on."""
    try:
        return await work
    except Exception as exc:
        out.errors.append(
            f"{what}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        )
        _say(f"FAILED {what}: {type(exc).__name__}: {exc}")
        return None


def _claims(backends: list[str], folder: Path, postgres_url: str) -> list:
    found = []
    for backend in backends:
        db = Database.create(backend, folder / f"claims-{backend}", postgres_url)
        try:
            found += bursts.claims(db)
        finally:
            db.drop()
    return found


def _starter(db: Database, emu: TimedEmulator, key: str, folder: Path):
    """Starts Herstel with its default pace (HERSTEL_SEND_RATE unset) for the burst."""

    async def start() -> BotProcess:
        env = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "HERSTEL_BOT_API_URL": emu.url,
            "HERSTEL_DATABASE_URL": db.url,
            "HERSTEL_ENCRYPTION_KEYS": key,
            "HERSTEL_LOG_LEVEL": "INFO",
        }
        bot = BotProcess(f"herstel-{db.backend}-burst", ["-m", "bot.main", "run"], env, folder)
        bot.start()
        await bot.ready(emu.polled)
        return bot

    return start


def _context() -> str:
    import sqlalchemy
    import telegram

    cpus = os.cpu_count()
    load = Path("/proc/loadavg").read_text().split()[0]
    code = _code_version()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {cpus} CPUs (load {load} at start); Python "
        f"{platform.python_version()}; python-telegram-bot {telegram.__version__}; SQLAlchemy {sqlalchemy.__version__}"
        f"{'; code ' + code if code else ''}"
    )


def _code_version() -> str:
    """The commit of the code under test, and whether its tree had changes not committed (read-only git)."""
    folder = CODE
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    if not commit:
        return f"{folder} (not a git checkout)"
    return f"{commit}{' + uncommitted changes in ' + str(len(dirty.splitlines())) + ' files' if dirty else ''}"


def _say(line: str) -> None:
    print(f"[bench] {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
