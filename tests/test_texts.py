"""Both languages have the same texts, with the same variables, and every one renders."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from dialogues import daily, engine, programme
from dialogues.texts import LANGUAGES, Texts, keys, language_for, variables

SAMPLE = {
    "partner": "Anna",
    "name": "Anna",
    "token": "abc",
    "role": "hurt",
    "text": "<hallo> & 'doei'",
    "exercise": "room",
    "suggested": "naming",
    "mine": "<hallo>",
    "theirs": "<hallo>",
    "turn": "Anna",
    "paused": False,
    "coach": True,
    "limit": 3,
    "round": 2,
    "fresh": True,
    "locked": ["safety", "meaning"],
    "first_done": False,
    "hurt": True,
    "start": "22:00",
    "end": "08:00",
    "done": ["room", "naming"],
    "plan": "<hallo>",
    "proposals": ["<hallo>", "walk"],
    "question": "<hallo>",
    "country": "nl",
    "number": 1,
    "zone": "Amsterdam",
    "at": "20:00",
    "until": "",
    "city": "Amsterdam",
    "days": 3,
    "my_score": 3,
    "my_word": "<hallo>",
    "their_score": 4,
    "their_word": "<hallo>",
    "data": {
        "settings": {
            "first_name": "<hallo>",
            "language": "nl",
            "country": None,
            "time_zone": "x",
            "role": "hurt",
            "phase": "linked",
            "checkin_at": "20:00",
            "paused_until": None,
            "since": "x",
        },
        "links": [{"started": "x", "ended": None}],
        "checkins": [{"day": "x", "mine": True, "score": 3, "word": "<hallo>"}],
        "schedules": [{"kind": "held", "due": "x"}],
        "consents": [
            {
                "therapist": "<hallo>",
                "practice": None,
                "status": "declined",
                "you_allowed": True,
                "you_shared_history": False,
            }
        ],
        "written": [{"at": "x", "exercise": "room", "text": "<hallo>", "held": "asked", "reached_others": False}],
        "shared_with_me": [{"at": "x", "exercise": None, "text": "<hallo>", "held": None}],
    },
    # A couple's therapist (tests/test_therapist.py checks its keys are named and exist).
    "therapist": "<hallo>",
    "practice": "<hallo>",
    "register": "<hallo>",
    "asker": "Anna",
    "opened": False,
    "asked": True,
    "reason": "used",
    "couple": "<hallo> & Ben",
    "current": True,
    "count": 2,
    "actor": "Ben",
    "names": "Anna & Ben",
    "account": "Anna Jansen",
    "username": "anna_j",
    "made_link": True,
    "entries": [{"at": "2026-03-02 20:00", "author": "<hallo>", "exercise": "room", "text": "<hallo>"}],
}


def test_dutch_and_english_have_the_same_keys():
    assert keys("nl") == keys("en")


@pytest.mark.parametrize("key", sorted(keys("en")))
def test_dutch_and_english_use_the_same_variables(key):
    assert variables("nl", key) == variables("en", key)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_renders_and_escapes_what_people_wrote(language):
    texts = Texts(bot_username="HerstelBot")
    for key in keys(language) - {k for k in keys(language) if k.startswith("_")}:  # partials render inside others
        rendered = texts.render(language, key, **SAMPLE)
        assert rendered, key
        assert "<hallo>" not in rendered or key in (
            "export.readable",
            "therapist.history_file",
        )  # plain-text files, not HTML


def test_every_key_the_engine_names_exists():
    """Keys built at run time (f-strings) are covered by the golden transcripts."""
    source = "".join(Path(m.__file__).read_text() for m in (engine, programme, daily))
    named = set(re.findall(r'Say\(\s*"(?:self|partner)",\s*"([^"]+)"', source))
    named |= set(re.findall(r'_ask\([^)]*?"([a-z_]+\.[a-z_.]+)"', source))
    labelled = {q: c for q, c in engine.QUESTIONS.items() if q not in daily.CHOICES}  # daily buttons name their labels
    named |= {f"button.{choice}" for choices in labelled.values() for choice in choices}
    named |= set(re.findall(r'Button\(\s*f?"(button\.[a-z_]+)"', source)) - {"button."}
    assert len(named) > 60
    assert named - keys("en") == set()


def test_a_missing_variable_is_an_error_not_a_gap():
    with pytest.raises(Exception, match="undefined"):
        Texts(bot_username="x").render("en", "linked")


@pytest.mark.parametrize(
    "code, language", [("nl", "nl"), ("nl-BE", "nl"), ("NL", "nl"), ("en", "en"), ("de", "en"), (None, "en")]
)
def test_telegram_language_code_chooses_the_language(code, language):
    assert language_for(code) == language


# The two role buttons use the words language.md prescribes, each alone on a full-width row.
LONG_BUTTONS = {"button.damaged", "button.hurt"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_button_label_is_at_most_25_characters(language):
    texts = Texts(bot_username="x")
    labels = {key: texts.render(language, key, **SAMPLE) for key in keys(language) if key.startswith("button.")}
    assert len(labels) > 80
    too_long = {key: label for key, label in labels.items() if len(label) > 25 and key not in LONG_BUTTONS}
    assert too_long == {}
    assert all(len(labels[key]) <= 34 for key in LONG_BUTTONS)


# What arrives unasked ------------------------------------------------------------------------------
# A message the reader did not just ask for shows its first line on a locked screen: that line holds
# no name and nothing anyone wrote. Unasked: anything sent to "partner", "therapist" or "couple", what
# a scheduled moment (Due) sends, and what reaches an inviter about who opened their link.

DUE_KEYS = {"checkin.ask", "checkin.partner_silent", "nudge.turn", "questions.promise_reminder", "trust.follow_up"}
NAMES_AND_CONTENT = ("Anna", "Ben", "hallo", "Jansen", "anna_j")


@functools.cache
def _unasked_keys() -> frozenset[str]:
    """Every key the golden scenarios send to someone other than the one who acted, and what a Due
    sends, plus every key the source sends to another person by name."""
    from dialogues import model, therapist
    from tests import stage as stage_module
    from tests import test_therapist, test_transcripts, therapist_stage

    found: set[str] = set()

    def recording(world, event, now):
        after, effects = engine.step(world, event, now)
        due = isinstance(event, model.Due)
        found.update(e.key for e in effects if isinstance(e, model.Say) and (due or e.to != "self"))
        return after, effects

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stage_module, "step", recording)
        patch.setattr(therapist_stage, "step", recording)
        _play_every_scenario(stage_module, therapist_stage, test_transcripts, test_therapist)
    source = "".join(Path(m.__file__).read_text() for m in (engine, programme, daily, therapist))
    found |= set(re.findall(r'Say\(\s*"(?:partner|therapist|couple)",\s*"([^"]+)"', source))
    found |= {relay.key for relay in therapist.RELAY.values()}
    return frozenset(found | DUE_KEYS | {"join.ask", "consent.request", "zone.choose_first"})


def _play_every_scenario(stage_module, therapist_stage, test_transcripts, test_therapist) -> None:
    """The keys are the same in both languages: English alone finds them."""
    say = lambda en, nl: en  # noqa: E731
    for scenario in test_transcripts.SCENARIOS.values():
        scenario(stage_module.Stage.linked("en"), say)
    for scenario, pairs in test_therapist.SCENARIOS.values():
        scenario(therapist_stage.CareStage.with_couples("en", *pairs), say)
    for scenario in test_transcripts.PAIRING.values():
        care_stage = therapist_stage.CareStage(language="en")
        for person in test_transcripts.ACCOUNTS:
            care_stage.join(person)
        scenario(care_stage, say, "in_uk")


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_message_that_arrives_unasked_names_anyone_or_quotes_anything_in_its_first_line(language):
    texts = Texts(bot_username="HerstelBot")
    unasked = _unasked_keys()
    assert {"linked", "partner.says", "join.ask", "consent.not_ours_partner", "checkin.ask"} <= unasked
    assert len(unasked) > 50
    shown = {}
    for key in sorted(unasked):
        first = texts.render(language, key, **SAMPLE).split("\n", 1)[0]
        if any(re.search(rf"\b{word}\b", first, re.IGNORECASE) for word in NAMES_AND_CONTENT):
            shown[key] = first
    assert shown == {}
