"""Summarise a profile written by `python -m bench --profile DIR`.

    python -m bench.profile DIR/herstel-sqlite-empty.pyisession [--top 25]

Prints where the bot process spent its time: by layer (own time of every function, grouped by the
package it lives in), the project's own functions by cumulative time, and the heaviest functions
by own time. Needs pyinstrument importable (the profile is a pyinstrument session).
"""

from __future__ import annotations

import argparse
import pstats
import tempfile
from collections import defaultdict
from pathlib import Path

LAYERS = (  # (name, path fragments), first match wins
    ("idle (waiting in epoll)", ("selectors.py", "epoll.poll")),
    (
        "HTTP client (PTB request, httpx, httpcore, anyio, h11)",
        ("/telegram/request/", "/httpx/", "/httpcore/", "/anyio/", "/h11/"),
    ),
    ("PTB objects and dispatch (telegram/)", ("/telegram/",)),
    ("SQLAlchemy / SQLModel", ("/sqlalchemy/", "/sqlmodel/")),
    (
        "database drivers (sqlite3, psycopg)",
        ("sqlite3", "/psycopg/", "/psycopg_binary/", "<built-in>:0(method 'execute'", "<built-in>:0(method 'commit'"),
    ),
    ("encryption (cryptography, Fernet)", ("/cryptography/",)),
    ("templates (jinja2, markupsafe, babel)", ("/jinja2/", "/markupsafe/", "/babel/", "<template>")),
    ("dialogues/ (engine, programme, texts)", ("/dialogues/",)),
    ("storage/ (repo, codec, secret)", ("/storage/",)),
    ("bot/ (app, intake, courier, unit of work, render)", ("/bot/",)),
    ("APScheduler (job queue)", ("/apscheduler/",)),
    ("asyncio event loop", ("/asyncio/",)),
    (
        "json, typing, dataclasses, logging, other stdlib",
        ("/json/", "typing.py", "dataclasses.py", "/logging/", "python3.11/"),
    ),
)


def layer(filename: str, function: str) -> str:
    key = f"{filename}:{function}"
    for name, fragments in LAYERS:
        if any(f in key for f in fragments):
            return name
    return "other"


def load(path: Path):
    from pyinstrument.renderers import PstatsRenderer
    from pyinstrument.session import Session

    session = Session.load(str(path))
    out = Path(tempfile.mkdtemp()) / "profile.pstats"
    out.write_bytes(PstatsRenderer().render(session).encode("utf-8", errors="surrogateescape"))
    return pstats.Stats(str(out)), session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("session", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    stats, session = load(args.session)
    total = session.duration
    print(f"{args.session.name}: {total:.1f} s sampled, process CPU {session.cpu_time:.1f} s")
    own: dict[str, float] = defaultdict(float)
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        own[layer(filename, function)] += tottime
    print("\nOwn time by layer (s, % of sampled time)")
    for name, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:8.2f}  {seconds / total:6.1%}  {name}")
    project = [(k, v) for k, v in stats.stats.items() if any(f"/{p}/" in k[0] for p in ("bot", "storage", "dialogues"))]
    print(f"\nProject functions by cumulative time (top {args.top})")
    for (filename, line, function), (_cc, _nc, _tottime, cumtime, _callers) in sorted(
        project, key=lambda kv: -kv[1][3]
    )[: args.top]:
        short = "/".join(Path(filename).parts[-2:])
        print(f"  {cumtime:8.2f}  {cumtime / total:6.1%}  {short}:{line} {function}")
    print(f"\nFunctions by own time (top {args.top})")
    for (filename, line, function), (_cc, _nc, tottime, _ct, _callers) in sorted(
        stats.stats.items(), key=lambda kv: -kv[1][2]
    )[: args.top]:
        short = "/".join(Path(filename).parts[-2:])
        print(f"  {tottime:8.2f}  {tottime / total:6.1%}  {short}:{line} {function}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
