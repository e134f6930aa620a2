"""The load: simulated couples that send updates through the emulator and time the answers.

Each couple has at most one update outstanding; it counts as answered when every Bot API call it
causes has reached the emulator (the shadow engine says how many; the echo bot makes one). So each
call is attributed to the update that caused it, and two kinds of latency come out:

- first reply: update queued in the emulator -> the first call it caused arrives at the emulator;
- all replies: update queued -> the last call it caused arrives (what "answered" means here).

Two ways to offer load:
- `rate`: open loop, one update every 1/rate seconds from whichever couple is ready (the next one in
  turn); if none is ready the update leaves late and that lateness is reported.
- saturation (`rate=None`): closed loop, every couple sends its next update the moment the last one
  is answered, so `len(couples)` updates are in flight at any time.

Every run is bounded: by its number of updates and by a deadline; a couple whose update stays
unanswered for STUCK_AFTER seconds is counted as stuck and leaves the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

from bench.emu import TimedEmulator
from bench.procs import machine_cpu_seconds
from bench.scenario import Script, Shadow, event_for, utc_now
from dialogues.model import Press, Sender

STUCK_AFTER = 15.0


@dataclass(eq=False)
class SimCouple:
    a: object  # emulator.Person (damaged the trust)
    b: object  # emulator.Person (trust was damaged)
    shadow: Shadow
    script: Script
    pending: bool = False
    t0: float = 0.0
    first: float | None = None
    remaining: int = 0
    gone: bool = False  # stuck once: left the run


@dataclass
class RunResult:
    label: str
    offered: float | None  # updates a second offered (None: saturation)
    couples: int
    sent: int = 0
    answered: int = 0
    seconds: float = 0.0  # first update queued -> last one answered
    first_ms: list[float] = field(default_factory=list)
    all_ms: list[float] = field(default_factory=list)
    calls: int = 0
    stuck: int = 0
    unexpected: int = 0  # calls no outstanding update accounts for (should stay 0)
    mismatched: int = 0  # presses whose button was not where the shadow expected it (should stay 0)
    late_ms_max: float = 0.0  # open loop: how late the latest update left (no couple was ready)
    driver_cpu: float = 0.0  # CPU seconds of this process (emulator + driver) during the run
    bot_cpu: float = 0.0  # CPU seconds of the bot process during the run
    machine_cpu: float = 0.0  # CPU seconds every process on the machine used during the run
    postgres_cpu: float = 0.0  # of which the PostgreSQL server processes serving the bot
    wall: float = 0.0  # seconds the run took, start to end

    @property
    def other_cpu(self) -> float:
        """CPU seconds used by processes that are neither the bot, the bench, nor PostgreSQL."""
        return max(0.0, self.machine_cpu - self.bot_cpu - self.driver_cpu - self.postgres_cpu)

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


class Load:
    def __init__(self, emu: TimedEmulator, couples: list[SimCouple], echo: bool, server_cpu=lambda: 0.0) -> None:
        """`server_cpu()`: CPU seconds the database server has spent for the bot so far (PostgreSQL)."""
        self.emu = emu
        self.server_cpu = server_cpu
        self.couples = couples
        self.echo = echo
        self._by_chat = {}
        for couple in couples:
            self._by_chat[couple.a.id] = couple
            self._by_chat[couple.b.id] = couple
        self._by_query: dict[str, SimCouple] = {}
        self._ready: deque[SimCouple] = deque(couples)
        self._wake = asyncio.Event()
        self._result: RunResult | None = None
        self._last_answer = 0.0

    async def run(self, label: str, updates: int, rate: float | None, seconds: float, drain: float = 30.0) -> RunResult:
        """Send up to `updates` updates for up to `seconds` (at `rate` a second, or closed loop), then
        wait up to `drain` seconds for the answers still out."""
        result = self._result = RunResult(label, rate, len(self.couples))
        self.emu.on_delivered = self._delivered
        cpu0 = time.process_time()
        machine0, pg0 = machine_cpu_seconds(), self.server_cpu()
        start = time.perf_counter()
        stop_sending = start + seconds
        end = stop_sending + drain
        first_sent = None
        try:
            while result.sent < updates and time.perf_counter() < stop_sending:
                if rate:
                    due = start + result.sent / rate
                    pause = due - time.perf_counter()
                    if pause > 0:
                        await asyncio.sleep(pause)
                while not self._ready and time.perf_counter() < stop_sending:
                    if not any(c.pending for c in self.couples):
                        break  # every couple is stuck: nothing will come back
                    await self._next_answer()
                if not self._ready:
                    break
                if rate:
                    late = (time.perf_counter() - (start + result.sent / rate)) * 1000
                    result.late_ms_max = max(result.late_ms_max, late)
                couple = self._ready.popleft()
                await self._fire(couple)
                first_sent = first_sent or couple.t0
                result.sent += 1
                if result.sent % 64 == 0:
                    await asyncio.sleep(0)  # let the emulator answer the bot in between
            while any(c.pending for c in self.couples) and time.perf_counter() < end:
                await self._next_answer()
        finally:
            self.emu.on_delivered = None
        result.stuck += sum(1 for c in self.couples if c.pending)
        for couple in self.couples:
            couple.pending = False
        result.seconds = (self._last_answer - first_sent) if first_sent and self._last_answer else 0.0
        result.driver_cpu = time.process_time() - cpu0
        result.machine_cpu = machine_cpu_seconds() - machine0
        result.postgres_cpu = max(0.0, self.server_cpu() - pg0)
        result.wall = time.perf_counter() - start
        self._ready = deque(c for c in self.couples if not c.gone)
        return result

    async def _fire(self, couple: SimCouple) -> None:
        who, kind, value = couple.script.next()
        person = couple.a if who == "a" else couple.b
        language = couple.script.language
        sender = Sender(person.id, person.name, language)
        event = event_for(sender, kind, value, couple.shadow)
        expected = couple.shadow.apply(event, utc_now())
        couple.remaining = 1 if self.echo else expected
        couple.first = None
        couple.pending = True
        if isinstance(event, Press):
            query = await person.press_data(self._message_with(person, event.data), event.data)
            self._by_query[query["id"]] = couple
        else:
            await person.send(f"/{value}" if kind == "command" else value)
        couple.t0 = self.emu.queued_at

    def _message_with(self, person, data: str) -> int:
        """The newest message in the person's chat that carries this button (the echo bot sends none)."""
        if self.echo:
            return 1
        for received in reversed(person.inbox):
            for row in received.buttons:
                if any(b.callback_data == data for b in row):
                    return received.message_id
        self._result.mismatched += 1
        return person.inbox[-1].message_id if person.inbox else 1

    def _delivered(self, chat_id: int | None, query_id: str | None, now: float) -> None:
        result = self._result
        couple = self._by_chat.get(chat_id) if chat_id is not None else self._by_query.pop(query_id, None)
        if couple is None or not couple.pending:
            result.unexpected += 1
            return
        result.calls += 1
        if couple.first is None:
            couple.first = now
        couple.remaining -= 1
        if couple.remaining > 0:
            return
        couple.pending = False
        result.answered += 1
        result.first_ms.append((couple.first - couple.t0) * 1000)
        result.all_ms.append((now - couple.t0) * 1000)
        self._last_answer = now
        self._ready.append(couple)
        self._wake.set()

    async def _next_answer(self) -> None:
        """Wait for the bot to answer something (half a second at most), giving up on stuck couples."""
        self._wake.clear()
        self._drop_stuck()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), 0.5)

    def _drop_stuck(self) -> None:
        now = time.perf_counter()
        for couple in self.couples:
            if couple.pending and now - couple.t0 > STUCK_AFTER:
                couple.pending = False
                couple.gone = True
                self._result.stuck += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
