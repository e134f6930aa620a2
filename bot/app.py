"""The running bot: a python-telegram-bot Application without its own Updater.

Three loops share one event loop: the intake stores updates (polling, or the webhook server
when HERSTEL_WEBHOOK_URL is set), the worker turns each stored update into one unit of work
through the Application's handler, and the courier delivers the outbox after each commit.
Units of work (blocking database transactions) run in threads of their own, so the loop stays
free to record sends and answer the webhook meanwhile: one at a time on SQLite, several side by
side on PostgreSQL. The worker is fair: each round, every person with an update waiting gets one
turn (their oldest), and an update that fails waits out its own pause while everyone else goes on.
None of them stops for Telegram or database trouble: they wait, log the kind of error (never
its text), and go on. `stop()` is graceful: see there.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import time
import traceback
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from sqlalchemy.exc import InterfaceError as DatabaseInterfaceError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session
from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.warnings import PTBUserWarning

from bot import intake, unit_of_work
from bot.courier import Backoff, Courier, Pace, nap
from bot.health import HealthServer
from bot.metrics import Metrics
from bot.settings import Settings
from bot.transport import AiohttpRequest
from bot.webhook import WebhookServer
from dialogues.model import known
from dialogues.texts import LANGUAGES, Texts
from storage import privacy, repo, secret, status
from storage.db import checkpoint, current_revision, make_engine, migrate

log = logging.getLogger(__name__)
# The outbox stores generic calls (method and parameters), and the intake needs raw update
# dicts to store, so both use Bot.do_api_request on purpose.
warnings.filterwarnings("ignore", r"Please use 'Bot\.\w+' instead of", PTBUserWarning)
COMMANDS = (
    "start",
    "menu",
    "pause",
    "settings",
    "progress",
    "language",
    "help",
    "export",
    "delete",
    "leave",
    "therapist",
    "couples",
)
BATCH = 200  # due schedules looked up at a time
GIVE_UP_AFTER = 5  # attempts before a failing update is set aside (kept in the inbox, not retried)


async def off_the_loop(units: ThreadPoolExecutor, work, *args):
    """Run a unit of work (blocking database calls) in the threads for units of work, so the courier
    can record a send and the webhook can answer meanwhile (on SQLite one thread: one at a time, as
    SQLite needs). A cancel waits for it to end: a unit of work never stops half-way."""
    running = asyncio.get_running_loop().run_in_executor(units, work, *args)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait([running])
        raise


def version() -> str:
    try:
        return package_version("herstel")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def utc_now() -> datetime:
    return datetime.now(UTC)


class HerstelBot:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now, pace: Pace | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.pace = pace or Pace(per_second=settings.send_rate, chat_burst=settings.chat_burst)
        secret.configure(settings.keys)
        self.engine = make_engine(settings.database_url)
        self.metrics = Metrics(self.engine, clock)
        self.health = HealthServer(self.engine, self.metrics, self._telegram_heard)
        self._heard_at: float | None = None  # time.monotonic() when Telegram last answered getUpdates or posted
        self._contact_noted: datetime | None = None
        self.application = (
            Application.builder()
            .token(settings.token)
            .base_url(f"{settings.bot_api_url}/bot")
            .base_file_url(f"{settings.bot_api_url}/file/bot")
            .request(
                AiohttpRequest(connections=self.pace.parallel + 4, observe=self._answered)
            )  # the courier's calls, the long poll, spare
            .get_updates_request(AiohttpRequest(connections=1, observe=self._answered))
            .updater(None)
            .build()
        )
        self.application.add_handler(TypeHandler(Update, self._handle))
        self.application.add_error_handler(self._on_error)
        self.texts: Texts | None = None
        # SQLite takes one writer at a time: one thread. PostgreSQL: units of work side by side.
        parallel = settings.parallel_units if self.engine.dialect.name == "postgresql" else 1
        self._units = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="unit-of-work")
        self._slots = asyncio.Semaphore(parallel)
        self._running: dict[int, asyncio.Task] = {}  # a unit of work in hand, by person
        self._outcomes: dict[int, bool] = {}  # update id -> handled here (False: done already, or in other hands)
        self._retry_at: dict[int, float] = {}  # update id -> monotonic moment it may be tried again
        self.retry_pause: Callable[[int], float] = lambda attempts: float(min(attempts, 5))
        self.courier = Courier(
            self.application.bot,
            self.engine,
            self.pace,
            on_blocked=self._unreachable,
            in_database_thread=self._in_database_thread,
        )
        self.webhook: WebhookServer | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._database_down = False
        self._backoff = Backoff(self.pace.backoff_base, self.pace.backoff_cap)

    async def start(self) -> None:
        migrate(self.engine)
        privacy.check_keys(self.engine)  # a wrong key stops here, before any update is taken in
        await self.health.start(self.settings.health_listen, self.settings.health_port)
        await self._until_telegram_answers("getMe", self.application.initialize)
        self.texts = Texts(bot_username=self.application.bot.username)
        await self._set_commands()
        await self.application.start()
        # Schedules are rows, not jobs: this one repeating job only looks for rows that are due.
        known(self.application.job_queue).run_repeating(
            self._tick_job, interval=self.settings.tick_seconds, first=0.5, name="schedules"
        )
        self._last_purge: datetime | None = None
        bot = self.application.bot
        if self.settings.webhook_url:
            # Listen first, then tell Telegram where: its first delivery finds us ready.
            s = self.settings
            self.webhook = WebhookServer(self.engine, self.clock, s.webhook_secret_token, s.webhook_path, self._stored)
            await self.webhook.start(s.webhook_listen, s.webhook_port)
            await self._until_telegram_answers(
                "setWebhook",
                lambda: bot.do_api_request(
                    "setWebhook", api_kwargs={"url": s.webhook_url, "secret_token": s.webhook_secret_token}
                ),
            )
            self._tasks = []
        else:
            await self._until_telegram_answers("deleteWebhook", lambda: bot.do_api_request("deleteWebhook"))
            backoff = Backoff(self.pace.backoff_base, self.pace.backoff_cap)
            self._tasks = [
                asyncio.create_task(
                    intake.poll(bot, self.engine, self.clock, self._stored, backoff, self._in_database_thread),
                    name="intake",
                )
            ]
        self._tasks += [
            asyncio.create_task(self._work(), name="worker"),
            asyncio.create_task(self.courier.run(), name="courier"),
        ]
        # What start-up made (modules, templates, mappers) lives as long as the process: kept out of the
        # garbage collector's full passes, which otherwise walk it all and pause the loop for tens of ms.
        gc.collect()
        gc.freeze()
        log.info(
            "Herstel %s is running as @%s: %s, %s database at migration %s, health and metrics on %s:%s",
            version(),
            bot.username,
            f"webhook on port {self.webhook.port}" if self.webhook else "polling",
            self.engine.dialect.name,
            current_revision(self.engine),
            self.settings.health_listen,
            self.health.port,
        )

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking updates in, finish the update and the call in hand, confirm what is stored, exit."""
        self._stopping = True
        intake_task = next((t for t in self._tasks if t.get_name() == "intake"), None)
        if intake_task:
            intake_task.cancel()  # safe at any point: nothing is confirmed before it is stored
        if self.webhook:
            await self.webhook.stop()  # a request in hand is still stored and answered
        self.courier.stop_soon()
        self._wake.set()
        working = [t for t in self._tasks if t is not intake_task]
        if working:
            _, late = await asyncio.wait(working, timeout=grace)
            for task in late:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tasks and not self.webhook and self.application.running:
            await intake.confirm(self.application.bot, self.engine)
        self._tasks = []
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        await self.health.stop()
        self._units.shutdown(wait=True)  # every unit of work was awaited above; this only ends the thread
        self.engine.dispose()

    async def run_until_stopped(self, stop: asyncio.Event) -> None:
        stopped = asyncio.create_task(stop.wait())
        starting = asyncio.create_task(self.start())  # may wait a long time for Telegram; a stop ends that
        try:
            await asyncio.wait([starting, stopped], return_when=asyncio.FIRST_COMPLETED)
            if not stopped.done():
                starting.result()
                done, _ = await asyncio.wait([stopped, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not stopped and (error := task.exception()):
                        raise error
        finally:
            for task in (starting, stopped):
                task.cancel()
            await asyncio.gather(starting, stopped, return_exceptions=True)
            await self.stop()

    async def settled(self, timeout: float = 10.0) -> None:
        """Wait until every stored update is handled and every deliverable message delivered."""

        async def both_idle() -> None:
            while not (self._idle.is_set() and self.courier.idle.is_set()):
                await self._idle.wait()
                await self.courier.idle.wait()

        await asyncio.wait_for(both_idle(), timeout)

    async def tick(self) -> int:
        """Handle every schedule that is due by the bot's clock; returns how many this process took.

        Each due row is its own unit of work. On PostgreSQL a row is locked with SKIP LOCKED
        while it is handled, so several processes never handle the same row.
        """
        now = self.clock()
        taken = 0
        seen: set[int] = set()
        while not self._stopping:  # in batches, until none is due: a burst never waits for the next tick
            with Session(self.engine) as session:
                due = [i for i in repo.due_schedule_ids(session, now, limit=BATCH) if i not in seen]
            seen.update(due)  # a row another process holds is not looked at twice in one tick
            for schedule_id in due:
                if await off_the_loop(self._units, unit_of_work.due, self.engine, schedule_id, now, self.texts):
                    taken += 1
                    self.courier.wake()  # the first check-ins leave while the rest are still being made
            if not due:
                break
        if self._last_purge is None or now - self._last_purge > timedelta(hours=1):
            with Session(self.engine) as session:
                privacy.purge(session, now, self.settings.retention_days)
                session.commit()
            checkpoint(self.engine)
            self._last_purge = now
        self._note_contact(now)
        if taken:
            self.courier.wake()
        return taken

    async def _in_database_thread(self, work, *args):
        return await off_the_loop(self._units, work, *args)

    async def _tick_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await self.tick()
        except SQLAlchemyError as exc:
            log.warning("schedules wait: the database cannot be reached (%s)", type(exc).__name__)

    def _stored(self, count: int = 1) -> None:
        self.metrics.received.inc(count)
        if self.webhook:
            self._heard_at = time.monotonic()
        self._idle.clear()
        self._wake.set()

    async def _work(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                started, wait = await self._work_once()
            except SQLAlchemyError as exc:
                self._database_down = True
                started, wait = 0, None
                log.warning("the database cannot be reached (%s)", type(exc).__name__)
            if self._database_down:
                if self._running:
                    await asyncio.wait(self._running.values())  # the units in hand end first
                self._database_down = False
                delay = self._backoff.next()
                log.warning("the database is unavailable: stored updates wait; trying again in %.1f s", delay)
                await asyncio.sleep(delay)
                continue
            self._backoff.reset()
            if started or self._stopping:
                continue  # the next round: whoever has an update waiting gets a turn again
            if not self._running and wait is None and not self._wake.is_set():
                self._idle.set()
            await nap(self._wake, 1.0 if wait is None else wait)  # a unit of work ending wakes this too
        if self._running:
            await asyncio.wait(self._running.values())

    async def _work_once(self) -> tuple[int, float | None]:
        """One round: the oldest pending update of each person, one turn each, oldest first; returns
        how many units of work it started, and how long until the first update that waits out a
        failure may be tried again (None: none waits).

        A person's next update is theirs only once this one is done, so one person's updates are
        handled in order, and someone with a thousand waiting takes one turn a round like everyone
        else. A failed update waits alone (its person with it). On PostgreSQL several units of work
        run at once, on connections of their own; the couple's row locks keep one couple's in turn.
        """
        heads = await off_the_loop(self._units, _next_updates, self.engine)
        started, wait = 0, None
        for head in heads:
            if self._stopping or self._database_down:
                break
            who = head.user_id if head.user_id is not None else -head.update_id
            if who in self._running:
                continue  # still on their previous update
            ready_in = self._retry_at.get(head.update_id, 0.0) - time.monotonic()
            if ready_in > 0:
                wait = ready_in if wait is None else min(wait, ready_in)
                continue
            await self._slots.acquire()
            if self._stopping or self._database_down:
                self._slots.release()
                break
            task = asyncio.create_task(self._turn(head), name=f"update-{head.update_id}")
            self._running[who] = task
            task.add_done_callback(functools.partial(self._turn_ended, who))
            started += 1
        return started, wait

    def _turn_ended(self, who: int, _: asyncio.Task) -> None:
        self._running.pop(who, None)
        self._slots.release()
        self._wake.set()
        self.courier.wake()

    async def _turn(self, head: repo.Pending) -> None:
        """One update's unit of work. Anything that cannot be read or turned into an event counts as a
        failure of that update: logged by kind only, set aside after GIVE_UP_AFTER; the bot goes on."""
        try:
            update = Update.de_json(json.loads(head.payload), self.application.bot)
            update.effective_user  # noqa: B018 - reading it checks the update's shape before any unit of work
        except Exception:
            try:
                await self._failed(head.update_id, "unparseable")
            except SQLAlchemyError:
                self._database_down = True  # not counted: it is tried again once the database is back
            return
        await self.application.process_update(update)
        outcome = self._outcomes.pop(update.update_id, None)
        if outcome is False:  # another process holds it, or it was done meanwhile: look again shortly
            self._retry_at[update.update_id] = time.monotonic() + 0.05
        elif outcome is True:
            self._retry_at.pop(update.update_id, None)

    async def _failed(self, update_id: int, kind: str) -> None:
        attempts = await off_the_loop(
            self._units, repo.record_failure, self.engine, update_id, self.clock(), GIVE_UP_AFTER, kind
        )
        if attempts >= GIVE_UP_AFTER:
            self._retry_at.pop(update_id, None)
            log.error("update %s set aside after %d failed attempts (%s)", update_id, attempts, kind)
        elif attempts:
            self._retry_at[update_id] = time.monotonic() + self.retry_pause(attempts)
            log.error("update %s failed (%s; attempt %d of %d)", update_id, kind, attempts, GIVE_UP_AFTER)

    async def _unreachable(self, user_id: int) -> None:
        """The courier got a 403 for a person: an Unreachable event, in its own unit of work."""
        if await off_the_loop(self._units, unit_of_work.unreachable, self.engine, user_id, self.clock(), self.texts):
            self.courier.wake()

    async def _until_telegram_answers(self, what: str, call) -> None:
        """Start-up calls wait out 429s, 5xx and network trouble like every other call."""
        backoff = Backoff(self.pace.backoff_base, self.pace.backoff_cap)
        while True:
            try:
                await call()
                return
            except InvalidToken:
                raise
            except TelegramError as exc:
                delay = backoff.next()
                log.warning("%s failed at start (%s); retrying in %.1f s", what, type(exc).__name__, delay)
                await asyncio.sleep(delay)

    async def _handle(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            self._outcomes[update.update_id] = await off_the_loop(
                self._units,
                self.metrics.unit(unit_of_work.process),
                self.engine,
                update,
                self.clock(),
                self.texts,
                self.settings.default_language,
            )
        except (OperationalError, DatabaseInterfaceError, secret.Undecryptable) as exc:
            # The database or the keys (another process rotated to a key this one lacks), not the update:
            # it stays stored and is tried again once they are back; no attempt is counted.
            if isinstance(exc, secret.Undecryptable):
                log.warning("stored data cannot be decrypted with this process's keys: updates wait")
            self._database_down = True
            raise
        except Exception as exc:
            # Only this update waits (see _failed); the worker goes on with everyone else's.
            await self._failed(update.update_id, f"failed: {type(exc).__name__}")
            raise

    def _answered(self, method: str, status_code: int | None) -> None:
        self.metrics.api_call(method, status_code)
        if status_code == 200 and method in ("getUpdates", "getMe", "deleteWebhook", "setWebhook"):  # start-up too
            self._heard_at = time.monotonic()

    def _telegram_heard(self) -> float | None:
        """Seconds since Telegram was last heard from; a listening webhook counts as heard now."""
        if self.webhook is not None and self.webhook.port is not None:
            return 0.0
        return None if self._heard_at is None else time.monotonic() - self._heard_at

    def _note_contact(self, now: datetime) -> None:
        """For `herstel status`: when Telegram was last heard from, written at most once a minute."""
        if self._heard_at is None or (self._contact_noted and now - self._contact_noted < timedelta(minutes=1)):
            return
        status.note_contact(self.engine, now - timedelta(seconds=time.monotonic() - self._heard_at))
        self._contact_noted = now

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Only the kind of error: its message or the update may hold what someone wrote.
        error = context.error
        frames = "".join(traceback.format_tb(error.__traceback__)) if error else ""
        log.error("error while handling an update: %s\n%s", type(error).__name__, frames)

    async def _set_commands(self) -> None:
        bot = self.application.bot
        for language in LANGUAGES:
            commands = [BotCommand(c, known(self.texts).render(language, f"commands.{c}")) for c in COMMANDS]
            try:
                await bot.set_my_commands(commands, language_code=None if language == "en" else language)
            except TelegramError as exc:
                log.warning("could not set the %s command menu (%s); carrying on", language, type(exc).__name__)


def _next_updates(engine) -> list[repo.Pending]:
    with Session(engine) as session:
        return repo.next_updates(session)
