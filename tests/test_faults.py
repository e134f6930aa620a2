"""When Telegram or the network misbehaves, Herstel waits, retries, fixes what it can, and loses nothing.

Each test is a conversation between two linked partners while the emulator injects one kind of
fault (emulator/faults.py). Pauses are made short with a quick `Pace`; no test measures time.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from bot.app import HerstelBot
from bot.courier import Limiter, Pace
from dialogues.engine import step
from dialogues.model import Couple, Person, Phase, Role, Say, Sender, Unreachable, World
from emulator.faults import Faults
from storage import repo
from tests.conftest import settings_for
from tests.crash_safety import until
from tests.test_pairing import WORDS, pair

QUICK = Pace(backoff_base=0.01, backoff_cap=0.08, read_timeout=0.5)
UNREACHABLE = "An update about your link."


async def quick(herstel) -> list[float]:
    """The same bot on the same database, with short pauses; returns the list its pauses go to."""
    await herstel.bot.stop()
    herstel.bot = HerstelBot(settings_for(herstel.emulator, herstel.database_url), clock=herstel.clock, pace=QUICK)
    await herstel.bot.start()
    return paused(herstel)


def paused(herstel) -> list[float]:
    pauses: list[float] = []
    courier = herstel.bot.courier
    real_sleep = courier.sleep

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await real_sleep(min(seconds, 0.05))

    courier.sleep = sleep
    return pauses


async def linked(herstel, language: str = "en"):
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    await pair(herstel, anna, ben, WORDS[language])
    anna.take(), ben.take()
    return anna, ben


def count(person, text: str) -> int:
    return sum(text in t for t in person.texts())


async def test_a_429_is_waited_out_for_as_long_as_telegram_asks_then_the_message_arrives_once(herstel):
    anna, ben = await linked(herstel)
    pauses = paused(herstel)
    herstel.emulator.faults.fail("sendMessage", status=429, retry_after=3, chat=ben)

    await anna.send("Slow down, the line is busy")
    await herstel.settle()

    assert herstel.emulator.faults.struck == [("sendMessage", "429")]
    assert pauses == [3.0]
    assert count(ben, "Slow down, the line is busy") == 1


async def test_5xx_and_network_errors_are_retried_with_growing_capped_pauses(herstel):
    anna, ben = await linked(herstel)
    pauses = await quick(herstel)
    faults = herstel.emulator.faults
    faults.fail("sendMessage", status=500, chat=ben)
    faults.fail("sendMessage", status=502, times=2, chat=ben)
    faults.reset_connection("sendMessage", chat=ben)
    faults.hang("sendMessage", seconds=2, chat=ben)  # longer than the bot's 0.5 s read timeout
    faults.fail("sendMessage", status=503, times=2, chat=ben)

    await anna.send("Are you still there after all that?")
    await herstel.settle()

    assert [what for _, what in faults.struck] == ["500", "502", "502", "reset", "hang", "503", "503"]
    assert pauses == [0.01, 0.02, 0.04, 0.08, 0.08, 0.08, 0.08]  # doubling, then capped
    assert count(ben, "Are you still there after all that?") == 1
    assert anna.take() == []  # Anna notices nothing


async def test_a_400_is_never_retried_and_is_logged_without_the_text(herstel, caplog):
    anna, ben = await linked(herstel)
    refusal = 'Bad Request: can\'t parse entities: Unsupported start tag "hidden-words" at byte offset 3'
    herstel.emulator.faults.fail("sendMessage", status=400, description=refusal, chat=ben)

    await anna.send("<hidden-words> that Telegram did not like")
    await anna.send("and the next one")
    await herstel.settle()

    attempts = [p for m, p in herstel.emulator.calls if m == "sendMessage" and "did not like" in p.get("text", "")]
    assert len(attempts) == 1
    assert count(ben, "did not like") == 0 and count(ben, "and the next one") == 1
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused and "can't parse entities" in refused[0]
    assert "hidden-words" not in caplog.text and "did not like" not in caplog.text


async def test_a_text_telegram_finds_too_long_is_sent_in_parts_in_order(herstel):
    anna, ben = await linked(herstel)
    herstel.emulator.faults.fail("sendMessage", status=400, description="Bad Request: message is too long", chat=ben)
    story = " ".join(f"Sentence {n} of a long letter." for n in range(1, 41))

    await anna.send(story)
    await anna.send("A short one after it.")
    await herstel.settle()

    *parts, after = (r.text for r in ben.take())
    assert len(parts) >= 2
    assert " ".join(" ".join(parts).split()).endswith(story)  # every word, in order, once
    assert after.endswith("A short one after it.")


async def test_someone_who_blocks_the_bot_keeps_their_messages_and_the_partner_is_told_once(herstel):
    anna, ben = await linked(herstel)
    herstel.emulator.faults.fail("sendMessage", status=403, times=None, chat=ben)  # "bot was blocked by the user"

    await anna.send("First, while Ben cannot be reached")
    await anna.send("Second")
    await anna.send("Third")
    await herstel.settle()

    told = [r.text for r in anna.take()]
    assert told == [
        "An update about your link.\nYour messages cannot reach Ben right now. Herstel keeps them for Ben. "
        "They arrive as soon as Ben writes here again.\nYou do not need to do anything."
    ]
    assert ben.take() == []

    herstel.emulator.faults.clear()  # Ben unblocks the bot and writes again
    await ben.send("I am back")
    await herstel.settle()
    assert [r.text.splitlines()[-1] for r in ben.take()] == ["First, while Ben cannot be reached", "Second", "Third"]
    assert "I am back" in anna.last.text


async def test_each_new_blocking_is_told_once_in_the_partners_language(herstel):
    anna, ben = await linked(herstel, "nl")
    for round in (1, 2):
        ben.block()  # Telegram also sends the bot a "kicked" update
        await anna.send(f"Ronde {round}, bericht een")
        await anna.send(f"Ronde {round}, bericht twee")
        await herstel.settle()
        assert [r.text.splitlines()[0] for r in anna.take()] == ["Een bericht over je koppeling."]
        assert "Je berichten komen nu niet aan bij Ben." in anna.last.text
        ben.unblock()
        await ben.send(f"Weer terug, ronde {round}")
        await herstel.settle()
        assert count(ben, f"Ronde {round}, bericht twee") == 1
        anna.take()


async def test_no_fault_stops_the_bot_and_no_message_is_lost(herstel):
    anna, ben = await linked(herstel)
    await quick(herstel)
    faults = herstel.emulator.faults
    faults.share(0.15, status=500, seed=7)
    faults.share(0.1, status=502, seed=8)
    faults.reset_connection(None, times=3)
    faults.fail("getUpdates", status=502, times=2)

    for n in range(12):
        await anna.send(f"anna {n} through the storm")
        await ben.send(f"ben {n} through the storm")
        if n % 4 == 3:
            await herstel.settle()
    await herstel.settle()

    assert len(faults.struck) > 5
    assert all(not task.done() for task in herstel.bot._tasks)
    for n in range(12):
        assert count(ben, f"anna {n} through the storm") >= 1
        assert count(anna, f"ben {n} through the storm") >= 1
    with Session(herstel.bot.engine) as session:
        assert repo.count_unsent(session) == 0


async def test_the_bot_starts_while_telegram_is_failing(herstel):
    await herstel.bot.stop()
    herstel.emulator.faults.fail("getMe", status=502, times=2)
    herstel.emulator.faults.fail("deleteWebhook", status=500)
    herstel.bot = HerstelBot(settings_for(herstel.emulator, herstel.database_url), clock=herstel.clock, pace=QUICK)
    await herstel.bot.start()
    anna = herstel.person("Anna")
    await anna.send("/start")
    await herstel.settle()
    assert WORDS["en"]["welcome"] in anna.last.text


async def test_normal_operation_stays_within_telegrams_limits(herstel):
    """Two couples writing fast: the courier paces itself, so the emulator never answers 429."""
    couples = [await linked(herstel), await linked(herstel)]
    for n in range(15):
        for c, (anna, ben) in enumerate(couples):
            await anna.send(f"Anna of couple {c} says {n}")
            await ben.send(f"Ben of couple {c} says {n}")
    await herstel.settle()
    for c, (anna, ben) in enumerate(couples):
        assert count(ben, f"Anna of couple {c} says 14") == count(anna, f"Ben of couple {c} says 14") == 1
    assert [e for e in herstel.emulator.errors if e[1] == 429] == []


def test_each_chat_gets_a_burst_then_one_message_a_second():
    now = [0.0]
    limiter = Limiter(Pace(per_second=100, chat_per_second=1.0, chat_burst=3, margin=0), clock=lambda: now[0])
    for _ in range(3):
        assert limiter.wait(1, "sendMessage") == 0
        limiter.take(1, "sendMessage")
    assert limiter.wait(1, "sendMessage") == pytest.approx(1.0)
    assert limiter.wait(2, "sendMessage") == 0  # another chat has its own burst
    assert limiter.wait(1, "answerCallbackQuery") == 0  # not a message in the chat
    now[0] += 1.0
    assert limiter.wait(1, "sendMessage") == 0


def test_all_calls_together_keep_to_the_global_rate_in_any_one_second():
    now = [0.0]
    limiter = Limiter(Pace(per_second=5, chat_per_second=100, chat_burst=100, margin=0), clock=lambda: now[0])
    for chat in range(5):
        assert limiter.wait(chat, "sendMessage") == 0
        limiter.take(chat, "sendMessage")
    now[0] = 0.5
    assert limiter.wait(99, "sendMessage") == pytest.approx(0.5)  # a sliding window: no refill on the way
    now[0] = 1.0
    for chat in range(5):
        assert limiter.wait(chat, "sendMessage") == 0
        limiter.take(chat, "sendMessage")
    assert limiter.wait(99, "sendMessage") == pytest.approx(1.0)  # five in the next second, not ten


def test_a_call_counts_from_its_answer_for_the_pace():
    now = [0.0]
    limiter = Limiter(Pace(per_second=2, chat_per_second=1.0, chat_burst=1, margin=0), clock=lambda: now[0])
    for chat in (1, 2):
        assert limiter.wait(chat, "sendMessage") == 0
        limiter.take(chat, "sendMessage")
    now[0] = 0.4  # answered 0.4 s later: Telegram may have seen them only just now
    limiter.answered([(1, "sendMessage"), (2, "sendMessage")])
    now[0] = 1.0
    assert limiter.wait(3, "sendMessage") == pytest.approx(0.4)
    assert limiter.wait(1, "sendMessage") == pytest.approx(0.4)


@pytest.mark.parametrize("kind, filename", [("document", "notes.json"), ("photo", "picture.jpg")])
async def test_a_file_in_the_outbox_is_uploaded(herstel, kind, filename):
    anna = herstel.person("Anna")
    await anna.send("/start")
    await herstel.settle()
    content = b'{"written": "by Anna"}'
    with Session(herstel.bot.engine) as session:
        params = {
            "chat_id": anna.id,
            "caption": "Your file",
            kind: {"filename": filename, "base64": base64.b64encode(content).decode()},
        }
        repo.queue(session, [repo.Call(anna.id, f"send{kind.title()}", params)], herstel.clock())
        session.commit()
    herstel.bot.courier.wake()
    await herstel.settle()
    assert anna.last.document == content
    assert anna.last.filename == filename
    assert anna.last.caption == "Your file"


async def test_logs_say_what_went_wrong_without_any_text(herstel, caplog):
    caplog.set_level(logging.INFO)
    anna, ben = await linked(herstel)
    await quick(herstel)
    herstel.emulator.faults.fail("sendMessage", status=502, chat=ben)
    await anna.send("Nobody should read this in a log")
    await herstel.settle()
    assert "could not reach Telegram for sendMessage (NetworkError)" in caplog.text
    assert "Nobody should read this" not in caplog.text


async def test_an_answer_lost_after_telegram_did_the_work_is_the_one_duplicate(herstel):
    """The at-least-once gap, shown: Telegram delivers, its answer never arrives, the courier sends again."""
    anna, ben = await linked(herstel)
    await quick(herstel)
    herstel.emulator.faults.hang("sendMessage", seconds=1.5, carried_out=True, chat=ben)
    await anna.send("Did this arrive?")
    await herstel.settle()  # the courier's retry has arrived; the hung first call is still on its way
    await until(lambda: count(ben, "Did this arrive?") == 2, "the hung call to be carried out", 10)
    await herstel.settle()
    assert count(ben, "Did this arrive?") == 2


def test_a_share_of_calls_fails_the_same_way_for_the_same_seed():
    def pattern(seed: int) -> list[bool]:
        faults = Faults()
        faults.share(0.3, status=500, seed=seed)
        return [faults.strike("sendMessage", {}) is not None for _ in range(200)]

    assert pattern(1) == pattern(1) != pattern(2)
    assert 30 < sum(pattern(1)) < 90


def test_the_engine_tells_only_a_linked_partner_that_messages_cannot_reach_someone():
    now = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    ben = Person(2, "Ben", "nl", Phase.LINKED, Role.HURT, "c1")
    anna = Person(1, "Anna", "en", Phase.LINKED, Role.DAMAGED, "c1")
    couple = Couple("c1", (1, 2), now)
    world, effects = step(World(me=ben, partner=anna, couple=couple), Unreachable(Sender(2, "Ben", "nl")), now)
    assert effects == [Say("partner", "partner.unreachable", {"partner": "Ben"})]
    assert world.me == ben and world.partner == anna
    alone = Person(3, "Cleo", "en", Phase.INVITING)
    assert step(World(me=alone), Unreachable(Sender(3, "Cleo", "en")), now)[1] == []
