"""Shared fixtures: a database on each backend, and a running Herstel against the emulator.

PostgreSQL tests run when HERSTEL_TEST_POSTGRES_URL is set (CI sets it) and fail loudly
when that database cannot be reached; each test gets a schema of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot import logs
from bot.app import HerstelBot
from bot.settings import Settings
from emulator import BotApiEmulator, Limits, Person
from storage import secret

POSTGRES_URL = os.environ.get("HERSTEL_TEST_POSTGRES_URL")
TOKEN = "123456789:TESTtokenTESTtokenTESTtokenTESTtoken"
BACKENDS = ["sqlite", "postgresql"]
KEY = secret.new_key()
# Each bot in a test (and in a process the tests start) gets a free port for /healthz and /metrics.
os.environ.setdefault("HERSTEL_HEALTH_PORT", "0")


@pytest.fixture(autouse=True, scope="session")
def _encryption_key():
    secret.configure([KEY])


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'herstel.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL: set HERSTEL_TEST_POSTGRES_URL, e.g. postgresql://postgres@127.0.0.1:5432/test")
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"))
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


class Clock:
    """The bot's clock, moved by tests."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@dataclass
class Herstel:
    """A running Herstel, the emulator it talks to, and the people in the conversation."""

    emulator: BotApiEmulator
    bot: HerstelBot
    clock: Clock
    database_url: str

    def person(self, first_name: str, language: str = "en") -> Person:
        return self.emulator.person(first_name, language_code=language)

    async def settle(self) -> None:
        """Wait until the bot has handled everything sent so far and delivered its answers."""
        await self.emulator.wait_until_confirmed()
        await self.bot.settled()

    async def restart(self) -> None:
        """Stop this Application and start a new one with the same settings, on the same database."""
        await self.bot.stop()
        self.bot = HerstelBot(self.bot.settings, clock=self.clock)
        await self.bot.start()


def settings_for(emulator: BotApiEmulator, database_url: str, **extra) -> Settings:
    return Settings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        bot_api_url=emulator.url,
        database_url=database_url,
        encryption_keys=KEY,
        **extra,
    )


@pytest.fixture
def private_logs(caplog):
    """Every scenario runs with production logging at DEBUG; afterwards no log may hold the
    token or anything a person wrote (checked by the `herstel` fixture)."""
    factory = logging.getLogRecordFactory()
    levels = {name: logging.getLogger(name).level for name in ("", *logs.CHATTY)}
    logs.configure("DEBUG", [TOKEN])
    caplog.set_level(logging.DEBUG)
    yield caplog
    logging.setLogRecordFactory(factory)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
async def herstel(database_url, private_logs):
    async with running(database_url, private_logs, lambda emulator: {}) as scene:
        yield scene


@contextlib.asynccontextmanager
async def running(database_url: str, private_logs, extra_settings):
    """A started Herstel against a fresh emulator (`extra_settings(emulator)` adds to its settings);
    stopped afterwards, and then neither the token nor anything a person wrote may be in the logs."""
    emulator = BotApiEmulator(token=TOKEN, bot_username="HerstelTestBot", limits=Limits())  # Telegram's own
    await emulator.start()
    clock = Clock()
    settings = settings_for(emulator, database_url, **extra_settings(emulator))
    scene = Herstel(emulator, HerstelBot(settings, clock=clock), clock, database_url)
    await scene.bot.start()
    try:
        yield scene
    finally:
        await scene.bot.stop()
        await emulator.stop()
    logged = private_logs.text
    assert TOKEN not in logged, "the bot token reached the logs"
    written = [t for t in emulator.written if len(t) >= 8 and not t.startswith("/")]
    leaked = [t for t in written if t in logged]
    assert leaked == [], f"texts people wrote reached the logs: {leaked[:3]}"
