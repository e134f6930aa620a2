"""The running bot: a python-telegram-bot Application without its own Updater.

Three loops share one event loop: the intake stores updates, the worker turns each stored
update into one unit of work through the Application's handler, and the courier delivers
the outbox after each commit.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import warnings
from datetime import datetime, timezone
from typing import Callable

from sqlmodel import Session
from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest
from telegram.warnings import PTBUserWarning

from dialogues.texts import LANGUAGES, Texts
from storage import repo, secret
from storage.db import make_engine, migrate

from bot import intake, unit_of_work
from bot.courier import Courier
from bot.settings import Settings

log = logging.getLogger(__name__)
# The outbox stores generic calls (method and parameters), and the intake needs raw update
# dicts to store, so both use Bot.do_api_request on purpose.
warnings.filterwarnings("ignore", r"Please use 'Bot\.\w+' instead of", PTBUserWarning)
COMMANDS = ("start", "menu", "pause", "language", "help", "leave")
GIVE_UP_AFTER = 5  # attempts before a failing update is set aside (kept in the inbox, not retried)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class HerstelBot:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.clock = clock
        secret.configure(settings.keys)
        self.engine = make_engine(settings.database_url)
        self.application = (
            Application.builder()
            .token(settings.token)
            .base_url(f"{settings.bot_api_url}/bot")
            .base_file_url(f"{settings.bot_api_url}/file/bot")
            .request(HTTPXRequest(connection_pool_size=8))
            .updater(None)
            .build()
        )
        self.application.add_handler(TypeHandler(Update, self._handle))
        self.application.add_error_handler(self._on_error)
        self.texts: Texts | None = None
        self.courier = Courier(self.application.bot, self.engine, clock)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        migrate(self.engine)
        await self.application.initialize()
        self.texts = Texts(bot_username=self.application.bot.username)
        await self._set_commands()
        await self.application.start()
        self._tasks = [
            asyncio.create_task(intake.poll(self.application.bot, self.engine, self.clock, self._stored), name="intake"),
            asyncio.create_task(self._work(), name="worker"),
        ]
        log.info("Herstel is running as @%s", self.application.bot.username)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        self.engine.dispose()

    async def run_until_stopped(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            done, _ = await asyncio.wait(
                [asyncio.create_task(stop.wait()), *self._tasks], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task.exception():
                    raise task.exception()
        finally:
            await self.stop()

    async def settled(self, timeout: float = 10.0) -> None:
        """Wait until every stored update is handled and every deliverable message delivered."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    def _stored(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            with Session(self.engine) as session:
                pending = repo.pending_updates(session)
            for data in pending:
                await self.application.process_update(Update.de_json(data, self.application.bot))
                await self.courier.deliver_due()
            await self.courier.deliver_due()
            if not pending:
                self._idle.set()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                except TimeoutError:
                    pass

    async def _handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            unit_of_work.process(self.engine, update, self.clock(), self.texts, self.settings.default_language)
        except Exception:
            attempts = repo.record_failure(self.engine, update.update_id, self.clock(), GIVE_UP_AFTER)
            log.error("update %s failed (attempt %d of %d)", update.update_id, attempts, GIVE_UP_AFTER)
            await asyncio.sleep(min(attempts, 5))
            raise

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Only the kind of error: its message or the update may hold what someone wrote.
        error = context.error
        frames = "".join(traceback.format_tb(error.__traceback__)) if error else ""
        log.error("error while handling an update: %s\n%s", type(error).__name__, frames)

    async def _set_commands(self) -> None:
        bot = self.application.bot
        for language in LANGUAGES:
            commands = [BotCommand(c, self.texts.render(language, f"commands.{c}")) for c in COMMANDS]
            try:
                await bot.set_my_commands(commands, language_code=None if language == "en" else language)
            except TelegramError as exc:
                log.warning("could not set the %s command menu (%s); carrying on", language, type(exc).__name__)
