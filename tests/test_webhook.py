"""Webhook mode: Telegram POSTs each update; Herstel stores it before it answers 200, refuses strangers,
and handles each update once however often it arrives, even when killed."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bot import webhook
from bot.settings import Settings
from storage import privacy, repo
from tests import crash_safety
from tests.conftest import BACKENDS, KEY, POSTGRES_URL, TOKEN, running
from tests.crash_safety import free_port
from tests.test_pairing import WORDS, pair

SECRET = "webhook-secret_0123456789"


@pytest.fixture
async def hooked(database_url, private_logs):
    """A running Herstel in webhook mode, and the emulator that delivers to it."""
    port = free_port()
    webhook_settings = dict(
        webhook_url=f"http://127.0.0.1:{port}/telegram",
        webhook_secret=SECRET,
        webhook_port=port,
        webhook_listen="127.0.0.1",
    )
    async with running(database_url, private_logs, lambda emulator: webhook_settings) as scene:
        yield scene
    assert SECRET not in private_logs.text


def hook_url(scene) -> str:
    return scene.bot.settings.webhook_url


async def test_the_bot_sets_its_webhook_with_a_secret_and_a_couple_talks_through_it(hooked):
    assert hooked.emulator.webhook_url == hook_url(hooked)
    assert hooked.emulator.webhook_secret == SECRET
    anna, ben = hooked.person("Anna"), hooked.person("Ben")
    await pair(hooked, anna, ben, WORDS["en"])
    await anna.send("Through the webhook")
    await hooked.settle()
    assert sum("Through the webhook" in t for t in ben.texts()) == 1
    assert not any(name == "getUpdates" for name, _ in hooked.emulator.calls)
    assert {status for _, _, status in hooked.emulator.webhook_deliveries} == {200}


@pytest.mark.parametrize("header", [None, "wrong-secret", SECRET + "x"])
async def test_a_request_without_the_right_secret_is_refused_and_not_stored(hooked, header):
    update = {
        "update_id": 1,
        "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "hi"},
    }
    headers = {webhook.SECRET_HEADER: header} if header else {}
    async with httpx.AsyncClient() as client:
        answer = await client.post(hook_url(hooked), json=update, headers=headers)
    assert answer.status_code == 403
    with Session(hooked.bot.engine) as session:
        assert repo.pending_updates(session) == []


async def test_refused_requests_are_counted_and_logged_at_most_once_a_minute(hooked, private_logs):
    async def knock(times: int) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(times):
                answer = await client.post(
                    hook_url(hooked), json={"update_id": 1}, headers={webhook.SECRET_HEADER: "x"}
                )
                assert answer.status_code == 403

    def refusal_lines() -> list[str]:
        return [
            r.getMessage() for r in private_logs.records if r.name == webhook.log.name and "refused" in r.getMessage()
        ]

    await knock(50)
    assert hooked.bot.webhook.refused == 50
    assert len(refusal_lines()) == 1
    hooked.clock.advance(seconds=30)
    await knock(10)
    assert len(refusal_lines()) == 1
    hooked.clock.advance(seconds=31)
    await knock(1)
    assert refusal_lines()[1:] == ["refused 60 webhook request(s) without the right secret token (61 since start)"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"update_id": true, "message": {}}',
        b'{"update_id": "7"}',
        b'{"update_id": 7.5}',
        b'{"update_id": 99999999999999999999999}',
        b'{"update_id": 7, "message": {"from": {"id": "someone"}}}',
        b'{"message": {}}',
        b"[7]",
        b"7",
        b"",
        b"\xff\xfe",
        b"[" * 100_000,
        b'{"update_id": 7, "message": ' + b'{"a": ' * 50_000,
        b'{"update_id": 7, "message": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    ],
    ids=[
        "bool id",
        "text id",
        "float id",
        "huge id",
        "text sender",
        "no id",
        "a list",
        "a number",
        "empty",
        "not utf-8",
        "deep",
        "deep object",
        "deep but closed",
    ],
)
async def test_a_body_that_is_not_an_update_gets_400_and_is_not_stored(hooked, private_logs, body):
    async with httpx.AsyncClient() as client:
        answer = await client.post(hook_url(hooked), content=body, headers={webhook.SECRET_HEADER: SECRET})
    assert answer.status_code == 400
    with Session(hooked.bot.engine) as session:
        assert repo.pending_updates(session) == []
    assert not [r for r in private_logs.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_replay_within_the_documented_period_is_not_handled_twice(hooked):
    assert timedelta(days=7) <= privacy.HANDLED_IDS_KEPT
    anna, ben = hooked.person("Anna"), hooked.person("Ben")
    await pair(hooked, anna, ben, WORDS["en"])
    await anna.send("Once, even a week on")
    await hooked.settle()
    with Session(hooked.bot.engine) as session:
        privacy.purge(session, hooked.clock() + privacy.HANDLED_IDS_KEPT - timedelta(minutes=1), 90)
        session.commit()
    hooked.emulator.deliver_again()
    await hooked.settle()
    assert sum("Once, even a week on" in t for t in ben.texts()) == 1


async def test_an_update_delivered_twice_is_handled_once(hooked):
    anna, ben = hooked.person("Anna"), hooked.person("Ben")
    await pair(hooked, anna, ben, WORDS["en"])
    await anna.send("Only once, please")
    hooked.emulator.deliver_again()
    hooked.emulator.deliver_again()
    await hooked.settle()
    assert sum("Only once, please" in t for t in ben.texts()) == 1


async def test_the_answer_comes_after_the_commit_so_a_failed_store_is_sent_again(hooked, monkeypatch):
    anna, ben = hooked.person("Anna"), hooked.person("Ben")
    await pair(hooked, anna, ben, WORDS["en"])
    store = repo.store_updates
    failures = []

    def store_or_fail(engine, updates, now, track_offset=True):
        if len(failures) < 2:
            failures.append(updates[0]["update_id"])
            raise OperationalError("INSERT", {}, Exception("the database went away"))
        return store(engine, updates, now, track_offset)

    monkeypatch.setattr(webhook.repo, "store_updates", store_or_fail)
    await anna.send("Stored before the 200")
    await hooked.settle()

    update_id = hooked.emulator.update_log[-1].update_id
    statuses = [status for uid, _, status in hooked.emulator.webhook_deliveries if uid == update_id]
    assert statuses == [503, 503, 200]
    assert sum("Stored before the 200" in t for t in ben.texts()) == 1


def test_webhook_settings_are_checked():
    base = {"_env_file": None, "telegram_bot_token": TOKEN}
    secret = "abc_DEF-123456789"  # 17 characters
    ok = Settings(**base, webhook_url="https://herstel.example.org/telegram", webhook_secret=secret)
    assert (ok.webhook_port, ok.webhook_path, ok.webhook_secret_token) == (8443, "/telegram", secret)
    for wrong in (
        {"webhook_url": "https://herstel.example.org/telegram"},  # no secret
        {"webhook_url": "https://herstel.example.org/telegram", "webhook_secret": "a"},  # guessable
        {"webhook_url": "https://herstel.example.org/telegram", "webhook_secret": "abc_DEF-12345678"[:15]},
        {"webhook_url": "http://herstel.example.org/telegram", "webhook_secret": secret},  # not https
        {"webhook_url": "https://herstel.example.org/telegram", "webhook_secret": "not allowed!" * 2},
        {"webhook_path": "telegram"},
        {"webhook_port": 0},
        {"send_rate": 0},
    ):
        with pytest.raises(ValidationError):
            Settings(**base, **wrong)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_killing_the_bot_in_webhook_mode_loses_nothing(backend):
    if backend == "postgresql" and not POSTGRES_URL:
        pytest.skip("PostgreSQL: set HERSTEL_TEST_POSTGRES_URL, e.g. postgresql://postgres@127.0.0.1:5432/test")
    figures = await crash_safety.run(backend, kills=4, couples=2, mode="webhook", seed=3, key=KEY)
    print(figures.report())
    assert figures.kills == 4 and figures.written > 20
    assert figures.lost == figures.unhandled_updates == figures.processed_twice == figures.never_delivered == 0
    assert figures.duplicates == figures.resent_by_those_kills
    assert figures.exit_code == 0
