"""When the database goes away the bot keeps running, says so in its log, and loses nothing; on
SIGTERM it finishes what is in hand, confirms what it stored, and exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bot.app import HerstelBot
from bot.courier import Pace
from emulator import BotApiEmulator, Limits
from storage import repo
from tests import crash_safety
from tests.conftest import KEY, TOKEN, Clock, Herstel, settings_for
from tests.crash_safety import BotProcess, Database, until
from tests.test_pairing import WORDS, pair

QUICK = Pace(backoff_base=0.02, backoff_cap=0.2)


class Proxy:
    """A TCP proxy between the bot and PostgreSQL that the test can cut and restore.

    It runs in threads of its own: the bot talks to its database synchronously, on the event loop
    the test also runs on, so the proxy must not need that loop.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.cut_off = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every connection; new ones are closed at once, until restore()."""
        with self._lock:
            self.cut_off = True
            for s in self._open:
                _close(s)
            self._open.clear()

    def restore(self) -> None:
        with self._lock:
            self.cut_off = False

    def close(self) -> None:
        self.cut()
        _close(self._server)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                if self.cut_off:
                    _close(client)
                    continue
                upstream = socket.create_connection(self._target)
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()


@pytest.fixture
async def proxied(database_url, private_logs):
    """Herstel on PostgreSQL through a proxy the test can cut."""
    url = make_url(database_url)
    proxy = Proxy(url.host, url.port or 5432)
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    emulator = BotApiEmulator(token=TOKEN, bot_username="HerstelTestBot", limits=Limits(chat_burst=40))
    await emulator.start()
    clock = Clock()
    scene = Herstel(emulator, HerstelBot(settings_for(emulator, through), clock=clock, pace=QUICK), clock, through)
    await scene.bot.start()
    try:
        yield scene, proxy
    finally:
        proxy.restore()
        await scene.bot.stop()
        await emulator.stop()
        proxy.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_when_the_database_goes_away_the_bot_waits_and_then_handles_everything_once(proxied, caplog):
    herstel, proxy = proxied
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])

    for n in range(3):
        await anna.send(f"Just before the cut, {n}")
    proxy.cut()
    await ben.send("While the database was away")
    await anna.send("Me too, while it was away")
    await until(lambda: "the database" in caplog.text and "cannot be reached" in caplog.text, "a log line", 20)
    await asyncio.sleep(0.5)  # let it fail a few more times: it must keep going, not stop
    assert all(not task.done() for task in herstel.bot._tasks)
    assert herstel.emulator.pending_updates > 0  # not stored, so not confirmed: Telegram keeps them

    proxy.restore()
    await herstel.emulator.wait_until_confirmed(timeout=20)
    await herstel.bot.settled(timeout=20)
    for n in range(3):
        assert sum(f"Just before the cut, {n}" in t for t in ben.texts()) == 1
    assert sum("While the database was away" in t for t in anna.texts()) == 1
    assert sum("Me too, while it was away" in t for t in ben.texts()) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("OperationalError" in w for w in warnings)
    logged = caplog.text
    assert "while it was away" not in logged and "Just before the cut" not in logged and TOKEN not in logged


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_cut_in_the_middle_of_a_burst_loses_nothing(proxied):
    herstel, proxy = proxied
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])
    for n in range(20):
        await anna.send(f"burst {n}")
        if n in (5, 12):
            await asyncio.sleep(0.05)
            proxy.cut()
            await asyncio.sleep(0.3)
            proxy.restore()
    await herstel.emulator.wait_until_confirmed(timeout=20)
    await herstel.bot.settled(timeout=20)
    for n in range(20):
        assert sum(t.endswith(f"burst {n}") for t in ben.texts()) >= 1
    with Session(herstel.bot.engine) as session:
        assert repo.count_unsent(session) == 0 and repo.pending_updates(session) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_sigterm_finishes_what_is_in_hand_confirms_what_is_stored_and_exits_0(backend, tmp_path):
    from tests.conftest import POSTGRES_URL

    if backend == "postgresql" and not POSTGRES_URL:
        pytest.skip("PostgreSQL: set HERSTEL_TEST_POSTGRES_URL, e.g. postgresql://postgres@127.0.0.1:5432/test")
    database = Database(backend, tmp_path, POSTGRES_URL)
    emulator = BotApiEmulator(token=crash_safety.TOKEN, bot_username="HerstelTestBot", limits=Limits(chat_burst=40))
    await emulator.start()
    bot = BotProcess(emulator, database, tmp_path, "polling", KEY)
    try:
        await bot.start()
        await until(lambda: bot.ready, "the bot to start", 60)
        anna = emulator.person("Anna")
        await anna.send("/start")
        await until(lambda: anna.inbox, "a welcome", 30)
        for n in range(5):
            await anna.send(f"hello {n}")
        await until(lambda: len(database.handled()) + database.pending() >= 2, "the bot to be busy", 30)
        stopped = len(emulator.calls)
        assert await bot.terminate() == 0

        last = [p for name, p in emulator.calls[stopped:] if name == "getUpdates"][-1]
        with Session(database.engine) as session:
            offset = repo.polling_offset(session)
        assert (int(last["offset"]), int(last["timeout"]), int(last["limit"])) == (offset, 0, 1)
        stored = {u.update_id for u in emulator.update_log if u.update_id < offset}
        assert stored and not stored & {u.update_id for u in emulator._updates}  # all confirmed

        await bot.start()  # the rest is handled by the next run, once
        await until(lambda: bot.ready, "the bot to start again", 60)
        await until(
            lambda: database.pending() == 0 and emulator.pending_updates == 0 and not database.unsent(),
            "the next run to finish",
            30,
        )
        assert await bot.terminate() == 0
        texts = anna.texts()
        assert sum("Welcome to Herstel" in t for t in texts) == 1
        assert len(database.handled()) == 6
    finally:
        await emulator.stop()
        database.close()
