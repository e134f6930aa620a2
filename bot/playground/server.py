"""The local playground: the emulator, the real bot against it, and a page to drive both.

Everything runs in one event loop: the emulator (a Bot API server on a free loopback port), a
HerstelBot with a fake token pointed at it, and the page server on 127.0.0.1. The bot's clock is
owned here (real time plus an offset the page moves forward). The database is a throw-away SQLite
file in a temporary folder, removed at the end unless `keep` is set. A reset stops the bot and the
emulator and starts both again on a new database, with new people.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import SecretStr

from bot.app import HerstelBot
from bot.settings import Settings
from emulator import BotApiEmulator
from emulator.web import Host, PlaygroundApi, Seat, bot_api_only, loopback_only
from storage import secret

log = logging.getLogger(__name__)

FAKE_TOKEN = "123456789:PLAYGROUNDplaygroundPLAYGROUND00"
BOT_USERNAME = "HerstelPlaygroundBot"
HOST = "127.0.0.1"
ZONE = ZoneInfo("Europe/Amsterdam")  # the partners' local time, for the clock controls
PEOPLE = (  # seat key, first name on Telegram, role shown above the pane
    ("a", "Anna", "Partner A"),
    ("b", "Ben", "Partner B"),
    ("t", "Dr. Tess", "Therapist"),
)
STATIC = Path(__file__).parent / "static"
FILES = {"app.js": "text/javascript", "style.css": "text/css"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class PlaygroundClock:
    """Real UTC time plus an offset that the page's controls only increase."""

    def __init__(self, zone: ZoneInfo = ZONE) -> None:
        self.zone = zone
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the playground clock only moves forward")
        self.offset += delta

    def reset(self) -> None:
        self.offset = timedelta(0)


class Playground:
    """`await start()` returns the page address; `await stop()` ends everything."""

    def __init__(
        self, settings: Settings, *, keep: bool = False, folder: Path | None = None, port: int | None = None
    ) -> None:
        self.settings = settings
        self.keep = keep
        self.folder = folder  # where throw-away database folders go; None: the system's temp folder
        self.port = settings.playground_port if port is None else port
        self.clock = PlaygroundClock()
        self.generation = 0
        self.emulator: BotApiEmulator | None = None
        self.bot: HerstelBot | None = None
        self.seats: list[Seat] = []
        self.database_dir: Path | None = None
        self.kept: list[Path] = []  # database folders kept after their scene ended
        self.url = ""
        self._runner: web.AppRunner | None = None
        # the playground needs a key even when called without one; main.py normally provides it
        self._keys = settings.keys or [secret.new_key()]

    @property
    def database_path(self) -> Path | None:
        return self.database_dir / "herstel.db" if self.database_dir else None

    async def start(self) -> str:
        await self._open_scene()
        app = web.Application(middlewares=[loopback_only], client_max_size=64 * 1024)
        app.add_routes(PlaygroundApi(cast(Host, self)).routes())  # its emulator is there once the scene is open
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.on_response_prepare.append(_add_headers)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, HOST, self.port).start()
        except OSError:
            await self.stop()
            raise
        self.url = f"http://{HOST}:{self._runner.addresses[0][1]}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._close_scene()

    async def clock_moved(self) -> None:
        if self.bot is not None:
            await self.bot.tick()

    async def reset(self) -> None:
        """Start over: a new database, a new emulator with new people, the clock back to now."""
        await self._close_scene()
        await self._open_scene()
        self.generation += 1

    async def _open_scene(self) -> None:
        self.database_dir = Path(tempfile.mkdtemp(prefix="herstel-playground-", dir=self.folder))
        if self.keep:
            print(f"Playground database: {self.database_path}", flush=True)
        self.clock.reset()
        self.emulator = BotApiEmulator(token=FAKE_TOKEN, bot_username=BOT_USERNAME, bot_first_name="Herstel")
        await self.emulator.start(HOST, middlewares=(bot_api_only,))  # another web page cannot reconfigure it
        self.seats = [
            Seat(key, name, role, self.emulator.person(name, language_code=self.settings.default_language))
            for key, name, role in PEOPLE
        ]
        settings = self.settings.model_copy(
            update={
                "telegram_bot_token": SecretStr(FAKE_TOKEN),
                "bot_api_url": self.emulator.url,
                "database_url": f"sqlite:///{self.database_path}",
                "encryption_keys": SecretStr(",".join(self._keys)),
                "health_port": 0,  # a free port: never in the way of a bot on this machine
            }
        )
        self.bot = HerstelBot(settings, clock=self.clock)
        await self.bot.start()

    async def _close_scene(self) -> None:
        if self.bot is not None:
            await self.bot.stop()
            self.bot = None
        if self.emulator is not None:
            await self.emulator.stop()
            self.emulator = None
        if self.database_dir is not None:
            if self.keep:
                self.kept.append(self.database_dir)
            else:
                shutil.rmtree(self.database_dir, ignore_errors=True)
        self.database_dir = None

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Content-Type": "text/html; charset=utf-8"})

    async def _static(self, request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        if name not in FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Content-Type": f"{FILES[name]}; charset=utf-8"})


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


async def run_playground(settings: Settings, stop: asyncio.Event, keep: bool = False) -> None:
    """Run the playground until `stop` is set. Prints the page address as one line on stdout."""
    playground = Playground(settings, keep=keep)
    try:
        url = await playground.start()
    except OSError as error:
        print(
            f"The playground cannot listen on {HOST}:{playground.port} ({error.strerror or error}). "
            "Set HERSTEL_PLAYGROUND_PORT to another port, or 0 for any free one.",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    print(f"Herstel playground: {url}", flush=True)
    try:
        await stop.wait()
    finally:
        await playground.stop()
        for folder in playground.kept:
            print(f"Kept the playground database {folder / 'herstel.db'}", flush=True)
