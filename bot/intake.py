"""Polling that loses nothing: store what getUpdates returns, commit, only then ask for more.

Telegram counts an update as confirmed when getUpdates is called with a higher offset, so
by the time it forgets an update, that update is already in our database.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Callable

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import Bot
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError

from storage import repo

log = logging.getLogger(__name__)
LONG_POLL_SECONDS = 25
MAX_BACKOFF = 30.0


async def poll(bot: Bot, engine: Engine, clock: Callable[[], datetime], on_stored: Callable[[], None]) -> None:
    """Runs until cancelled. Cancelling is safe at any point: nothing is confirmed before it is stored."""
    with Session(engine) as session:
        offset = repo.polling_offset(session)
    failures = 0
    while True:
        try:
            updates = await bot.do_api_request(
                "getUpdates",
                api_kwargs={"offset": offset, "timeout": LONG_POLL_SECONDS, "limit": 100},
                read_timeout=LONG_POLL_SECONDS + 10,
            )
        except InvalidToken:
            raise
        except RetryAfter as exc:
            await asyncio.sleep(float(getattr(exc.retry_after, "total_seconds", lambda: exc.retry_after)()))
            continue
        except (Conflict, NetworkError, TelegramError) as exc:
            failures += 1
            delay = min(MAX_BACKOFF, 0.5 * 2 ** min(failures, 8))
            log.warning("getUpdates failed (%s); retrying in %.1f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            continue
        failures = 0
        if updates:
            repo.store_updates(engine, updates, clock())
            offset = max(u["update_id"] for u in updates) + 1
            log.debug("stored %d updates", len(updates))
            on_stored()
