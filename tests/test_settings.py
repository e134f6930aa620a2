"""A missing or malformed setting stops `herstel` with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture(autouse=True)
def _empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's


def herstel(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HERSTEL_", "TELEGRAM_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.main", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, says",
    [
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "Setting TELEGRAM_BOT_TOKEN is not valid"),
        (
            {"TELEGRAM_BOT_TOKEN": "123456:" + "a" * 35, "HERSTEL_LOG_LEVEL": "LOUD"},
            "Setting HERSTEL_LOG_LEVEL is not valid",
        ),
        ({"TELEGRAM_BOT_TOKEN": "123456:" + "a" * 35}, "Setting HERSTEL_ENCRYPTION_KEYS is missing"),
        (
            {"TELEGRAM_BOT_TOKEN": "123456:" + "a" * 35, "HERSTEL_ENCRYPTION_KEYS": "short"},
            "Setting HERSTEL_ENCRYPTION_KEYS is not valid",
        ),
    ],
)
def test_a_bad_setting_stops_the_bot_with_one_clear_line(env, says):
    result = herstel("run", **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(says)
    assert "a" * 35 not in result.stderr


def test_run_without_a_token_says_what_to_set():
    result = herstel("run")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "Setting TELEGRAM_BOT_TOKEN is missing: get a token from @BotFather and put it in .env."
    )


def test_rotate_keys_needs_no_token_and_reports_what_it_did(tmp_path):
    from storage import secret

    database = f"sqlite:///{tmp_path / 'herstel.db'}"
    result = herstel("rotate-keys", HERSTEL_DATABASE_URL=database, HERSTEL_ENCRYPTION_KEYS=secret.new_key())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Re-encrypted 0 stored texts under the first key.")
