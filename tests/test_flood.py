"""Someone who sends more than FLOOD_LIMIT messages a minute is told once, kindly, that their messages
go on at a calmer pace; nothing they wrote is lost, and their partner gets everything, in order."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from dialogues.engine import step
from dialogues.flood import FLOOD_LIMIT
from dialogues.model import Say, Sender, Text, World
from tests.crash_safety import until
from tests.stage import START, TEXTS, Stage
from tests.test_pairing import WORDS, pair

NOTICE = {"en": "You are sending many messages in a short time", "nl": "Je stuurt veel berichten kort na elkaar"}


def test_the_limit_is_the_one_the_readme_promises():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert f"more than {FLOOD_LIMIT} messages a minute" in readme


def test_a_linked_partner_who_floods_is_told_once_and_every_message_reaches_the_other_in_order():
    stage = Stage.linked("nl")
    for n in range(60):
        stage.write("Anna", f"bericht {n}")
    assert [m.text for m in stage.inbox["Anna"]] == [TEXTS.render("nl", "flood.calmer", partner="Ben", carried=True)]
    assert NOTICE["nl"] in stage.last("Anna") and "Ben" in stage.last("Anna")
    assert [last_line(m.text) for m in stage.inbox["Ben"]] == [f"bericht {n}" for n in range(60)]
    assert [w.record.text for w in stage.journal.entries] == [f"bericht {n}" for n in range(60)]


def test_a_flood_that_goes_on_brings_no_second_notice_and_a_calm_minute_counts_afresh():
    stage = Stage.linked("en")
    for minute in range(5):
        for n in range(30):
            stage.write("Anna", f"{minute}.{n}")
        stage.later(seconds=61)
    assert sum(NOTICE["en"] in m.text for m in stage.inbox["Anna"]) == 1
    stage.later(minutes=3)
    for n in range(FLOOD_LIMIT + 1):
        stage.write("Anna", f"later {n}")
    assert sum(NOTICE["en"] in m.text for m in stage.inbox["Anna"]) == 2
    assert len(stage.inbox["Ben"]) == 5 * 30 + FLOOD_LIMIT + 1


def test_a_stranger_who_sends_300_messages_gets_one_notice_and_an_answer_at_most_once_a_minute_after():
    me, now, answers = None, START, []
    for n in range(300):
        world, effects = step(World(me=me), Text(Sender(7, "Zoe", "en"), f"hello {n}"), now)
        me, now = world.me, now + timedelta(milliseconds=300)  # 300 in 90 seconds
        answers += [e.key for e in effects if isinstance(e, Say)]
    assert answers.count("flood.calmer") == 1
    before_notice = answers.index("flood.calmer")
    assert before_notice == FLOOD_LIMIT + 1  # the usual answer to each message, the notice after the one past it
    assert len(answers) - before_notice - 1 <= 2  # then at most one a minute: 90 seconds bring one or two


def test_crisis_words_are_always_answered_even_in_a_flood():
    me = None
    for n in range(FLOOD_LIMIT + 5):
        world, _ = step(World(me=me), Text(Sender(7, "Zoe", "en"), f"hello {n}"), START)
        me = world.me
    _, effects = step(World(me=me), Text(Sender(7, "Zoe", "en"), "I want to kill myself"), START)
    assert [e.key for e in effects if isinstance(e, Say)] == ["crisis.alone"]


async def test_sixty_messages_in_a_few_seconds_one_notice_and_the_partner_gets_all_sixty_in_order(herstel):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])
    anna.take(), ben.take()
    before = len(ben.texts())
    for n in range(60):
        await anna.send(f"Message number {n}")
    await herstel.emulator.wait_until_confirmed()
    # Ben's chat gets a burst, then one a second: the pace spares him, so all 60 take a while.
    await until(lambda: len(ben.texts()) >= before + 60, "Ben to receive all 60", timeout=120)
    await herstel.settle()
    told = [m.text for m in anna.take()]
    assert len(told) == 1 and NOTICE["en"] in told[0] and "Ben" in told[0]
    received = [m.text for m in ben.take()]
    assert [last_line(t) for t in received] == [f"Message number {n}" for n in range(60)]


def last_line(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text).rsplit("\n", 1)[-1]
