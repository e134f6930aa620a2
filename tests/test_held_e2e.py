"""A text written out of turn, at the end of an exercise: its writer chooses; and what a person
kept never reaches the other's /export. End to end through the emulator, on both backends."""

from __future__ import annotations

import json

import pytest

from tests.test_pairing import WORDS, pair

SAY = {
    "en": {
        "room": "Room for grief and anger",
        "room_name": "in Room for grief and anger",
        "place": "Your place: the partner who damaged the trust",
        "said": "I've said what I need for now",
        "yes": "Yes, that's it",
        "keep_held": "Keep for tomorrow",
        "send_held": "Send it now",
        "keep_crisis": "Keep it with me",
        "asked": "It has not been passed on to Ben.",
        "reminder": "A gentle reminder.",
        "earlier": "wrote this earlier",
        "grief": "I keep seeing the messages.",
        "out_of_turn": "Can I explain why it happened?",
        "mirror": "What I hear is that the messages stay with you.",
        "crisis": "Some nights I want to kill myself.",
    },
    "nl": {
        "room": "Verdriet en boosheid",
        "room_name": "bij Ruimte voor verdriet en boosheid",
        "place": "Jouw plek: degene die het vertrouwen heeft beschadigd",
        "said": "Dit was het voor nu",
        "yes": "Ja, zo is het",
        "keep_held": "Bewaar tot morgen",
        "send_held": "Nu versturen",
        "keep_crisis": "Bij mij houden",
        "asked": "Het is nog niet doorgegeven aan Ben.",
        "reminder": "Een zachte herinnering.",
        "earlier": "schreef dit eerder",
        "grief": "Ik blijf de berichten zien.",
        "out_of_turn": "Mag ik uitleggen waarom het gebeurde?",
        "mirror": "Wat ik je hoor zeggen is dat de berichten je bijblijven.",
        "crisis": "Sommige nachten wil ik zelfmoord plegen.",
    },
}


async def act(herstel, *steps):
    for person, kind, text in steps:
        await (person.press(text) if kind == "press" else person.send(text))
        await herstel.settle()


async def export_of(herstel, person) -> dict:
    await act(herstel, (person, "write", "/export"))
    files = [r.document for r in person.inbox if r.document and r.filename == "herstel-export.json"]
    return json.loads(files[-1])


def readable_export(person) -> str:
    return [r.document for r in person.inbox if r.document and r.filename == "herstel-export.txt"][-1].decode()


CODES = (": hurt", ": damaged", ": linked\n", "(room)", ": nl\n", ": uk\n", ": en\n", "declined", ": None")


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_a_held_text_waits_for_its_writers_choice_and_a_kept_crisis_text_stays_theirs(herstel, language):
    say = SAY[language]
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    await pair(herstel, anna, ben, WORDS[language])  # Anna damaged the trust; Ben's trust was damaged

    # Ben has room for his grief; Anna writes out of turn, and the exercise ends before her next turn.
    await act(
        herstel,
        (ben, "write", "/menu"),
        (ben, "press", say["room"]),
        (ben, "write", say["grief"]),
        (anna, "write", say["out_of_turn"]),
        (ben, "press", say["said"]),
        (anna, "write", say["mirror"]),
        (ben, "press", say["yes"]),
    )
    assert say["asked"] in anna.last.text and say["send_held"] in anna.last.button_texts  # asked, privately
    assert not any(say["out_of_turn"] in t for t in ben.texts())  # never passed on by itself
    await act(herstel, (anna, "press", say["keep_held"]))

    # A crisis text Anna keeps to herself.
    await act(herstel, (anna, "write", say["crisis"]), (anna, "press", say["keep_crisis"]))
    assert not any(say["crisis"] in t for t in ben.texts())

    # Ben's export holds what reached him, and nothing Anna kept.
    shared = json.dumps((await export_of(herstel, ben))["shared_with_me"], ensure_ascii=False)
    assert say["mirror"] in shared
    assert say["crisis"] not in shared and say["out_of_turn"] not in shared
    written = [e["text"] for e in (await export_of(herstel, anna))["written"]]
    assert say["crisis"] in written and say["out_of_turn"] in written  # nothing is lost: hers
    readable = readable_export(anna)  # in words, in her language
    assert not [code for code in CODES if code in readable], readable
    assert say["crisis"] in readable and say["room_name"] in readable and say["place"] in readable

    # The next day Anna is asked again, and sends it now: it reaches Ben, and then his export.
    herstel.clock.advance(days=1, minutes=1)
    await herstel.bot.tick()
    await herstel.settle()
    assert any(t.startswith(say["reminder"]) and "Ben" in t for t in anna.texts()[-2:])
    await act(herstel, (anna, "press", say["send_held"]))
    assert say["earlier"] in ben.last.text and say["out_of_turn"] in ben.last.text
    shared = json.dumps((await export_of(herstel, ben))["shared_with_me"], ensure_ascii=False)
    assert say["out_of_turn"] in shared and say["crisis"] not in shared
