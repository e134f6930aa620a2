"""Safety first: each partner is screened alone, crisis messages meet help lines first, help is always there."""

from __future__ import annotations

import pytest

from dialogues.crisis import has_signals
from tests.stage import Stage
from tests.test_pairing import WORDS, pair, pass_screen
from tests.test_transcripts import SCENARIOS

EN, NL = WORDS["en"], WORDS["nl"]


async def invite(herstel, anna, words) -> str:
    await anna.send("/start")
    await herstel.settle()
    await pass_screen(herstel, anna, words)
    await anna.press(words["damaged"])
    await herstel.settle()
    return next(w for w in anna.last.text.split() if w.startswith("https://t.me/"))


@pytest.mark.parametrize("question", [1, 2, 3, 4])
async def test_a_yes_to_any_screening_question_shows_help_and_offers_no_pairing(herstel, question):
    anna, ben = herstel.person("Anna", "nl"), herstel.person("Ben", "nl")
    link = await invite(herstel, anna, NL)
    anna.take()
    await ben.open_link(link)
    await herstel.settle()
    await ben.press("Nederland")
    await herstel.settle()
    for _ in range(question - 1):
        await ben.press("Nee")
        await herstel.settle()
    assert f"Vraag {question} van 4." in ben.last.text
    await ben.press("Ja")
    await herstel.settle()
    assert "niet de veilige stap" in ben.last.text
    assert "Veilig Thuis, 0800-2000" in ben.last.text and "0800-0113" in ben.last.text
    assert ben.last.buttons == ()
    assert anna.take() == []  # the inviter is told nothing: the invitation is simply not accepted yet
    await ben.open_link(link)  # and opening the link again offers no way around it
    await herstel.settle()
    assert "Ja" not in ben.last.button_texts and "Meedoen" not in ben.last.button_texts


@pytest.mark.parametrize(
    "country, line",
    [
        ("United Kingdom", "Samaritans, 116 123"),
        ("United States", "988"),
        ("Belgium", "1712"),
        ("Ireland", "116 123"),
        ("Somewhere else", "findahelpline.com"),
    ],
)
async def test_help_lines_follow_the_country(herstel, country, line):
    anna = herstel.person("Anna")
    await anna.send("/start")
    await herstel.settle()
    await anna.press(country)
    await herstel.settle()
    await anna.send("/help")
    await herstel.settle()
    assert line in anna.last.text


async def test_help_is_there_in_the_middle_of_an_exercise(herstel):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, EN)
    await anna.send("/menu")
    await herstel.settle()
    await anna.press("Naming what happened")
    await anna.send("/help")
    await herstel.settle()
    assert "Samaritans, 116 123" in anna.last.text
    await anna.send("I lied to you for a year. It was my choice.")
    await herstel.settle()
    assert "I lied to you for a year" in anna.last.text  # the exercise went on where it was


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_a_crisis_message_shows_help_first_and_the_writer_decides(herstel, language):
    words = WORDS[language]
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    await pair(herstel, anna, ben, words)
    ben.take()
    dark = "Sometimes I want to die." if language == "en" else "Soms denk ik aan zelfmoord."
    await anna.send(dark)
    await herstel.settle()
    assert ("116 123" if language == "en" else "0800-0113") in anna.last.text
    assert ben.take() == []  # the partner is not alarmed
    await anna.press("Keep it with me" if language == "en" else "Bij mij houden")
    await herstel.settle()
    assert ben.take() == []
    await anna.send(dark)
    await herstel.settle()
    await anna.press("Pass it on" if language == "en" else "Toch doorgeven")
    await herstel.settle()
    received = ben.take()
    assert len(received) == 1 and dark in received[0].text


async def test_a_crisis_message_before_linking_gets_help_lines(herstel):
    sam = herstel.person("Sam")
    await sam.send("/start")
    await sam.send("I am thinking about ending my life")
    await herstel.settle()
    assert "findahelpline.com" in sam.last.text or "116 123" in sam.last.text


NORMAL_TEXTS = [
    "I could kill for a coffee right now.",
    "This silence is killing me.",
    "You hurt me so much.",
    "I was hurt when you lied.",
    "You threatened to leave me last year.",
    "I felt like dying of shame.",
    "Ik ga dood van schaamte.",
    "Je hebt me zo gekwetst.",
    "De klok sloeg twaalf toen je thuiskwam.",
    "Ik sloeg dicht toen je het vertelde.",
    "I want to end this silence between us.",
    "We fought, but nobody hit anyone.",
    "Ik wil een einde maken aan de leugens.",
    "I beat myself up about it every day.",
]


def test_the_crisis_word_lists_stay_quiet_on_ordinary_exercise_texts():
    texts = list(NORMAL_TEXTS)
    for language in ("en", "nl"):
        for scenario in SCENARIOS.values():
            stage = Stage.linked(language)
            scenario(stage, lambda en, nl, language=language: en if language == "en" else nl)
            texts += [line.split(": ", 1)[1] for line in stage.lines if ": " in line and not line.startswith(" ")]
    assert len(texts) > 100
    assert [t for t in texts if has_signals(t)] == []


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "Ik wil niet meer leven",
        "He hits me when he drinks",
        "Ze slaat me",
        "I will hurt you if you leave",
        "Ik maak je af",
        "I've been cutting myself again",
        "Ik wil er een eind aan maken",
    ],
)
def test_the_crisis_word_lists_catch_what_they_are_for(text):
    assert has_signals(text)
