"""Naming, then impact and mirroring, end to end through the emulator and the real PTB Application."""

from __future__ import annotations

import pytest

from tests.test_pairing import WORDS, pair

SAY = {
    "en": {
        "naming": "Naming what happened",
        "impact": "What it did to me",
        "send": "Send",
        "rewrite": "Rewrite",
        "read": "I have read it",
        "stop_for_now": "Stop for now",
        "said": "That's all for now",
        "yes": "Yes, that's it",
        "not_quite": "Not quite",
        "reached": "Yes, it reached me",
        "not_yet": "Not yet",
        "named": "has written down what they did",
        "has_read": "A response.\nBen has read what you wrote.",
        "may_answer": "Would you like to answer Anna?",
        "did_hear": "Did Anna hear you?",
        "coach": "sorry if",
        "did_reach": "Did it reach you?",
        "hint": "stay with what it did to Ben",
        "it_reached": "It reached Ben.",
        "done": "This exercise is done",
        "kept": "I have kept your message",
        "naming_text": "I had an affair with a colleague for six months. It was my choice, and I am sorry.",
        "answer": "Thank you for writing it down.",
        "impact_text": "I stopped trusting my own judgement.",
        "more": "And I feel so alone.",
        "mirror": "What I hear you saying is that you doubt yourself now.",
        "mirror_again": "You doubt yourself, and you feel alone with it.",
        "excuse": "I'm sorry if you felt alone.",
        "respond": "I see that I made you doubt yourself. I am sorry.",
        "respond_again": "I made you doubt your own judgement, and left you alone with it. I am so sorry.",
    },
    "nl": {
        "naming": "Zeggen wat ik heb gedaan",
        "impact": "Wat het met mij deed",
        "send": "Versturen",
        "rewrite": "Opnieuw schrijven",
        "read": "Ik heb het gelezen",
        "stop_for_now": "Stoppen voor nu",
        "said": "Dit was het voor nu",
        "yes": "Ja, zo is het",
        "not_quite": "Niet helemaal",
        "reached": "Ja, het is aangekomen",
        "not_yet": "Nog niet",
        "named": "heeft opgeschreven wat er is gebeurd",
        "has_read": "Een reactie.\nBen heeft gelezen wat je schreef.",
        "may_answer": "Wil je Anna antwoorden?",
        "did_hear": "Heeft Anna je gehoord?",
        "coach": "sorry als",
        "did_reach": "Is het bij je aangekomen?",
        "hint": "blijf bij wat het met Ben heeft gedaan",
        "it_reached": "Het is bij Ben aangekomen.",
        "done": "Deze oefening is klaar",
        "kept": "Ik heb je bericht bewaard",
        "naming_text": "Ik had een half jaar een verhouding met een collega. Het was mijn keuze, en het spijt me.",
        "answer": "Dank je dat je het opschreef.",
        "impact_text": "Ik vertrouw mijn eigen oordeel niet meer.",
        "more": "En ik voel me zo alleen.",
        "mirror": "Wat ik je hoor zeggen is dat je nu aan jezelf twijfelt.",
        "mirror_again": "Je twijfelt aan jezelf, en je voelt je er alleen mee.",
        "excuse": "Sorry als je je alleen voelde.",
        "respond": "Ik zie dat ik je aan jezelf heb laten twijfelen. Het spijt me.",
        "respond_again": "Door mij twijfel je aan je eigen oordeel, en stond je er alleen voor. Het spijt me zo.",
    },
}


async def act(herstel, *steps):
    """Each step is (person, "press" or "write", text); the bot settles after each one."""
    for person, kind, text in steps:
        await (person.press(text) if kind == "press" else person.send(text))
        await herstel.settle()


def recent(person, count: int = 3) -> str:
    """The newest few messages: the evening's check-in may arrive in between."""
    return "\n".join(person.texts()[-count:])


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_naming_then_impact_with_a_response_to_her_pain(herstel, language):
    say = SAY[language]
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    await pair(herstel, anna, ben, WORDS[language])  # Anna damaged the trust

    # Naming: Anna says what she did; Ben reads it, and may answer.
    await act(herstel, (anna, "write", "/menu"), (anna, "press", say["naming"]), (anna, "write", say["naming_text"]))
    assert say["naming_text"] in anna.last.text and say["send"] in anna.last.button_texts  # a preview first
    assert not any(say["naming_text"] in t for t in ben.texts())
    await act(herstel, (anna, "press", say["send"]))
    assert say["named"] in ben.last.text and say["naming_text"] in ben.last.text
    await act(herstel, (ben, "press", say["read"]))
    assert say["has_read"] in anna.texts()
    assert say["may_answer"] in ben.last.text and say["stop_for_now"] in ben.last.button_texts
    await act(herstel, (ben, "write", say["answer"]))
    assert say["answer"] in anna.last.text
    await act(herstel, (ben, "press", say["said"]))
    assert say["done"] in ben.last.text and say["done"] in anna.last.text

    # The next evening: impact. Ben tells what it did to him; Anna mirrors until he feels heard.
    herstel.clock.advance(days=1)
    await act(
        herstel,
        (ben, "write", "/menu"),
        (ben, "press", say["impact"]),
        (ben, "write", say["impact_text"]),
        (anna, "write", "But I never meant to hurt you"),  # out of turn: kept, not delivered
    )
    assert say["impact_text"] in recent(anna)
    assert say["kept"] in recent(anna)
    assert not any("never meant" in t for t in ben.texts())
    await act(herstel, (ben, "press", say["said"]), (anna, "write", say["mirror"]))
    assert say["mirror"] in recent(ben) and say["did_hear"] in recent(ben)
    await act(
        herstel,
        (ben, "press", say["not_quite"]),
        (ben, "write", say["more"]),
        (ben, "press", say["said"]),
        (anna, "write", say["mirror_again"]),
        (ben, "press", say["yes"]),
    )
    # The focus stays with Ben: Anna responds to his pain, with the same gentle check as naming.
    await act(herstel, (anna, "write", say["excuse"]))
    assert say["coach"] in recent(anna).lower() and say["rewrite"] in anna.last.button_texts
    assert not any(say["excuse"] in t for t in ben.texts())
    await act(herstel, (anna, "press", say["rewrite"]), (anna, "write", say["respond"]), (anna, "press", say["send"]))
    assert say["respond"] in recent(ben) and say["did_reach"] in recent(ben)
    await act(herstel, (ben, "press", say["not_yet"]))
    assert any(say["hint"] in t for t in anna.texts())
    await act(herstel, (anna, "write", say["respond_again"]), (anna, "press", say["send"]))
    assert say["respond_again"] in recent(ben)
    await act(herstel, (ben, "press", say["reached"]))
    assert any(say["it_reached"] in t for t in anna.texts())
    assert say["done"] in recent(anna) and say["done"] in recent(ben)
