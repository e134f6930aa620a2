"""Naming, then impact and mirroring, end to end through the emulator and the real PTB Application."""

from __future__ import annotations

import pytest

from tests.test_pairing import WORDS, pair

SAY = {
    "en": {
        "naming": "Naming what happened",
        "impact": "What it did to me",
        "send": "Send",
        "read": "I have read it",
        "said": "I've said what I need for now",
        "yes": "Yes, that's it",
        "not_quite": "Not quite",
        "named": "has written down what they did",
        "has_read": "A response.\nBen has read what you wrote.",
        "did_hear": "Did Anna hear you?",
        "done": "This exercise is done",
        "kept": "I have kept your message",
        "earlier": "wrote this earlier",
        "naming_text": "I had an affair with a colleague for six months. It was my choice.",
        "impact_text": "I stopped trusting my own judgement.",
        "more": "And I feel so alone.",
        "mirror": "What I hear you saying is that you doubt yourself now.",
        "mirror_again": "You doubt yourself, and you feel alone with it.",
        "back": "I am ashamed of what I did to you.",
        "mirror_back": "What I hear you saying is that you are ashamed.",
    },
    "nl": {
        "naming": "Uitspreken wat er gebeurde",
        "impact": "Wat het met mij deed",
        "send": "Versturen",
        "read": "Ik heb het gelezen",
        "said": "Dit was het voor nu",
        "yes": "Ja, zo is het",
        "not_quite": "Niet helemaal",
        "named": "heeft opgeschreven wat er is gebeurd",
        "has_read": "Een reactie.\nBen heeft gelezen wat je schreef.",
        "did_hear": "Heeft Anna je gehoord?",
        "done": "Deze oefening is klaar",
        "kept": "Ik heb je bericht bewaard",
        "earlier": "schreef dit eerder",
        "naming_text": "Ik had een half jaar een verhouding met een collega. Het was mijn keuze.",
        "impact_text": "Ik vertrouw mijn eigen oordeel niet meer.",
        "more": "En ik voel me zo alleen.",
        "mirror": "Wat ik je hoor zeggen is dat je nu aan jezelf twijfelt.",
        "mirror_again": "Je twijfelt aan jezelf, en je voelt je er alleen mee.",
        "back": "Ik schaam me voor wat ik je heb aangedaan.",
        "mirror_back": "Wat ik je hoor zeggen is dat je je schaamt.",
    },
}


async def act(herstel, *steps):
    """Each step is (person, "press" or "write", text); the bot settles after each one."""
    for person, kind, text in steps:
        await (person.press(text) if kind == "press" else person.send(text))
        await herstel.settle()


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_naming_then_impact_and_mirroring_until_both_feel_heard(herstel, language):
    say = SAY[language]
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    await pair(herstel, anna, ben, WORDS[language])  # Anna damaged the trust

    # Naming: Anna says what she did; Ben reads it and confirms.
    await act(herstel, (anna, "write", "/menu"), (anna, "press", say["naming"]), (anna, "write", say["naming_text"]))
    assert say["naming_text"] in anna.last.text and say["send"] in anna.last.button_texts  # a preview first
    assert not any(say["naming_text"] in t for t in ben.texts())
    await act(herstel, (anna, "press", say["send"]))
    assert say["named"] in ben.last.text and say["naming_text"] in ben.last.text
    await act(herstel, (ben, "press", say["read"]))
    assert say["has_read"] in anna.texts()
    assert say["done"] in ben.last.text

    # The next evening: impact. Ben tells what it did to him; Anna mirrors until he feels heard.
    herstel.clock.advance(days=1)
    await act(
        herstel,
        (ben, "write", "/menu"),
        (ben, "press", say["impact"]),
        (ben, "write", say["impact_text"]),
        (anna, "write", "But I never meant to hurt you"),  # out of turn: kept, not delivered
    )
    assert say["impact_text"] in anna.texts()[-2]
    assert say["kept"] in anna.last.text
    assert not any("never meant" in t for t in ben.texts())
    await act(herstel, (ben, "press", say["said"]), (anna, "write", say["mirror"]))
    assert say["mirror"] in ben.texts()[-1] and say["did_hear"] in ben.last.text
    await act(
        herstel,
        (ben, "press", say["not_quite"]),
        (ben, "write", say["more"]),
        (ben, "press", say["said"]),
        (anna, "write", say["mirror_again"]),
        (ben, "press", say["yes"]),
    )
    # The turn goes the other way: now Anna speaks, and the kept message reaches Ben at her turn.
    assert any(say["earlier"] in t and "never meant" in t for t in ben.texts())
    await act(herstel, (anna, "write", say["back"]), (anna, "press", say["said"]), (ben, "write", say["mirror_back"]))
    assert say["mirror_back"] in anna.texts()[-1]
    await act(herstel, (anna, "press", say["yes"]))
    assert say["done"] in anna.last.text and say["done"] in ben.last.text
