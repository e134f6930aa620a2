"""Delivers the outbox: each chat's calls in order, after the commit, and never gives up on a person.

At-least-once: a call is marked sent after Telegram accepted it, so a crash between the
two sends it again on restart. That gap is the only place a duplicate can come from.

Several processes may deliver from one PostgreSQL database. Only the oldest unsent call of a
chat is due, and a call is made while its row is locked (SELECT … FOR UPDATE SKIP LOCKED) until
it is marked sent in the same transaction. So each call leaves from one process, and one chat's
calls leave in order. A crash releases the lock at once; nothing waits for a lease to run out.

What Telegram answers decides what happens next:
- 429: wait `retry_after` seconds, then try again.
- 5xx, a timeout, a dropped connection: back off (doubling, capped) and try again, for ever.
- 400: never retried; logged without any text. "message is too long" is fixed by sending the
  text in parts (the rest is kept in the row, so a crash resends at most one part).
- 403 from a person: they blocked the bot. Their calls wait until they write again, and their
  partner is told once (see `unit_of_work.unreachable`). A 403 from a group is given up.

Pace (see `Pace`): all calls together leave at `per_second` (HERSTEL_SEND_RATE, 25 by default,
below Telegram's ~30); messages into one chat may come in a burst of `chat_burst` (40), then at most
`chat_per_second` (Telegram: "avoid more than one message a second in one chat; short bursts are
tolerated"). Both are token buckets in this process: two processes each keep their own pace.
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from telegram import Bot, InputFile
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)

from bot.split import LIMIT, split_html
from storage import repo

log = logging.getLogger(__name__)
REST = "herstel_rest"  # in a call's stored params: the parts of a too long text still to send
POSTING = ("send", "edit", "copy", "forward")  # methods that put a message in a chat


@dataclass(frozen=True)
class Pace:
    """How fast calls leave, and how long to wait when Telegram cannot be reached."""

    per_second: float = 25.0  # every call together (HERSTEL_SEND_RATE)
    chat_per_second: float = 1.0  # messages into one chat, once a burst is used up
    chat_burst: int = 40  # after a quiet spell; the emulator in the tests tolerates 40, its default 20
    backoff_base: float = 0.5  # first pause after a 5xx or network error; doubles each time
    backoff_cap: float = 30.0
    read_timeout: float = 10.0  # seconds to wait for Telegram's answer to one call
    parallel: int = 16  # calls (to as many chats) made side by side; the HTTP pool holds more (bot/app.py)


async def nap(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` have passed. (Not asyncio.wait_for(event.wait()): on Python
    3.11 a cancel that meets its timeout can be lost, and a task cancelled there never ends.)"""
    if event.is_set():
        return
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter], timeout=seconds)
    finally:
        waiter.cancel()


class Backoff:
    """Pauses that double from `base` up to `cap`; reset after a success."""

    def __init__(self, base: float, cap: float) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def next(self) -> float:
        self.failures += 1
        return min(self.cap, self.base * 2 ** min(self.failures - 1, 30))

    def reset(self) -> None:
        self.failures = 0


class _Bucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, float(burst), now

    def wait(self, now: float) -> float:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class Limiter:
    """Token buckets: one for every call, one per chat for calls that post a message."""

    def __init__(self, pace: Pace, clock: Callable[[], float] = time.monotonic) -> None:
        self._pace, self._clock = pace, clock
        self._all = _Bucket(pace.per_second, max(1.0, pace.per_second), clock())
        self._chats: dict[int, _Bucket] = {}

    def wait(self, chat_id: int, method: str) -> float:
        """Seconds until this call may leave (0: now)."""
        now = self._clock()
        wait = self._all.wait(now)
        if method.lower().startswith(POSTING):
            bucket = self._chats.get(chat_id)
            if bucket is None:
                if len(self._chats) > 10_000:  # forget chats whose bucket is full again
                    self._chats = {k: b for k, b in self._chats.items() if b.wait(now) == 0 and b.tokens < b.burst}
                bucket = self._chats[chat_id] = _Bucket(self._pace.chat_per_second, self._pace.chat_burst, now)
            wait = max(wait, bucket.wait(now))
        return wait

    def take(self, chat_id: int, method: str) -> None:
        self._take(chat_id, method, 1)

    def give_back(self, chat_id: int, method: str) -> None:
        """A call taken for that another process made: its place goes to the next."""
        self._take(chat_id, method, -1)

    def _take(self, chat_id: int, method: str, tokens: int) -> None:
        self._all.tokens -= tokens
        if method.lower().startswith(POSTING):
            self._chats[chat_id].tokens -= tokens


class Courier:
    def __init__(
        self,
        bot: Bot,
        engine: Engine,
        pace: Pace | None = None,
        on_blocked: Callable[[int], Awaitable[None] | None] | None = None,
        in_database_thread: Callable[..., Awaitable] | None = None,
    ) -> None:
        """`in_database_thread(function, *args)` runs blocking database work off the event loop
        (the bot's thread for units of work), so waiting for SQLite's write lock never stalls the loop."""
        self._bot = bot
        self._engine = engine
        self.pace = pace or Pace()
        self._limiter = Limiter(self.pace)
        self.backoff = Backoff(self.pace.backoff_base, self.pace.backoff_cap)
        self.sleep = asyncio.sleep  # every pause after a refusal or an error goes through here
        self._on_blocked = on_blocked
        self._in_database_thread = in_database_thread or run_inline
        self._wake = asyncio.Event()
        self.idle = asyncio.Event()
        self._stopping = False

    # The loop ----------------------------------------------------------------------------

    def wake(self) -> None:
        """Something was committed to the outbox (or someone became reachable)."""
        self.idle.clear()
        self._wake.set()

    def stop_soon(self) -> None:
        """Finish the call in hand, then stop."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.deliver_due()
            except SQLAlchemyError as exc:
                delay = self.backoff.next()
                log.warning(
                    "the database cannot be reached from the courier (%s); retrying in %.1f s",
                    type(exc).__name__,
                    delay,
                )
                await self.sleep(delay)
                continue
            if self._stopping:
                return
            if not self._wake.is_set():
                self.idle.set()
            await nap(self._wake, 1.0)

    async def deliver_due(self) -> None:
        """Send every due call; returns when none is left (or all that remain wait on a blocked person)."""
        while not self._stopping:
            due = await self._in_database_thread(self._due_calls)
            if not due:
                return
            # Work through this list, round by round, as long as each round goes as planned;
            # anything else (a refusal, a pause, a call in other hands, a text in parts) reads it again.
            while due and not self._stopping:
                batch, waits = self._next_round(due)
                if not batch:
                    await asyncio.sleep(min(waits) if waits else 0.05)
                    continue
                done, as_planned = await self._deliver(batch)
                due = [queued for queued in due if queued.id not in done]
                if not as_planned:
                    break
            if not due and not self._wake.is_set():
                return  # all sent, and nothing new was queued meanwhile

    def _next_round(self, due: list[repo.QueuedCall]) -> tuple[list[repo.QueuedCall], list[float]]:
        """The first due call of each chat, as far as the pace allows, up to `parallel` of them; and,
        for those the pace holds back, how long until they may go."""
        batch, waits, chats = [], [], set()
        for queued in due:
            call = queued.call
            if call.chat_id in chats:
                continue
            chats.add(call.chat_id)  # a chat's later calls wait for its first
            wait = self._limiter.wait(call.chat_id, call.method)
            if wait > 0:
                waits.append(wait)
                continue
            self._limiter.take(call.chat_id, call.method)
            batch.append(queued)
            if len(batch) == self.pace.parallel:
                break
        return batch, waits

    # One batch ---------------------------------------------------------------------------

    async def _deliver(self, batch: list[repo.QueuedCall]) -> tuple[set[int], bool]:
        """One attempt at each call of a batch (each a different chat), made side by side while their
        rows are locked, recorded in one commit. Returns the calls that are done, and whether all went
        as planned. A call that is not finished stays due."""
        with Session(self._engine) as session:
            locked = await self._in_database_thread(repo.lock_calls, session, [queued.id for queued in batch])
            for queued in batch:
                if queued.id not in locked:  # sent meanwhile, or another process is sending it
                    self._limiter.give_back(queued.call.chat_id, queued.call.method)
            mine = [queued for queued in batch if queued.id in locked]
            if not mine:
                await asyncio.sleep(0.05)  # in other hands: look again shortly
                return set(), False
            answers = await asyncio.gather(*(self._attempt(queued.call) for queued in mine))
            done, blocked, pause = await self._in_database_thread(self._record, session, mine, answers)
        if pause:
            log.info("rate limited; waiting %.0f s", pause)
        failed = any(
            a is not None and not isinstance(a, (RetryAfter, Forbidden, BadRequest, ChatMigrated, EndPointNotFound))
            for a in answers
        )
        if failed:
            pause = max(pause, self.backoff.next())
            log.warning("retrying in %.1f s", pause)
        elif done:
            self.backoff.reset()
        for queued in blocked:
            await self._forbidden(queued)
        if pause:
            await self.sleep(pause)
        return set(done), len(done) == len(batch)

    def _due_calls(self) -> list[repo.QueuedCall]:
        with Session(self._engine) as session:
            return repo.due_calls(session, limit=200)

    def _record(self, session: Session, mine: list[repo.QueuedCall], answers: list) -> tuple[list[int], list, float]:
        """What Telegram answered, in the batch's transaction, then its commit (which ends the locks).
        Returns the calls done, those to people who blocked the bot, and how long to pause."""
        done, blocked, pause = [], [], 0.0
        for queued, answer in zip(mine, answers, strict=True):
            if answer is None:
                if not self._next_part(session, queued):
                    done.append(queued.id)
            elif isinstance(answer, RetryAfter):
                wait = answer.retry_after
                pause = max(pause, wait.total_seconds() if isinstance(wait, timedelta) else float(wait))
            elif isinstance(answer, Forbidden):
                blocked.append(queued)
            elif isinstance(answer, (BadRequest, ChatMigrated, EndPointNotFound)):
                self._refused(session, queued, answer)
            elif not isinstance(answer, InvalidToken):  # NetworkError, TimedOut, 5xx: Telegram may get over it
                log.warning("could not reach Telegram for %s (%s)", queued.call.method, type(answer).__name__)
        repo.mark_sent(session, done)
        session.commit()
        refused_token = next((a for a in answers if isinstance(a, InvalidToken)), None)
        if refused_token is not None:
            raise refused_token
        return done, blocked, pause

    async def _attempt(self, call: repo.Call) -> TelegramError | None:
        """Make one call; None if Telegram accepted it, else what it answered."""
        try:
            await self._bot.do_api_request(
                call.method, api_kwargs=_sendable(call.params), read_timeout=self.pace.read_timeout
            )
        except TelegramError as exc:
            return exc
        return None

    def _next_part(self, session: Session, queued: repo.QueuedCall) -> bool:
        """A text sent in parts: the next part becomes the call. False if the call is done."""
        rest = queued.call.params.get(REST)
        if rest:
            repo.replace_params(session, queued.id, {**queued.call.params, "text": rest[0], REST: rest[1:]})
        return bool(rest)

    def _refused(self, session: Session, queued: repo.QueuedCall, exc: TelegramError) -> None:
        """Telegram will refuse this call however often we try: fix it if we can, else record it."""
        call = queued.call
        reason = _reason(exc.message)
        if "too long" in reason and call.method == "sendMessage" and isinstance(call.params.get("text"), str):
            parts = _smaller_parts(call.params["text"])
            if len(parts) > 1:
                log.warning("Telegram found message %s too long; sending it in %d parts", queued.id, len(parts))
                rest = [*parts[1:], *call.params.get(REST, [])]
                repo.replace_params(session, queued.id, {**call.params, "text": parts[0], REST: rest})
                return
        log.error("Telegram refused %s (call %s): %s", call.method, queued.id, reason)
        repo.mark_sent(session, [queued.id])

    async def _forbidden(self, queued: repo.QueuedCall) -> None:
        """A person who blocked the bot keeps their messages until they write again; a group is given up."""
        chat_id = queued.call.chat_id
        with Session(self._engine) as session:
            person = chat_id > 0 and repo.person_exists(session, chat_id)
            if not person:
                repo.mark_sent(session, [queued.id])
                session.commit()
                log.info("a group or unknown chat refused call %s; given up", queued.id)
                return
        log.info("person %s cannot be reached (blocked the bot); holding their messages", chat_id)
        if self._on_blocked is not None:
            result = self._on_blocked(chat_id)
            if asyncio.iscoroutine(result):
                await result
        else:
            with Session(self._engine) as session:
                repo.set_reachable(session, chat_id, False)
                session.commit()


async def run_inline(function, *args):
    return function(*args)


def _sendable(params: dict) -> dict:
    """The parameters as Telegram gets them: files as uploads, and, while a text is sent in parts,
    its buttons only under the last part."""
    sendable = {}
    for key, value in params.items():
        if key == REST:
            continue
        if isinstance(value, dict) and "base64" in value:
            value = InputFile(base64.b64decode(value["base64"]), filename=value.get("filename"))
        sendable[key] = value
    if params.get(REST):
        sendable.pop("reply_markup", None)
    return sendable


def _reason(description: str) -> str:
    """Telegram's description, without anything quoted from the message (it may hold what someone wrote)."""
    reason = re.sub(r"^(Bad Request|Forbidden):\s*", "", description or "", flags=re.IGNORECASE)
    reason = reason.split(":", 1)[0]
    reason = re.sub(r"(\"[^\"]*\"|'[^']*'|`[^`]*`)", "…", reason)
    return reason[:80].strip().lower() or "no reason given"


def _smaller_parts(text: str) -> list[str]:
    """Split a text Telegram found too long: at the usual limit if it is above it, else in halves."""
    width = len(html.unescape(re.sub(r"<[^>]*>", "", text)).encode("utf-16-le")) // 2
    limit = LIMIT if width > LIMIT else -(-width // 2)
    return split_html(text, limit=max(1, limit))
