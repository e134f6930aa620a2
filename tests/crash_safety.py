"""Crash safety, measured: kill the bot with SIGKILL at random moments and count what went wrong.

    python -m tests.crash_safety --backend sqlite|postgresql [--kills 20] [--couples 4] [--mode polling|webhook]

The emulator runs in this process; the bot runs as `python -m bot.main run` in a subprocess against
it, on a file database (SQLite) or a fresh PostgreSQL schema (HERSTEL_TEST_POSTGRES_URL). Several
couples pair up, write to each other, name what happened and share an appreciation, while the bot is
killed (SIGKILL) and started again, at least `--kills` times. Every text a person writes is unique, so
the journal and the emulator can count it. At the end the bot gets SIGTERM and must exit 0. Printed:

- user messages lost: texts written that were never handled (no journal entry), and updates never
  handled: must be 0;
- user messages processed twice: texts with more than one journal entry: must be 0;
- intended outgoing messages never delivered: every message the bot committed to its outbox (a
  trigger copies each insert into an audit table) against what the emulator delivered: must be 0;
- duplicate outgoing messages, with the kills that fell between a send and its commit: at each kill
  the script compares what the emulator accepted with what the database had marked sent. Every
  duplicate must be explained by such a kill; that gap is the only place a duplicate may come from.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from emulator import BotApiEmulator, Limits, Person
from storage import secret
from storage.models import EntryRow, InboxRow

TOKEN = "123456789:CRASHtokenCRASHtokenCRASHtoken"
WEBHOOK_SECRET = "crash-safety-" + secrets.token_hex(8)
MESSAGES = ("sendMessage", "sendDocument", "sendPhoto")
GIVE_UP_AFTER = 5  # bot.app.GIVE_UP_AFTER: an update that failed this often is set aside, not handled
STEP_TIMEOUT = 120.0  # seconds a scripted step may wait for the bot (restarts included)
PROGRESS_BETWEEN_KILLS = 7  # texts the couples write, at the least, between one kill and the next
PREFER = ("No", "United Kingdom", "I damaged the trust", "Join", "Yes, that's my partner")  # answers while pairing
NAMING, SEND, READ, DONE = "Naming what happened", "Send", "I have read it", "This exercise is done"
STOP_FOR_NOW = "Stop for now"  # after reading, she may answer, or stop for now
APPRECIATION, ASKED = "Appreciation", "Name one thing you valued in"


@dataclass
class Figures:
    backend: str
    mode: str
    kills: int = 0
    couples: int = 0
    written: int = 0  # unique texts people wrote
    updates: int = 0  # updates the emulator delivered
    lost: int = 0
    unhandled_updates: int = 0
    processed_twice: int = 0
    intended: int = 0  # messages the bot committed to send
    never_delivered: int = 0
    duplicates: int = 0
    kills_in_window: int = 0  # kills that fell between a send and its commit
    resent_by_those_kills: int = 0
    exit_code: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.lost == self.unhandled_updates == self.processed_twice == self.never_delivered == 0
            and self.duplicates == self.resent_by_those_kills
            and self.exit_code == 0
        )

    def report(self) -> str:
        return "\n".join(
            [
                f"crash safety, {self.backend}, {self.mode}: {self.kills} kills (SIGKILL), {self.couples} couples, "
                f"{self.written} texts written, {self.updates} updates, {self.seconds:.0f} s",
                f"  user messages lost: {self.lost} (updates never handled: {self.unhandled_updates})",
                f"  user messages processed twice: {self.processed_twice}",
                f"  intended outgoing messages never delivered: {self.never_delivered} (of {self.intended})",
                f"  duplicate outgoing messages: {self.duplicates} (kills between a send and its commit: "
                f"{self.kills_in_window}, messages they resend: {self.resent_by_those_kills})",
                f"  exit code after SIGTERM: {self.exit_code}",
            ]
        )


# The database the bot uses, and what the script reads from it -----------------------------------


class Database:
    def __init__(self, backend: str, folder: Path, postgres_url: str | None) -> None:
        self.backend = backend
        if backend == "sqlite":
            self.url = f"sqlite:///{folder / 'herstel.db'}"
            self._admin = None
        else:
            if not postgres_url:
                raise SystemExit(
                    "PostgreSQL: set HERSTEL_TEST_POSTGRES_URL, e.g. postgresql://postgres@127.0.0.1:5432/test"
                )
            self.schema = "crash_" + secrets.token_hex(5)
            base = make_url(postgres_url).set(drivername="postgresql+psycopg")
            self._admin = create_engine(base)
            with self._admin.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {self.schema}"))
            self.url = base.update_query_dict({"options": f"-csearch_path={self.schema}"}).render_as_string(
                hide_password=False
            )
        self.engine = create_engine(self.url, connect_args={"timeout": 30} if backend == "sqlite" else {})

    def audit_outbox(self) -> None:
        """Copy every committed outbox insert into a table of the script's own (after the migration)."""
        with self.engine.begin() as connection:
            connection.execute(text("CREATE TABLE crash_audit (id BIGINT, chat_id BIGINT, method TEXT, payload TEXT)"))
            if self.backend == "sqlite":
                connection.execute(
                    text(
                        "CREATE TRIGGER crash_audit_insert AFTER INSERT ON outbox BEGIN "
                        "INSERT INTO crash_audit VALUES (NEW.id, NEW.chat_id, NEW.method, NEW.payload); END"
                    )
                )
            else:
                connection.execute(
                    text(
                        "CREATE FUNCTION crash_audit_copy() RETURNS trigger AS $$ BEGIN "
                        "INSERT INTO crash_audit VALUES (NEW.id, NEW.chat_id, NEW.method, NEW.payload); RETURN NEW; END "
                        "$$ LANGUAGE plpgsql"
                    )
                )
                connection.execute(
                    text(
                        "CREATE TRIGGER crash_audit_insert AFTER INSERT ON outbox "
                        "FOR EACH ROW EXECUTE FUNCTION crash_audit_copy()"
                    )
                )

    def intended(self) -> list[tuple[tuple[int, str], tuple[int, str]]]:
        """(row, (chat, text)) of every message the bot committed to send. A row is its id and its
        ciphertext: SQLite reuses the ids of deleted rows, a ciphertext is never made twice."""
        with self.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, chat_id, method, payload FROM crash_audit")).all()
        found = []
        for row_id, chat_id, method, payload in rows:
            if method in MESSAGES:
                params = json.loads(secret.decrypt(payload))
                found.append(((row_id, payload), (chat_id, params.get("text") or params.get("caption") or "")))
        return found

    def unsent(self) -> set[tuple[int, str]]:
        with self.engine.connect() as connection:
            return {tuple(row) for row in connection.execute(text("SELECT id, payload FROM outbox"))}

    def journal(self) -> Counter:
        with Session(self.engine) as session:
            return Counter(session.exec(select(EntryRow.text)).all())

    def handled(self) -> set[int]:
        with Session(self.engine) as session:
            rows = session.exec(select(InboxRow.update_id, InboxRow.attempts).where(InboxRow.processed_at.is_not(None)))
            return {update_id for update_id, attempts in rows if attempts < GIVE_UP_AFTER}

    def pending(self) -> int:
        with Session(self.engine) as session:
            return len(session.exec(select(InboxRow.update_id).where(InboxRow.processed_at.is_(None))).all())

    def close(self) -> None:
        self.engine.dispose()
        if self._admin is not None:
            with self._admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
            self._admin.dispose()


# The bot as a process -----------------------------------------------------------------------


class BotProcess:
    def __init__(self, emulator: BotApiEmulator, database: Database, folder: Path, mode: str, key: str) -> None:
        self.emulator, self.folder, self.mode = emulator, folder, mode
        self.log = folder / "bot.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HERSTEL_", "TELEGRAM_"))}
        self.env.update(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "HERSTEL_BOT_API_URL": emulator.url,
                "HERSTEL_DATABASE_URL": database.url,
                "HERSTEL_ENCRYPTION_KEYS": key,
                "HERSTEL_LOG_LEVEL": "INFO",
                "HERSTEL_HEALTH_PORT": "0",
                "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            }
        )
        if mode == "webhook":
            port = free_port()
            self.env.update(
                {
                    "HERSTEL_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
                    "HERSTEL_WEBHOOK_SECRET": WEBHOOK_SECRET,
                    "HERSTEL_WEBHOOK_PORT": str(port),
                    "HERSTEL_WEBHOOK_LISTEN": "127.0.0.1",
                }
            )
        self.process: asyncio.subprocess.Process | None = None
        self._calls_at_start = 0

    async def start(self) -> None:
        self._calls_at_start = len(self.emulator.calls)
        with self.log.open("a") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.main",
                "run",
                env=self.env,
                cwd=self.folder,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    @property
    def ready(self) -> bool:
        """It asked Telegram for updates (polling) or set its webhook: it is taking updates in."""
        wanted = "getUpdates" if self.mode == "polling" else "setWebhook"
        return any(name == wanted for name, _ in self.emulator.calls[self._calls_at_start :])

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            await self.kill()
            return -9


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(condition, what: str, timeout: float = STEP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        await asyncio.sleep(0.05)


# People following a script ------------------------------------------------------------------


@dataclass
class Couple:
    number: int
    anna: Person
    ben: Person
    rng: random.Random
    written: list[tuple[Person, Person, str]] = field(default_factory=list)  # (writer, reader, text)
    pressed: dict[int, int] = field(default_factory=dict)  # person -> newest menu number pressed

    def partner(self, person: Person) -> Person:
        return self.ben if person is self.anna else self.anna

    def new_text(self, person: Person, what: str) -> str:
        return f"{what} {self.number}.{person.name}.{len(self.written)} {secrets.token_hex(4)}"

    async def write(self, person: Person, what: str) -> str:
        words = self.new_text(person, what)
        self.written.append((person, self.partner(person), words))
        await person.send(words)
        return words

    def _button(self, person: Person, labels: tuple[str, ...] | None):
        """The newest button not pressed yet (menu number higher than any pressed), by preference."""
        for message in reversed(person.inbox):
            choices = [
                b
                for row in message.buttons
                for b in row
                if b.callback_data and _menu(b.callback_data) > self.pressed.get(person.id, 0)
            ]
            if not choices:
                continue
            if labels is None:
                return message, next((b for p in PREFER for b in choices if b.text == p), choices[0])
            found = next((b for b in choices if b.text in labels), None)
            if found:
                return message, found
        return None

    async def press(self, person: Person, *labels: str) -> None:
        message, button = await until(lambda: self._button(person, labels), f"{person.name}: a button {labels}")
        self.pressed[person.id] = _menu(button.callback_data)
        await person.press_data(message.message_id, button.callback_data)

    async def answer_until(self, person: Person, done) -> None:
        """Answer whatever is asked (PREFER, else the first choice) until `done()`."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while not done():
            found = self._button(person, None)
            if found:
                message, button = found
                self.pressed[person.id] = _menu(button.callback_data)
                await person.press_data(message.message_id, button.callback_data)
            elif time.monotonic() > deadline:
                raise TimeoutError(f"{person.name} was never done answering")
            await asyncio.sleep(0.05)

    async def received(self, person: Person, words: str) -> None:
        await until(lambda: any(words in t for t in person.texts()), f"{person.name} to receive a text")

    async def wait_for_news(self, person: Person, after: int) -> None:
        await until(lambda: len(person.inbox) > after, f"{person.name} to hear back")

    async def free_messages(self, count: int) -> None:
        texts = []
        for _ in range(count):
            writer = self.rng.choice((self.anna, self.ben))
            texts.append((self.partner(writer), await self.write(writer, "free")))
            await asyncio.sleep(self.rng.uniform(0.02, 0.3))
        for reader, words in texts:
            await self.received(reader, words)

    async def pair(self) -> None:
        anna, ben = self.anna, self.ben
        await anna.send("/start")
        link = lambda: next((w for t in anna.texts() for w in t.split() if w.startswith("https://t.me/")), None)  # noqa: E731
        await self.answer_until(anna, link)
        await ben.open_link(link())
        linked = lambda p: any("You are now linked." in t for t in p.texts())  # noqa: E731
        asked = lambda: any("Someone opened your invitation link." in t for t in anna.texts())  # noqa: E731
        await self.answer_until(ben, asked)
        await self.answer_until(anna, lambda: linked(anna))  # Anna confirms it is Ben
        await until(lambda: linked(ben), "Ben to be linked")

    async def naming(self) -> None:
        anna, ben = self.anna, self.ben
        await anna.send("/menu")
        await self.press(anna, NAMING)
        await until(
            lambda: any(
                _menu(b.callback_data) > self.pressed[anna.id]
                for m in anna.inbox
                for row in m.buttons
                for b in row
                if b.callback_data
            ),
            "the naming exercise to begin",
        )
        words = await self.write(anna, "named")
        await self.press(anna, SEND)
        await self.received(ben, words)
        await self.press(ben, READ)
        await self.press(ben, STOP_FOR_NOW)
        await until(lambda: any(DONE in t for t in ben.texts()), "the naming exercise to end")

    async def appreciation(self) -> tuple[str, str]:
        """Both answer privately, at the same instant; each sees both answers once both are in."""
        anna, ben = self.anna, self.ben
        asked = {p.id: _times(p, ASKED) for p in (anna, ben)}
        await ben.send("/menu")  # the partner whose trust was damaged may begin it before impact
        await self.press(ben, APPRECIATION)
        for person in (anna, ben):
            await until(lambda p=person: _times(p, ASKED) > asked[p.id], "the appreciation question")
        mine, theirs = await asyncio.gather(self.write(anna, "valued"), self.write(ben, "valued"))
        await self.received(ben, mine)
        await self.received(anna, theirs)
        return mine, theirs

    async def follow_script(self, keep_going: asyncio.Event, per_phase: int) -> None:
        await self.pair()
        await self.free_messages(per_phase)
        await self.naming()
        await self.free_messages(per_phase)
        await self.appreciation()
        while keep_going.is_set():
            await self.free_messages(per_phase)


def _times(person: Person, words: str) -> int:
    return sum(words in t for t in person.texts())


def _menu(callback_data: str) -> int:
    head = callback_data.split(":", 1)[0]
    return int(head) if head.isdigit() else 0


# The run ------------------------------------------------------------------------------------


async def run(
    backend: str,
    kills: int = 20,
    couples: int = 4,
    mode: str = "polling",
    seed: int = 1,
    per_phase: int = 4,
    postgres_url: str | None = None,
    key: str | None = None,
) -> Figures:
    started = time.monotonic()
    rng = random.Random(seed)
    key = key or secret.new_key()
    secret.configure([key])
    figures = Figures(backend, mode, couples=couples)
    folder = Path(tempfile.mkdtemp(prefix="herstel-crash-"))
    database = Database(backend, folder, postgres_url or os.environ.get("HERSTEL_TEST_POSTGRES_URL"))
    emulator = BotApiEmulator(token=TOKEN, bot_username="HerstelTestBot", limits=Limits(chat_burst=40))
    await emulator.start()
    bot = BotProcess(emulator, database, folder, mode, key)
    extra: Counter = Counter()  # per message: sends the database had not recorded when a kill fell
    try:
        await bot.start()
        await until(lambda: bot.ready, "the bot to start", 60)
        database.audit_outbox()
        people = [
            Couple(n, emulator.person(f"Anna{n}"), emulator.person(f"Ben{n}"), random.Random(rng.random()))
            for n in range(1, couples + 1)
        ]
        keep_going = asyncio.Event()
        keep_going.set()
        scripts = [asyncio.create_task(c.follow_script(keep_going, per_phase)) for c in people]
        while figures.kills < kills:
            # Each kill falls after the couples got on by a few texts, however slow the machine is: the
            # run always puts enough words at risk to prove something (the test wants more than 50).
            progress = sum(len(c.written) for c in people) + PROGRESS_BETWEEN_KILLS
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            await until(
                lambda progress=progress: (
                    sum(len(c.written) for c in people) >= progress or any(s.done() for s in scripts)
                ),
                "the couples to write on",
            )
            failed = [s for s in scripts if s.done() and s.exception()]
            if failed:
                raise failed[0].exception()
            await bot.kill()
            figures.kills += 1
            resent = _sends_not_recorded(emulator, database, extra)
            if resent:
                figures.kills_in_window += 1
                figures.resent_by_those_kills += resent
            await bot.start()
            await until(lambda: bot.ready, "the bot to start again", 60)
        keep_going.clear()
        await asyncio.gather(*scripts)
        await until(
            lambda: emulator.pending_updates == 0 and database.pending() == 0 and not database.unsent(),
            "the bot to finish",
            STEP_TIMEOUT,
        )
        figures.exit_code = await bot.terminate()
        _count(figures, emulator, database, people)
    except BaseException:
        print(f"bot log: {bot.log}", file=sys.stderr)
        if bot.process and bot.process.returncode is None:
            await bot.kill()
        raise
    finally:
        await emulator.stop()
        database.close()
    figures.seconds = time.monotonic() - started
    return figures


def _delivered(emulator: BotApiEmulator) -> Counter:
    """(chat, text as sent) of every message the emulator accepted."""
    found: Counter = Counter()
    for chat in emulator._chats.values():
        for received in chat.inbox:
            found[(received.chat_id, received.html if received.html is not None else received.text)] += 1
    return found


def _sends_not_recorded(emulator: BotApiEmulator, database: Database, extra: Counter) -> int:
    """Right after a kill: messages the emulator accepted whose outbox row is still unsent. Each will be
    sent again on restart; that is the only duplicate there may be."""
    unsent = database.unsent()
    recorded = Counter(message for row, message in database.intended() if row not in unsent)
    new = 0
    for message, times in _delivered(emulator).items():
        excess = times - recorded[message] - extra[message]
        if excess > 0:
            extra[message] += excess
            new += excess
    return new


def _count(figures: Figures, emulator: BotApiEmulator, database: Database, couples: list[Couple]) -> None:
    journal = database.journal()
    written = [words for couple in couples for _, _, words in couple.written]
    figures.written = len(written)
    figures.lost = sum(1 for words in written if journal[words] == 0)
    figures.processed_twice = sum(1 for words in written if journal[words] > 1)
    update_ids = {u.update_id for u in emulator.update_log}
    figures.updates = len(update_ids)
    figures.unhandled_updates = len(update_ids - database.handled())
    intended = Counter(message for _, message in database.intended())
    delivered = _delivered(emulator)
    figures.intended = sum(intended.values())
    figures.never_delivered = sum(max(0, n - delivered[m]) for m, n in intended.items())
    figures.duplicates = sum(max(0, n - intended[m]) for m, n in delivered.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.crash_safety", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--mode", choices=("polling", "webhook"), default="polling")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--couples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.backend, kills=args.kills, couples=args.couples, mode=args.mode, seed=args.seed))
    print(figures.report())
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
