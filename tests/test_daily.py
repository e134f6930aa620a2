"""Check-ins, nudges and the progress picture, each partner in their own time, with the bot's clock in hand."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from matplotlib import image
from sqlmodel import Session

from bot import unit_of_work
from dialogues.texts import Texts
from emulator import Limits
from storage import repo
from storage.db import make_engine
from tests.test_pairing import WORDS, pair

CHECK_IN = "A moment for yourself."
NUDGE = "A gentle reminder."


async def at(herstel, when: datetime) -> None:
    """Move the bot's clock, and let whatever is due happen."""
    herstel.clock.now = when
    await herstel.bot.tick()
    await herstel.settle()


async def settle_in(herstel, person, zone_button: str | None = None, city: str | None = None, time: str = "20:00"):
    """Choose a time zone (a button, or typing a city) and a check-in time."""
    if zone_button:
        await person.press(zone_button)
    else:
        await person.press("Somewhere else")
        await herstel.settle()
        await person.send(city)
    await herstel.settle()
    await person.press(time)
    await herstel.settle()


async def linked_couple(herstel, anna_zone=("Somewhere else", "Amsterdam"), ben_zone=("New York", None)):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])
    await settle_in(herstel, anna, *(None, anna_zone[1]) if anna_zone[1] else (anna_zone[0], None))
    await settle_in(herstel, ben, *(None, ben_zone[1]) if ben_zone[1] else (ben_zone[0], None))
    return anna, ben


def local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")


async def test_amsterdam_and_new_york_get_their_check_ins_at_their_own_20_00_across_a_dst_change(herstel):
    anna, ben = await linked_couple(herstel)  # Monday 2 March; New York moves its clocks on Sunday 8 March
    anna.take(), ben.take()
    arrivals = {"Anna": [], "Ben": []}
    start = herstel.clock.now.replace(minute=0)
    for hour in range(1, 8 * 24):
        await at(herstel, start + timedelta(hours=hour))
        for person, zone in ((anna, "Europe/Amsterdam"), (ben, "America/New_York")):
            if any(CHECK_IN in r.text for r in person.take()):
                arrivals[person.name].append(local(herstel.clock.now, zone))
    assert arrivals["Anna"] == [f"{day} 20:00" for day in ("Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Mon")]
    assert arrivals["Ben"] == [f"{day} 20:00" for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Mon")]


async def test_a_check_in_stays_private_until_both_have_answered_then_both_see_both(herstel):
    anna, ben = await linked_couple(
        herstel, anna_zone=("Somewhere else", "Amsterdam"), ben_zone=("Somewhere else", "Brussel")
    )
    await at(herstel, datetime(2026, 3, 3, 19, 0, tzinfo=UTC))  # 20:00 in both
    assert CHECK_IN in anna.last.text and CHECK_IN in ben.last.text
    anna.take(), ben.take()
    await anna.press("4 · fairly good")
    await herstel.settle()
    await anna.send("tired")
    await herstel.settle()
    assert "Your answer is kept until Ben has answered too" in anna.last.text
    assert ben.take() == []  # nothing of Anna's answer reaches Ben yet
    await ben.press("2 · hard")
    await herstel.settle()
    await ben.press("No word today")
    await herstel.settle()
    for person, mine, theirs in (
        (anna, 'You: 4 of 5, "tired"', "Ben: 2 of 5"),
        (ben, "You: 2 of 5", 'Anna: 4 of 5, "tired"'),
    ):
        assert mine in person.last.text and theirs in person.last.text
    assert "tired" not in " ".join(t for t in ben.texts() if "Anna writes" in t)  # the word is not a message


async def test_if_the_partner_does_not_answer_by_the_end_of_their_day_the_one_who_did_is_told_neutrally(herstel):
    anna, ben = await linked_couple(herstel)
    await at(herstel, datetime(2026, 3, 3, 19, 0, tzinfo=UTC))  # Anna's 20:00
    await anna.press("3 · so-so")
    await herstel.settle()
    await anna.press("No word today")
    await herstel.settle()
    await at(herstel, datetime(2026, 3, 4, 1, 0, tzinfo=UTC))  # Ben's 20:00: asked, does not answer
    anna.take()
    await at(herstel, datetime(2026, 3, 4, 5, 1, tzinfo=UTC))  # midnight in New York has passed
    told = anna.take()
    assert [r.text.splitlines()[0] for r in told] == ["About today's check-in."]  # the first line holds no name
    assert "Ben did not answer today" in told[0].text


async def test_a_turn_waiting_a_day_gets_one_gentle_nudge_never_in_quiet_hours(herstel):
    anna, ben = await linked_couple(herstel)
    await at(herstel, datetime(2026, 3, 3, 21, 30, tzinfo=UTC))  # 22:30 in Amsterdam
    await anna.send("/menu")
    await herstel.settle()
    await anna.press("Naming what happened")  # Anna's turn to write
    await herstel.settle()
    anna.take()
    nudges = []
    start = herstel.clock.now
    for half_hour in range(1, 4 * 48):
        await at(herstel, start + timedelta(minutes=30 * half_hour))
        for received in anna.take():
            if received.text.startswith(NUDGE):
                nudges.append(local(herstel.clock.now, "Europe/Amsterdam"))
    assert nudges == ["Thu 08:00"]  # a day later was 22:30 Wednesday, in quiet hours: so 08:00
    assert not any(NUDGE in t for t in ben.texts())  # Ben owes no turn


async def test_a_check_in_missed_while_the_bot_was_down_comes_once_the_same_evening_or_not_at_all(herstel):
    anna, ben = await linked_couple(herstel, ben_zone=("Somewhere else", "Amsterdam"))
    anna.take()
    await herstel.bot.stop()
    herstel.clock.now = datetime(2026, 3, 3, 19, 40, tzinfo=UTC)  # 20:40: the bot was down at 20:00
    await herstel.restart()
    await at(herstel, herstel.clock.now)
    await at(herstel, herstel.clock.now + timedelta(minutes=1))
    assert [r.text for r in anna.take()].count(next(t for t in anna.texts() if CHECK_IN in t)) == 1
    await herstel.bot.stop()
    herstel.clock.now = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)  # down all of Wednesday evening
    await herstel.restart()
    await at(herstel, herstel.clock.now)
    assert not any(CHECK_IN in r.text for r in anna.take())  # 00:30 Thursday: skipped, not sent late


async def test_a_typed_morning_time_brings_the_check_in_in_the_morning_and_a_night_time_is_refused(herstel):
    anna, ben = await linked_couple(herstel)  # Amsterdam, Monday 2 March
    await anna.send("/settings")
    await herstel.settle()
    await anna.press("Check-in time")
    await herstel.settle()
    await anna.send("23.30")
    await herstel.settle()
    assert "quiet hours" in anna.last.text
    await anna.send("8.15")
    await herstel.settle()
    assert "Every day at 08:15 (Amsterdam time)" in anna.last.text
    anna.take()
    await at(herstel, datetime(2026, 3, 3, 7, 14, tzinfo=UTC))
    assert not any(CHECK_IN in r.text for r in anna.take())
    await at(herstel, datetime(2026, 3, 3, 7, 15, tzinfo=UTC))  # 08:15 in Amsterdam
    assert any(CHECK_IN in r.text for r in anna.take())


async def test_pause_stops_check_ins_for_the_days_chosen(herstel):
    anna, ben = await linked_couple(herstel)
    await anna.send("/pause")
    await herstel.settle()
    await anna.press("3 days")
    await herstel.settle()
    assert "No check-ins or reminders up to and including Thursday 5 March" in anna.last.text
    anna.take()
    for day in range(1, 5):
        await at(herstel, datetime(2026, 3, 2 + day, 19, 0, tzinfo=UTC))
    arrived = [r for r in anna.take() if CHECK_IN in r.text]
    assert len(arrived) == 1  # only Friday's


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_progress_sends_a_picture_of_the_weeks(herstel, language):
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    await pair(herstel, anna, ben, WORDS[language])
    for day in range(3, 6):
        for hour in (19, 20):  # 20:00 in Amsterdam (Dutch) or London (English), the zones they start with
            await at(herstel, datetime(2026, 3, day, hour, 0, tzinfo=UTC))
        for person, score in ((anna, "4"), (ben, "2")):
            check_in = next(r for r in reversed(person.inbox) if r.button_texts and r.button_texts[0].startswith("1"))
            label = next(b for b in check_in.button_texts if b.startswith(score))
            await person.press(label)
            await herstel.settle()
            await person.send("ok")
            await herstel.settle()
    await anna.send("/progress")
    await herstel.settle()
    picture = anna.last
    assert picture.document is not None and picture.document[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = image.imread(io.BytesIO(picture.document))
    assert pixels.shape[:2] == (450, 800)
    assert pixels.std() > 0.05  # not blank


async def test_two_schedulers_on_one_postgresql_send_each_check_in_exactly_once(herstel):
    if not herstel.database_url.startswith("postgresql"):
        pytest.skip("several processes share one database on PostgreSQL only; SQLite serves one process")
    couples = [await linked_couple_quietly(herstel, n) for n in range(6)]
    await herstel.bot.stop()
    now = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # 20:00 in London, where they start
    texts = Texts(bot_username="HerstelTestBot")
    engines = [make_engine(herstel.database_url) for _ in range(2)]
    with Session(engines[0]) as session:
        due = repo.due_schedule_ids(session, now)
    taken = [0, 0]

    def scheduler(index: int) -> None:
        taken[index] = sum(unit_of_work.due(engines[index], schedule_id, now, texts) for schedule_id in due)

    threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(taken) == len(due) >= 12
    with Session(engines[0]) as session:
        queued = [c for c in repo.due_calls(session, limit=1000) if CHECK_IN in c.call.params.get("text", "")]
    assert len(queued) == 2 * len(couples)
    assert len({c.call.chat_id for c in queued}) == 2 * len(couples)
    [e.dispose() for e in engines]
    await herstel.restart()


async def test_a_burst_of_check_ins_due_in_one_minute_leaves_paced_without_a_429(herstel):
    couples = [await linked_couple_quietly(herstel, n) for n in range(20)]
    herstel.emulator.limits = Limits()  # Telegram's own: about 30 a second overall, 1 a second a chat
    await at(herstel, datetime(2026, 3, 2, 20, 0, tzinfo=UTC))  # 20:00 in London for all 40
    arrived = [p for couple in couples for p in couple if any(CHECK_IN in t for t in p.texts())]
    assert len(arrived) == 40
    assert herstel.emulator.too_many == 0


async def linked_couple_quietly(herstel, n: int):
    anna, ben = herstel.person(f"A{n}"), herstel.person(f"B{n}")
    await pair_named(herstel, anna, ben)
    return anna, ben


async def pair_named(herstel, first, second):
    from tests.test_pairing import pass_screen

    words = WORDS["en"]
    await first.send("/start")
    await herstel.settle()
    await pass_screen(herstel, first, words)
    await first.press(words["damaged"])
    await herstel.settle()
    link = next(w for w in first.last.text.split() if w.startswith("https://t.me/"))
    await second.open_link(link)
    await herstel.settle()
    await pass_screen(herstel, second, words)
    await second.press(words["join"])
    await herstel.settle()
    await first.press(words["is_partner"])
    await herstel.settle()
