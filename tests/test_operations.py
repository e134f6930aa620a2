"""The operator's view: `herstel status` and `herstel retry`, and /healthz, /readyz and /metrics.

An operator sees counts, queues and ages; never a name, an id or a text.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from asyncio.subprocess import PIPE
from datetime import UTC, datetime

import aiohttp
import pytest
from sqlmodel import Session

from bot.main import main
from storage.db import make_engine
from storage.models import InboxRow
from tests.crash_safety import until
from tests.test_database_trouble import proxied  # noqa: F401 (a fixture)
from tests.test_pairing import WORDS, pair
from tests.test_playground import ROOT, _address_line

SECRET_SENTENCE = "I lied to you about the money in May"


async def get(herstel, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{herstel.bot.health.port}{path}") as response,
    ):
        return response.status, await response.text()


def metric(page: str, name: str, **labels: str) -> float:
    """The value of one sample on a /metrics page (0 when it is not there yet)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    found = re.search("^" + pattern + "$", page, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def set_aside_update(database_url: str, update_id: int, person, text: str) -> None:
    """An update that failed too often, as the worker leaves it: marked done, its payload kept."""
    update = {
        "update_id": update_id,
        "message": {
            "message_id": 900_000 + update_id % 1000,
            "date": 1_772_476_800,
            "chat": {"id": person.id, "type": "private", "first_name": person.name},
            "from": {"id": person.id, "is_bot": False, "first_name": person.name},
            "text": text,
        },
    }
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    with Session(engine) as session:
        session.add(
            InboxRow(
                update_id=update_id,
                payload=json.dumps(update),
                user_id=person.id,
                received_at=now,
                processed_at=now,
                attempts=5,
            )
        )
        session.commit()
    engine.dispose()


async def test_metrics_move_when_updates_are_handled_and_name_nobody(herstel):
    assert await get(herstel, "/healthz") == (200, "ok\n")
    _, before = await get(herstel, "/metrics")
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])
    await anna.send(SECRET_SENTENCE)
    await herstel.settle()
    assert SECRET_SENTENCE in ben.texts()[-1]

    status, page = await get(herstel, "/metrics")
    assert status == 200
    assert metric(page, "herstel_updates_handled_total") >= metric(before, "herstel_updates_handled_total") + 5
    assert metric(page, "herstel_updates_received_total") >= 5
    assert metric(page, "herstel_unit_of_work_seconds_count") >= 5
    assert metric(page, "herstel_bot_api_calls_total", method="sendMessage", result="ok") >= 5
    assert metric(page, "herstel_bot_api_calls_total", method="getUpdates", result="ok") >= 1
    assert "herstel_outbox_depth 0.0" in page
    assert "herstel_schedule_lag_seconds" in page
    for private in ("Anna", "Ben", str(anna.id), str(ben.id), SECRET_SENTENCE, "money"):
        assert private not in page, f"{private!r} is on the metrics page"
    assert (await get(herstel, "/readyz"))[0] == 200


async def test_status_shows_counts_and_set_aside_updates_and_retry_puts_them_back(
    herstel, monkeypatch, tmp_path, capsys
):
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("HERSTEL_DATABASE_URL", herstel.database_url)
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])
    await herstel.settle()
    set_aside_update(herstel.database_url, 10**9, anna, SECRET_SENTENCE)

    assert main(["status"]) == 0
    shown = capsys.readouterr().out
    assert "people          2, 1 couples linked, 0 therapists following one" in shown
    assert "updates         0 pending" in shown
    assert "set aside       1 unknown" in shown
    assert "telegram        last heard from" in shown and "never" not in shown
    assert "migration 0" in shown
    for private in ("Anna", "Ben", str(anna.id), str(ben.id), SECRET_SENTENCE):
        assert private not in shown, f"{private!r} is in herstel status"
    _, page = await get(herstel, "/metrics")
    assert metric(page, "herstel_updates_set_aside", reason="unknown") == 1

    assert main(["retry"]) == 0
    assert capsys.readouterr().out == "Put 1 set-aside update back in line.\n"
    # Back in line, the running bot handles it: Ben gets what Anna wrote.
    await until(lambda: any(SECRET_SENTENCE in t for t in ben.texts()), "the retried update handled", 20)
    assert main(["status"]) == 0
    assert "set aside       none" in capsys.readouterr().out
    assert main(["retry"]) == 0
    assert capsys.readouterr().out == "Put 0 set-aside updates back in line.\n"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_readyz_fails_while_the_database_is_cut_and_recovers(proxied):  # noqa: F811
    herstel, proxy = proxied
    assert await get(herstel, "/readyz") == (200, "ready\n")
    proxy.cut()
    status, reason = await get(herstel, "/readyz")
    assert status == 503 and reason.startswith("database unavailable")
    assert (await get(herstel, "/healthz"))[0] == 200  # the process still runs
    proxy.restore()

    async def ready() -> bool:
        return (await get(herstel, "/readyz"))[0] == 200

    for _ in range(40):
        if await ready():
            break
        await asyncio.sleep(0.25)
    assert await ready()


async def test_json_logs_are_one_object_a_line_and_start_up_says_what_matters(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN" and not k.startswith("HERSTEL_")}
    env.update(HERSTEL_PLAYGROUND_PORT="0", HERSTEL_LOG_FORMAT="json", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.main", "playground", cwd=tmp_path, env=env, stdout=PIPE, stderr=PIPE
    )
    try:
        await asyncio.wait_for(_address_line(process.stdout), timeout=30)
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode()
    assert process.returncode == 0, stderr
    entries = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # each line is one object
    started = [e["message"] for e in entries if "is running" in e["message"]]
    assert len(started) == 1, entries
    assert re.fullmatch(
        r"Herstel \S+ is running as @\w+: polling, sqlite database at migration \w+, "
        r"health and metrics on 127\.0\.0\.1:\d+",
        started[0],
    )
    assert not [e for e in entries if e["logger"].startswith("alembic")], "Alembic's start-up noise is back"
    assert {"time", "level", "logger", "message"} <= set(entries[0])
