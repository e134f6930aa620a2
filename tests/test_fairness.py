"""No person waits for another person's trouble: the worker gives each person one turn a round, the
courier serves chats round by round, an update that cannot be read is set aside, and the pace is
what .env.example says, measured where Telegram would see it (the emulator's clock)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlmodel import Session, select

from bot.app import GIVE_UP_AFTER
from storage import repo
from storage.models import InboxRow
from tests.test_pairing import WORDS, pair
from tests.test_webhook import hooked  # noqa: F401 - the webhook fixture

# Updates a broken client (or Telegram on a bad day) may send: none of them can be read as an Update.
POISON = [
    {"message": {}},
    {"message": {"message_id": 1}},
    {"callback_query": {"id": "1"}},
    {"edited_message": "not an object"},
]


async def arrives(person, text: str, within: float) -> float:
    """Seconds until `text` reached `person`; fails after `within` seconds."""
    start = time.monotonic()
    while not any(text in t for t in person.texts()):
        if time.monotonic() - start > within:
            raise AssertionError(f"{text!r} did not reach {person.name} within {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def linked(herstel):
    first, second = herstel.person("Anna"), herstel.person("Ben")  # the names tests.test_pairing checks
    await pair(herstel, first, second, WORDS["en"])
    return first, second


async def test_a_hundred_and_two_stale_presses_by_one_person_do_not_hold_back_another_couple(herstel):
    anna, ben = await linked(herstel)
    carl = herstel.person("Carl")
    await carl.send("/start")
    await herstel.settle()
    for _ in range(102):  # a check-in button from a day long gone, on a message that is not there
        await carl.press_data(1, "ci:2026-01-05:3")
    await asyncio.sleep(0.3)  # the presses are stored and first in line
    await anna.send("Are you there, Ben?")
    assert await arrives(ben, "Are you there, Ben?", within=3.0) < 3.0


async def test_four_hundred_messages_from_one_partner_do_not_delay_an_unrelated_couple(herstel):
    dana, eve = await linked(herstel)
    anna, ben = await linked(herstel)
    for n in range(400):
        await dana.send(f"Dana's message number {n}")
    await asyncio.sleep(0.5)  # Dana's messages are stored first, and Eve's chat fills the outbox
    await anna.send("Only a short one from Anna")
    assert await arrives(ben, "Only a short one from Anna", within=3.0) < 3.0
    await arrives(eve, "Dana's message number 0", within=3.0)  # Dana is not forgotten either


async def poison_is_set_aside_and_the_bot_goes_on(scene, caplog):
    scene.bot.retry_pause = lambda attempts: 0.05  # the pause between attempts; five attempts still
    anna, ben = await linked(scene)
    poisoned = [scene.emulator.queue_raw(fields) for fields in POISON]
    await anna.send("Still here after the broken ones")
    assert await arrives(ben, "Still here after the broken ones", within=5.0) < 5.0
    deadline = time.monotonic() + 10
    while True:
        with Session(scene.bot.engine) as session:
            aside = dict(repo.set_aside(session))
        if set(poisoned) <= set(aside) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert {u: aside.get(u) for u in poisoned} == {u: "unparseable" for u in poisoned}
    with Session(scene.bot.engine) as session:
        attempts = session.exec(select(InboxRow.attempts).where(InboxRow.update_id.in_(poisoned))).all()
    assert attempts == [GIVE_UP_AFTER] * len(poisoned)
    assert all(not t.done() for t in scene.bot._tasks)  # the worker, the courier (and intake) still run
    logged = [r.getMessage() for r in caplog.records if any(str(u) in r.getMessage() for u in poisoned)]
    assert any("set aside" in line and "unparseable" in line for line in logged)
    await scene.restart()  # set aside for good: a restart does not try them again, nor stop on them
    await anna.send("And after a restart")
    assert await arrives(ben, "And after a restart", within=5.0) < 5.0


async def test_updates_that_cannot_be_read_are_set_aside_through_polling(herstel, caplog):
    await poison_is_set_aside_and_the_bot_goes_on(herstel, caplog)


async def test_updates_that_cannot_be_read_are_set_aside_through_the_webhook(hooked, caplog):  # noqa: F811
    await poison_is_set_aside_and_the_bot_goes_on(hooked, caplog)


async def test_an_update_that_fails_waits_alone_and_is_set_aside_with_the_kind_of_failure(herstel, monkeypatch):
    herstel.bot.retry_pause = lambda attempts: 0.5
    anna, ben = await linked(herstel)
    carl = herstel.person("Carl")
    await carl.send("/start")
    await herstel.settle()
    real = repo.load_world

    def broken_for_carl(session, user_id, opened):
        if user_id == carl.id:
            raise KeyError("carl")
        return real(session, user_id, opened)

    monkeypatch.setattr(repo, "load_world", broken_for_carl)
    await carl.send("Carl's first")
    await carl.send("Carl's second")
    await asyncio.sleep(0.2)
    for n in range(5):  # Anna and Ben never wait for Carl's pauses
        await anna.send(f"Anna's {n}")
        assert await arrives(ben, f"Anna's {n}", within=0.4) < 0.4
    await herstel.settle()
    with Session(herstel.bot.engine) as session:
        assert [why for _, why in repo.set_aside(session)] == ["failed: KeyError", "failed: KeyError"]


def most_in_any(moments: list[float], seconds: float) -> int:
    """The most moments that fall in any window of `seconds` (half-open)."""
    moments, most, first = sorted(moments), 0, 0
    for last, moment in enumerate(moments):
        while moment - moments[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most


def queue_messages(herstel, chats: list[int], each: int) -> None:
    with Session(herstel.bot.engine) as session:
        calls = [
            repo.Call(chat, "sendMessage", {"chat_id": chat, "text": f"paced {n}"})
            for n in range(each)
            for chat in chats
        ]
        repo.queue(session, calls, herstel.clock())
        session.commit()
    herstel.bot.courier.wake()


async def delivered(herstel, count: int, within: float) -> list[float]:
    """When each accepted sendMessage arrived at the emulator, once `count` have."""
    deadline = time.monotonic() + within
    while True:
        moments = [m for m, method, _ in herstel.emulator.sent if method == "sendMessage"]
        if len(moments) >= count or time.monotonic() > deadline:
            return moments
        await asyncio.sleep(0.05)


async def test_all_chats_together_get_at_most_send_rate_calls_in_any_one_second(herstel):
    assert herstel.bot.pace.per_second == 25  # HERSTEL_SEND_RATE's default
    people = [herstel.person(f"P{n}") for n in range(80)]
    for person in people:
        person.started = True  # they wrote to the bot once; now Herstel writes to them
    herstel.emulator.sent.clear()
    queue_messages(herstel, [p.id for p in people], each=2)
    moments = await delivered(herstel, 160, within=20)
    assert len(moments) == 160
    assert most_in_any(moments, 1.0) <= 25
    assert moments[-1] - moments[0] < 160 / 25 + 1.5  # and not much slower than that
    assert herstel.emulator.too_many == 0


async def test_one_chat_gets_a_burst_of_twenty_then_one_message_a_second(herstel):
    anna = herstel.person("Anna")
    anna.started = True
    herstel.emulator.sent.clear()
    queue_messages(herstel, [anna.id], each=26)
    moments = await delivered(herstel, 26, within=15)
    assert len(moments) == 26
    assert most_in_any(moments, 0.5) <= 20  # the burst
    for seconds in range(1, 7):
        assert most_in_any(moments, seconds) <= 20 + seconds
    assert moments[-1] - moments[0] >= 5.5  # at most 20 + 1 a second: 26 take more than five seconds
    assert [t for t in anna.texts()] == [f"paced {n}" for n in range(26)]
    assert herstel.emulator.too_many == 0


async def test_the_worker_logs_no_content_of_an_update_it_cannot_read(herstel, caplog):
    caplog.set_level(logging.DEBUG)
    update_id = herstel.emulator.queue_raw({"message": {"text": "a secret nobody may log"}})
    herstel.bot.retry_pause = lambda attempts: 0.01
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with Session(herstel.bot.engine) as session:
            if dict(repo.set_aside(session)).get(update_id) == "unparseable":
                break
        await asyncio.sleep(0.05)
    assert "a secret nobody may log" not in caplog.text
    with Session(herstel.bot.engine) as session:
        assert dict(repo.set_aside(session)) == {update_id: "unparseable"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_on_postgresql_a_slow_unit_of_work_holds_up_nobody_else(herstel, monkeypatch):
    assert herstel.bot.settings.parallel_units == 4  # HERSTEL_PARALLEL_UNITS's default
    anna, ben = await linked(herstel)
    carl = herstel.person("Carl")
    await carl.send("/start")
    await herstel.settle()
    real = repo.load_world

    def slow_for_carl(session, user_id, opened):
        if user_id == carl.id:
            time.sleep(4)  # a slow query, a lock held elsewhere: the unit of work takes its time
        return real(session, user_id, opened)

    monkeypatch.setattr(repo, "load_world", slow_for_carl)
    answered = len(carl.texts())
    await carl.send("A slow one")
    await asyncio.sleep(0.3)
    await anna.send("Meanwhile, from Anna")
    assert await arrives(ben, "Meanwhile, from Anna", within=2.0) < 2.0
    await herstel.settle()
    assert len(carl.texts()) > answered  # and Carl was answered too, in the end
