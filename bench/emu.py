"""The emulator with a stopwatch: the unchanged BotApiEmulator, plus hooks that time each update
from the moment it is queued to each Bot API call that answers it.

Nothing here changes what the emulator does or answers; the subclass only records, after the
emulator has accepted a call (a call refused with 429 is not a delivery).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from emulator import BotApiEmulator, Limits

# Effectively no flood limits: for runs that measure the bot, not Telegram's caps.
UNLIMITED = Limits(global_per_second=1e6, chat_per_second=1e6, chat_burst=1_000_000, group_per_minute=1e6)


class TimedEmulator(BotApiEmulator):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.queued_at = 0.0  # perf_counter() when the newest update was queued
        self.on_delivered: Callable[[int | None, str | None, float], None] | None = None
        self.polled = asyncio.Event()  # set at every getUpdates: the bot is up and asking
        self.delivered = 0

    def _enqueue(self, kind, obj) -> None:
        self.queued_at = time.perf_counter()
        super()._enqueue(kind, obj)

    def forget(self) -> None:
        """Drop what the emulator keeps for tests to inspect (it only grows), between runs."""
        self.calls.clear()
        self.sent.clear()
        self.written.clear()
        self.update_log.clear()
        self.callback_answers.clear()

    def _done(self, chat_id, query_id) -> None:
        self.delivered += 1
        if self.on_delivered is not None:
            self.on_delivered(chat_id, query_id, time.perf_counter())

    async def _api_getUpdates(self, p: dict):
        self.polled.set()
        return await super()._api_getUpdates(p)

    async def _api_sendMessage(self, p: dict):
        result = await super()._api_sendMessage(p)
        self._done(int(p["chat_id"]), None)
        return result

    async def _api_sendDocument(self, p: dict):
        result = await super()._api_sendDocument(p)
        self._done(int(p["chat_id"]), None)
        return result

    async def _api_answerCallbackQuery(self, p: dict):
        result = await super()._api_answerCallbackQuery(p)
        self._done(None, str(p.get("callback_query_id")))
        return result
