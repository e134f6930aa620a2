"""Both languages have the same texts, with the same variables, and every one renders."""

from __future__ import annotations

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
            "role": None,
            "since": "x",
        },
        "links": [],
        "consents": [],
        "written": [],
        "shared_with_me": [],
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


def test_buttons_stay_short():
    texts = Texts(bot_username="x")
    for language in LANGUAGES:
        for key in keys(language):
            if key.startswith("button."):
                assert len(texts.render(language, key, **SAMPLE)) <= 34, key
