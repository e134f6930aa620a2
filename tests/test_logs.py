"""Logs hold neither what people wrote nor the bot token, even at DEBUG."""

from __future__ import annotations

import logging

import pytest

from bot import logs
from tests.conftest import TOKEN
from tests.test_pairing import WORDS, pair

SECRET_SENTENCE = "I slept with my colleague in March"


@pytest.fixture
def production_logging():
    """The logging `herstel` sets up, at DEBUG; put back afterwards."""
    factory = logging.getLogRecordFactory()
    levels = {name: logging.getLogger(name).level for name in ("", *logs.CHATTY)}
    logs.configure("DEBUG", [TOKEN])
    yield
    logging.setLogRecordFactory(factory)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


async def test_a_whole_scenario_at_debug_logs_no_text_and_no_token(production_logging, herstel, caplog):
    caplog.set_level(logging.DEBUG)
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])
    await anna.send(SECRET_SENTENCE)
    await anna.send("<b>" + SECRET_SENTENCE.upper())
    await herstel.settle()
    assert SECRET_SENTENCE in ben.texts()[-2]
    assert any(r.name.startswith("bot.") for r in caplog.records)  # the bot did log
    logged = caplog.text
    assert TOKEN not in logged
    assert TOKEN.split(":")[1] not in logged
    assert SECRET_SENTENCE.lower() not in logged.lower()


def test_a_secret_in_any_record_is_masked(production_logging, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("anything").warning("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    assert TOKEN not in caplog.text
    assert "/bot[secret]/getMe" in caplog.text
