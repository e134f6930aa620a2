"""Prometheus metrics for one HerstelBot, in a registry of its own (several bots in one test process
never share a counter).

No label carries a person's id, name or text: the labels are Bot API method names and answer kinds.
Depths and ages (outbox, schedules, set-aside updates) are read from the database when scraped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from storage import status

T = TypeVar("T")
RESULTS = {200: "ok", 400: "bad_request", 403: "forbidden", 429: "too_many_requests"}


class Metrics:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("herstel_updates_received", "Updates stored from Telegram", registry=r)
        self.handled = Counter("herstel_updates_handled", "Updates handled in a unit of work", registry=r)
        self.failed = Counter("herstel_updates_failed", "Units of work for an update that failed", registry=r)
        self.unit_seconds = Histogram(
            "herstel_unit_of_work_seconds",
            "How long one unit of work for an update took",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.api_calls = Counter(
            "herstel_bot_api_calls", "Bot API calls by method and answer", ["method", "result"], registry=r
        )
        r.register(_FromDatabase(engine, clock))

    def unit(self, work: Callable[..., T]) -> Callable[..., T]:
        """`work` (a unit of work for an update), timed and counted: True means handled here."""

        def timed(*args: Any) -> T:
            started = time.perf_counter()
            try:
                result = work(*args)
            except Exception:
                self.failed.inc()
                raise
            finally:
                self.unit_seconds.observe(time.perf_counter() - started)
            if result:
                self.handled.inc()
            return result

        return timed

    def api_call(self, method: str, status_code: int | None) -> None:
        """One Bot API answer (None: no answer, a network error or a time-out)."""
        result = "no_answer" if status_code is None else RESULTS.get(status_code, f"{status_code // 100}xx")
        self.api_calls.labels(method=method if method.isalnum() else "other", result=result).inc()

    def scrape(self) -> bytes:
        return generate_latest(self.registry)


class _FromDatabase(Collector):
    """Depths and ages, counted in the database at each scrape (cheap: each is one indexed count)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine, self._clock = engine, clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            now = self._clock()
            s = status.read(self._engine, now)
        except Exception:  # the database is away: /readyz says so; the counters above still answer
            return
        yield GaugeMetricFamily("herstel_updates_pending", "Stored updates not handled yet", s.pending_updates)
        aside = GaugeMetricFamily("herstel_updates_set_aside", "Updates set aside after failing", labels=["reason"])
        for reason, count in s.set_aside.items():
            aside.add_metric([reason if reason.replace("_", "").isalnum() else "other"], count)
        yield aside
        yield GaugeMetricFamily("herstel_outbox_depth", "Bot API calls waiting in the outbox", s.outbox)
        yield GaugeMetricFamily("herstel_outbox_held", "Calls held for people who blocked the bot", s.held_calls)
        yield GaugeMetricFamily(
            "herstel_courier_wait_seconds", "Age of the oldest call in the outbox", s.oldest_call_seconds or 0
        )
        yield GaugeMetricFamily("herstel_schedules_overdue", "Schedules past their time", s.overdue_schedules)
        yield GaugeMetricFamily(
            "herstel_schedule_lag_seconds", "How late the oldest overdue schedule is", s.oldest_overdue_seconds or 0
        )
