"""Delivers the outbox: in order, after the commit, and never gives up on a person.

At-least-once: a call is marked sent after Telegram accepted it, so a crash between the
two sends it again on restart. That gap is the only place a duplicate can come from.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from storage import repo

log = logging.getLogger(__name__)
MAX_BACKOFF = 30.0


class Courier:
    def __init__(self, bot: Bot, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._bot = bot
        self._engine = engine
        self._clock = clock
        self._failures = 0

    async def deliver_due(self) -> None:
        """Send every due call; returns when none is left (or all that remain wait on a blocked person)."""
        while True:
            with Session(self._engine) as session:
                due = repo.due_calls(session, limit=50)
            if not due:
                return
            for queued in due:
                await self._deliver(queued)

    async def _deliver(self, queued: repo.QueuedCall) -> None:
        call = queued.call
        while True:
            try:
                await self._bot.do_api_request(call.method, api_kwargs=call.params)
            except RetryAfter as exc:
                wait = exc.retry_after
                seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
                log.info("rate limited on %s; waiting %.0f s", call.method, seconds)
                await asyncio.sleep(seconds)
                continue
            except Forbidden:
                self._finish_forbidden(queued)
                return
            except BadRequest as exc:
                # Telegram will refuse this call however often we try: record it and move on.
                log.error("Telegram refused %s (call %s): %s", call.method, queued.id, exc.message)
                self._mark(queued.id, failed=True)
                return
            except (NetworkError, TelegramError) as exc:
                self._failures += 1
                delay = min(MAX_BACKOFF, 0.5 * 2 ** min(self._failures, 8))
                log.warning("could not reach Telegram (%s); retrying in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            self._failures = 0
            self._mark(queued.id)
            return

    def _finish_forbidden(self, queued: repo.QueuedCall) -> None:
        """A person who blocked the bot keeps their messages until they write again; a group is given up."""
        with Session(self._engine) as session:
            if queued.call.chat_id > 0 and repo.person_exists(session, queued.call.chat_id):
                log.info("person %s blocked the bot; holding their messages", queued.call.chat_id)
                repo.set_reachable(session, queued.call.chat_id, False)
            else:
                repo.mark_sent(session, queued.id, self._clock(), failed=True)
            session.commit()

    def _mark(self, call_id: int, failed: bool = False) -> None:
        with Session(self._engine) as session:
            repo.mark_sent(session, call_id, self._clock(), failed=failed)
            session.commit()
