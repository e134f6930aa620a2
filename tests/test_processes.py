"""Two bot processes on one PostgreSQL database serve the same couples.

Each bot runs in a thread of its own with its own event loop, engine and webhook server: as
separate as two processes, for what matters here (database transactions and locks). The emulator
spreads its webhook deliveries over both, like a load balancer, and delivers chats in parallel.
Both partners of a couple answer an appreciation at the same instant, so the two answers are
handled at once by different processes: a lost update would lose one answer, and the reveal
(which needs both) would never come.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from bot.app import HerstelBot
from bot.courier import Pace
from dialogues.model import Couple as CoupleState
from emulator import BotApiEmulator, Limits
from storage import codec
from storage.db import make_engine
from storage.models import CoupleRow, EntryRow
from tests.conftest import TOKEN, settings_for
from tests.crash_safety import Couple, free_port, until

SECRET = "two-processes-secret"
FAST = Pace(per_second=2000, chat_burst=1000, chat_per_second=1000)  # the emulator's limits are off here
COUPLES, ROUNDS = 12, 17  # 204 pairs of answers at the same instant


class BotThread:
    """One HerstelBot in a thread of its own, as another process would be."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        bot = HerstelBot(self.settings, pace=FAST)
        try:
            await bot.start()
            self.ready.set()
            await self._stop.wait()
        except BaseException as exc:  # reported to the test
            self.failed = exc
            self.ready.set()
        finally:
            await bot.stop()

    async def start(self) -> None:
        self._thread.start()
        await asyncio.to_thread(self.ready.wait, 30)
        if self.failed:
            raise self.failed

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join, 30)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_processes_lose_no_answer_when_both_partners_write_at_the_same_instant(database_url):
    # Commits need not wait for the disk here (this is about locks, not about a PostgreSQL crash):
    # that makes the hundreds of rounds several times faster.
    url = make_url(database_url)
    database_url = url.update_query_dict(
        {"options": url.query["options"] + " -csynchronous_commit=off"}
    ).render_as_string(hide_password=False)
    emulator = BotApiEmulator(token=TOKEN, bot_username="HerstelTestBot", limits=Limits(enabled=False))
    await emulator.start()
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}/telegram" for port in ports]
    bots = [
        BotThread(
            settings_for(
                emulator,
                database_url,
                webhook_url=url,
                webhook_secret=SECRET,
                webhook_port=port,
                webhook_listen="127.0.0.1",
            )
        )
        for url, port in zip(urls, ports, strict=True)
    ]
    emulator.webhook_balance = urls  # deliveries alternate between the two processes
    try:
        for bot in bots:  # one after the other: the first applies the migrations
            await bot.start()
        rng = random.Random(5)
        couples = [
            Couple(n, emulator.person(f"Anna{n}"), emulator.person(f"Ben{n}"), random.Random(rng.random()))
            for n in range(1, COUPLES + 1)
        ]
        await asyncio.gather(*(c.pair() for c in couples))

        async def rounds(couple: Couple) -> list[tuple[str, str]]:
            return [await couple.appreciation() for _ in range(ROUNDS)]

        answers = await asyncio.gather(*(rounds(c) for c in couples))

        await until(lambda: emulator.pending_updates == 0, "every delivery to be answered", 30)
        reveals = "You have both answered."
        for couple, pairs in zip(couples, answers, strict=True):
            for person in (couple.anna, couple.ben):
                assert sum(reveals in t for t in person.texts()) == ROUNDS  # one reveal a round, none twice
                for mine, theirs in pairs:
                    both = [t for t in person.texts() if mine in t and theirs in t]
                    assert len(both) == 1  # the reveal holds both answers
        engine = make_engine(database_url)
        with Session(engine) as session:
            journal = Counter(session.exec(select(EntryRow.text)).all())
            states = [codec.loads(CoupleState, row.state) for row in session.exec(select(CoupleRow)).all()]
        engine.dispose()
        written = [w for c in couples for _, _, w in c.written]
        assert len(written) == 2 * COUPLES * ROUNDS
        assert all(journal[w] == 1 for w in written)
        assert sorted(s.done.count("appreciation") for s in states) == [ROUNDS] * COUPLES
        assert all(s.run is None for s in states)
        assert not [e for e in emulator.errors]
        used = Counter(url for _, url, status in emulator.webhook_deliveries if status == 200)
        assert min(used[url] for url in urls) > COUPLES * ROUNDS / 2  # both processes did their share
    finally:
        for bot in bots:
            await bot.stop()
        await emulator.stop()
        for bot in bots:
            assert bot.failed is None
