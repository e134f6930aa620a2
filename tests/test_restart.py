"""A new Application on the same database goes on where the old one stopped: nothing lost, nothing twice."""

from __future__ import annotations

import httpx

from storage import repo
from storage.db import make_engine
from tests.conftest import TOKEN
from tests.test_pairing import WORDS, pair


async def test_messages_written_while_the_bot_was_down_arrive_once(herstel):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])
    await anna.send("before the restart")
    await herstel.settle()
    await herstel.bot.stop()

    await anna.send("while it was down")
    await ben.send("me too")

    await herstel.restart()
    await herstel.settle()
    assert sum("while it was down" in t for t in ben.texts()) == 1
    assert sum("before the restart" in t for t in ben.texts()) == 1
    assert sum("me too" in t for t in anna.texts()) == 1


async def test_updates_stored_but_not_handled_before_a_crash_are_handled_once(herstel):
    """The crash falls after the intake committed the updates and before it confirmed them."""
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])
    await herstel.bot.stop()
    await anna.send("stored, then the crash")
    async with httpx.AsyncClient() as client:  # what the intake saw: fetched, not confirmed
        answer = await client.post(f"{herstel.emulator.base_url}{TOKEN}/getUpdates", json={"timeout": 0})
    engine = make_engine(herstel.database_url)
    repo.store_updates(engine, answer.json()["result"], herstel.clock())
    engine.dispose()

    await herstel.restart()  # Telegram hands the same update again: it is stored once, handled once
    await herstel.settle()
    assert sum("stored, then the crash" in t for t in ben.texts()) == 1


async def test_answers_committed_but_not_delivered_before_a_crash_are_delivered_after(herstel, monkeypatch):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])

    async def crash_before_delivery():
        pass

    monkeypatch.setattr(herstel.bot.courier, "deliver_due", crash_before_delivery)
    await anna.send("committed, not yet sent")
    await herstel.settle()
    assert not any("committed, not yet sent" in t for t in ben.texts())

    await herstel.restart()
    await herstel.settle()
    assert sum("committed, not yet sent" in t for t in ben.texts()) == 1


async def test_messages_for_someone_who_blocked_the_bot_wait_until_they_write_again(herstel):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])
    ben.block()
    await anna.send("are you there")
    await herstel.settle()
    await herstel.restart()
    await herstel.settle()
    ben.unblock()
    await ben.send("back")
    await herstel.settle()
    assert sum("are you there" in t for t in ben.texts()) == 1
    assert "back" in anna.last.text
