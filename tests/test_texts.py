"""Both languages have the same texts, with the same variables, and every one renders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialogues import engine
from dialogues.texts import LANGUAGES, Texts, keys, language_for, variables

SAMPLE = {"partner": "Anna", "name": "Anna", "token": "abc", "role": "hurt", "text": "<hallo> & 'doei'"}


def test_dutch_and_english_have_the_same_keys():
    assert keys("nl") == keys("en")


@pytest.mark.parametrize("key", sorted(keys("en")))
def test_dutch_and_english_use_the_same_variables(key):
    assert variables("nl", key) == variables("en", key)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_renders_and_escapes_what_people_wrote(language):
    texts = Texts(bot_username="HerstelBot")
    for key in keys(language):
        rendered = texts.render(language, key, **SAMPLE)
        assert rendered, key
        assert "<hallo>" not in rendered


def test_every_key_the_engine_names_exists():
    source = Path(engine.__file__).read_text()
    named = set(re.findall(r'"((?:[a-z_]+)\.[a-z_.]+|welcome|linked|help|menu|stranger|only_text)"', source))
    named |= {f"button.{choice}" for choices in engine.QUESTIONS.values() for choice in choices}
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
                assert len(texts.render(language, key)) <= 34, key
