"""The webhook: Telegram POSTs each update; we store it durably, then answer 200.

python-telegram-bot's own webhook answers 200 and only then queues the update, so a crash
after the answer loses it. Here the answer comes after the commit: Telegram repeats any
update that did not get a 2xx, and the inbox keeps each update_id once, so an update is
never lost and never handled twice. The worker handles stored updates as in polling mode.

Only a request with the secret token and a body that is an update (a JSON object with an integer
`update_id`) is stored. Anything else is refused without a traceback: 403 without the secret
(counted, and logged at most once a minute, so a scanner cannot flood the log), 400 for a body
that is not an update, however deeply it nests.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from storage import repo

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
REFUSALS_LOGGED_EVERY = timedelta(minutes=1)


def as_update(body: bytes) -> dict | None:
    """The update a request body holds, or None: an object whose `update_id` (and sender's id, if any)
    is an integer (not a bool) that fits the database."""
    try:
        update = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than json can read
        return None
    if not isinstance(update, dict):
        return None
    sender = repo.sender_id(update)
    return update if _id(update.get("update_id")) and (sender is None or _id(sender)) else None


def _id(value: object) -> bool:
    """An id as Telegram gives them and the database keeps them: an integer (not a bool) in 64 bits."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


class WebhookServer:
    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime],
        secret: str,
        path: str,
        on_stored: Callable[[], None],
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret token")
        self._engine, self._clock, self._secret = engine, clock, secret.encode()
        self._path, self._on_stored = path, on_stored
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.refused = 0  # requests without the right secret, since start
        self._refusals_logged: tuple[datetime, int] | None = None  # when, and the count then

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post(self._path, self._receive)
        # shutdown_timeout: on stop, a request in hand still gets stored and answered.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = self._runner.addresses[0][1]
        log.info("webhook listening on port %s", self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            self._refuse()
            return web.Response(status=403)
        update = as_update(await request.read())
        if update is None:
            return web.Response(status=400)
        try:
            repo.store_updates(self._engine, [update], self._clock(), track_offset=False)
        except SQLAlchemyError as exc:
            # Not stored: a non-2xx answer makes Telegram send it again later.
            log.warning(
                "the database cannot be reached; update %s left with Telegram (%s)",
                update["update_id"],
                type(exc).__name__,
            )
            return web.Response(status=503)
        self._on_stored()
        return web.Response(status=200)

    def _refuse(self) -> None:
        """Count a refused request; log the count at most once a minute."""
        self.refused += 1
        now = self._clock()
        last = self._refusals_logged
        if last is None or now - last[0] >= REFUSALS_LOGGED_EVERY:
            since = self.refused - (last[1] if last else 0)
            log.warning(
                "refused %d webhook request(s) without the right secret token (%d since start)", since, self.refused
            )
            self._refusals_logged = (now, self.refused)
