"""The operator's endpoint: /healthz, /readyz and /metrics, on HERSTEL_HEALTH_LISTEN:HERSTEL_HEALTH_PORT.

- /healthz: 200 while the process runs.
- /readyz: 200 when the database answers within DATABASE_TIMEOUT seconds and Telegram was heard from
  within READY_WITHIN seconds (polling: a getUpdates answered; webhook: the webhook server listens);
  503 with the reason's kind otherwise.
- /metrics: Prometheus' text format (bot/metrics.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine, text

from bot.metrics import Metrics

log = logging.getLogger(__name__)
DATABASE_TIMEOUT = 3.0
READY_WITHIN = 120.0  # a long poll lasts 25 s; two missed in a row is trouble


class HealthServer:
    def __init__(self, engine: Engine, metrics: Metrics, telegram_heard: Callable[[], float | None]) -> None:
        """`telegram_heard()` is how many seconds ago Telegram was last heard from (None: not yet)."""
        self._engine, self._metrics, self._heard = engine, metrics, telegram_heard
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as exc:  # the bot matters more than its endpoint: it goes on, and says so loudly
            log.error("no /healthz, /readyz or /metrics: cannot listen on %s:%s (%s)", host, port, exc.strerror)
            await self.stop()
            return
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(asyncio.to_thread(self._ping), DATABASE_TIMEOUT)
        except Exception as exc:  # a time-out or any database error: not ready, and say which kind
            return web.Response(status=503, text=f"database unavailable ({type(exc).__name__})\n")
        heard = self._heard()
        if heard is None or heard > READY_WITHIN:
            return web.Response(status=503, text="telegram not heard from\n")
        return web.Response(text="ready\n")

    async def _metrics_page(self, request: web.Request) -> web.Response:
        body = await asyncio.to_thread(self._metrics.scrape)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _ping(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))
