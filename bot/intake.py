"""Polling that loses nothing: store what getUpdates returns, commit, only then ask for more.

Telegram counts an update as confirmed when getUpdates is called with a higher offset, so
by the time it forgets an update, that update is already in our database. When the database
cannot be reached, the intake waits and asks again with the same offset: Telegram keeps what
it could not store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from telegram import Bot
from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot.courier import Backoff, run_inline
from storage import repo

log = logging.getLogger(__name__)
LONG_POLL_SECONDS = 25


async def poll(
    bot: Bot,
    engine: Engine,
    clock: Callable[[], datetime],
    on_stored: Callable[[int], None],
    backoff: Backoff | None = None,
    in_database_thread: Callable[..., Awaitable] | None = None,
) -> None:
    """Runs until cancelled. Cancelling is safe at any point: nothing is confirmed before it is stored.
    `in_database_thread(function, *args)` runs the storing off the event loop (see Courier)."""
    backoff = backoff or Backoff(0.5, 30.0)
    offset = None
    while True:
        try:
            if offset is None:
                with Session(engine) as session:
                    offset = repo.polling_offset(session) or 0
            updates = await bot.do_api_request(
                "getUpdates",
                api_kwargs={"offset": offset, "timeout": LONG_POLL_SECONDS, "limit": 100},
                read_timeout=LONG_POLL_SECONDS + 10,
            )
            if updates:
                await (in_database_thread or run_inline)(repo.store_updates, engine, updates, clock())
                offset = max(offset, max(u["update_id"] for u in updates) + 1)
                log.debug("stored %d updates", len(updates))
                on_stored(len(updates))
        except InvalidToken:
            raise
        except RetryAfter as exc:
            wait = exc.retry_after
            await asyncio.sleep(wait.total_seconds() if isinstance(wait, timedelta) else float(wait))
            continue
        except TelegramError as exc:  # Conflict, NetworkError, TimedOut, 5xx
            delay = backoff.next()
            log.warning("getUpdates failed (%s); retrying in %.1f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            continue
        except SQLAlchemyError as exc:
            delay = backoff.next()
            log.warning(
                "the database cannot be reached; updates stay with Telegram (%s); retrying in %.1f s",
                type(exc).__name__,
                delay,
            )
            await asyncio.sleep(delay)
            continue
        backoff.reset()


async def confirm(bot: Bot, engine: Engine) -> None:
    """On a graceful stop: tell Telegram that everything stored is stored (offset = the next one).

    With timeout 0 and limit 1 the call returns at once; the one update it may return is not
    confirmed by it, so nothing is lost.
    """
    with Session(engine) as session:
        offset = repo.polling_offset(session)
    if offset is None:
        return
    try:
        await bot.do_api_request("getUpdates", api_kwargs={"offset": offset, "timeout": 0, "limit": 1})
    except TelegramError as exc:
        log.warning("could not confirm the stored updates (%s); Telegram sends them again", type(exc).__name__)
