"""The webhook: Telegram POSTs each update; we store it durably, then answer 200.

python-telegram-bot's own webhook answers 200 and only then queues the update, so a crash
after the answer loses it. Here the answer comes after the commit: Telegram repeats any
update that did not get a 2xx, and the inbox keeps each update_id once, so an update is
never lost and never handled twice. The worker handles stored updates as in polling mode.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from storage import repo

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


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
            log.warning("webhook request without the right secret token; refused")
            return web.Response(status=403)
        try:
            update = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
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
