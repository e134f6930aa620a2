"""The browser playground: the whole bot tried by clicking, as two partners and a therapist.

The page is driven with Playwright and Debian's Chromium (no browser download). Without Chromium
these tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from bot.playground import Playground
from bot.settings import Settings
from emulator.web import bot_api_only, loopback_only
from tests.conftest import KEY
from tests.test_pairing import WORDS

try:
    from playwright.async_api import Page, async_playwright, expect
except ImportError:  # pragma: no cover - the test extra installs it
    async_playwright = None

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    missing = None
    if async_playwright is None:
        missing = "Playwright is not installed: pip install -e '.[test]'"
    elif path is None:
        missing = "Chromium is not installed: apt-get install chromium (never `playwright install`)"
    if missing and os.environ.get("CI"):
        pytest.fail(missing)
    if missing:
        pytest.skip(missing)
    return path


@pytest.fixture
async def playground(tmp_path):
    settings = Settings(_env_file=None, encryption_keys=KEY, playground_port=0)
    scene = Playground(settings, folder=tmp_path)
    await scene.start()
    try:
        yield scene
    finally:
        await scene.stop()


@pytest.fixture
async def page(playground):
    executable = _chromium()
    expect.set_options(timeout=10_000)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            page = await context.new_page()
            errors = []  # script errors and refused requests (the page's CSP) fail the test
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            await page.goto(playground.url)
            yield page
            assert errors == []
        finally:
            await browser.close()


def pane(page: Page, key: str):
    return page.locator(f'section.pane[data-person="{key}"]')


async def press(chat, label: str) -> None:
    """Press the newest button `label` in this chat and wait for the bot's answer."""
    answers = chat.locator(".row.bot")
    before = await answers.count()
    await chat.get_by_role("button", name=label, exact=True).last.click()
    await expect(answers.nth(before)).to_be_attached()


async def pass_screen(chat, words: dict) -> None:
    """Say where they live, then "no" to each of the four private safety questions."""
    await expect(chat.locator(".messages")).to_contain_text(words["where"])
    await press(chat, words["country"])
    await expect(chat.locator(".messages")).to_contain_text(words["safety"])
    for _ in range(4):
        await press(chat, words["no"])


async def pair_by_clicking(page: Page, words: dict) -> None:
    """Anna starts and invites; her link, opened in Ben's pane, lets him join."""
    anna, ben = pane(page, "a"), pane(page, "b")
    await anna.get_by_role("textbox").fill("/start")
    await anna.get_by_role("textbox").press("Enter")
    await pass_screen(anna, words)
    await press(anna, words["damaged"])

    await anna.get_by_role("link", name=re.compile(r"^https:\/\/t\.me\/\w+\?start=")).last.click()
    await anna.get_by_role("button", name="Open as Ben").click()
    await pass_screen(ben, words)
    await press(ben, words["join"])
    await press(anna, words["is_partner"])

    await expect(ben.locator(".messages")).to_contain_text(f"{words['linked']} Anna")
    await expect(anna.locator(".messages")).to_contain_text(f"{words['linked']} Ben")


ENGLISH, DUTCH = WORDS["en"], WORDS["nl"]  # what each person sees, kept in one place with the pairing test


async def test_partners_pair_and_write_to_each_other_by_clicking(page, tmp_path):
    await pair_by_clicking(page, ENGLISH)

    anna, ben = pane(page, "a"), pane(page, "b")
    written = "I am sorry. <b>Not bold</b> <img src=x onerror=alert(1)>"
    await anna.get_by_role("textbox").fill(written)
    await anna.get_by_role("button", name="Send message").click()
    await expect(anna.locator(".bubble.me").last).to_have_text(written)
    await expect(ben.locator(".bubble.bot").last).to_contain_text(written)  # shown as text, never as markup
    await expect(ben.locator(".bubble.bot").last.locator("blockquote")).to_have_text(written)
    assert await page.locator(".messages img").count() == 0

    screenshot = tmp_path / "playground.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and screenshot.stat().st_size > 10_000


async def test_the_command_menu_stickers_and_photos(page):
    tess = pane(page, "t")
    await tess.get_by_role("button", name="Commands").click()
    await tess.get_by_role("menuitem", name=re.compile(r"^\/help")).click()
    await expect(tess.locator(".bubble.me")).to_have_text("/help")
    await expect(tess.locator(".bubble.bot b").first).to_have_text("Herstel")  # Telegram HTML, formatted

    await tess.get_by_role("button", name="Send a sticker").click()
    await expect(tess.locator(".bubble.me.kind-sticker")).to_have_count(1)
    await tess.get_by_role("button", name="Send a photo").click()
    await expect(tess.locator(".bubble.me.kind-photo")).to_have_count(1)
    await expect(tess.locator(".row.bot")).to_have_count(3)  # the bot answers each


async def test_clock_controls_move_the_bots_time(page, playground):
    shown = page.locator("#sim-time")
    await expect(shown).not_to_have_text("…")
    before = float(await shown.get_attribute("data-epoch"))

    await page.get_by_role("button", name="+1 hour").click()
    await expect(page.locator("#sim-ahead")).to_contain_text("1 h ahead")
    after = float(await shown.get_attribute("data-epoch"))
    assert 3600 <= after - before < 3600 + 30

    await page.get_by_role("button", name="To tomorrow 20:00").click()
    await expect(shown).to_contain_text("20:00")
    assert playground.clock().astimezone(playground.clock.zone).strftime("%H:%M") == "20:00"


async def test_reset_starts_over_and_partners_pair_in_dutch(page, playground):
    await pane(page, "a").get_by_role("textbox").fill("/start")
    await pane(page, "a").get_by_role("textbox").press("Enter")
    await expect(pane(page, "a").locator(".row.bot")).to_have_count(1)
    first_database = playground.database_path

    await page.get_by_role("button", name="Reset").click()
    await page.get_by_role("button", name="Start over").click()
    await expect(pane(page, "a").locator(".row")).to_have_count(0)
    assert playground.database_path != first_database and not first_database.exists()

    for key in ("a", "b"):
        await pane(page, key).get_by_role("button", name="NL").click()
        await expect(pane(page, key).get_by_role("button", name="NL")).to_have_attribute("aria-pressed", "true")
    await pair_by_clicking(page, DUTCH)


async def test_the_api_answers_only_its_own_page(playground):
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{playground.url}api/state") as answer:
            assert answer.status == 200
        async with client.get(f"{playground.url}api/state", headers={"Host": "evil.example"}) as answer:
            assert answer.status == 403  # DNS rebinding
        send = {"person": "a", "text": "hi"}
        async with client.post(
            f"{playground.url}api/send", json=send, headers={"Origin": "http://evil.example"}
        ) as answer:
            assert answer.status == 403  # another web page in the same browser
        async with client.post(
            f"{playground.url}api/send",
            data="person=a&text=hi",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as answer:
            assert answer.status == 415  # a plain form post from elsewhere
    assert not playground.seats[0].person.started  # none of those reached Anna's chat

    class Transport:
        def get_extra_info(self, name, default=None):
            return {"peername": ("192.168.1.20", 50000), "sockname": ("127.0.0.1", 8765)}.get(name, default)

    request = make_mocked_request("GET", "/api/state", headers={"Host": "127.0.0.1:8765"}, transport=Transport())
    with pytest.raises(aiohttp.web.HTTPForbidden):
        await loopback_only(request, lambda r: None)


async def test_the_local_bot_api_answers_only_the_playgrounds_own_bot(playground):
    """Another web page in the same browser can reach 127.0.0.1 too; it must not reconfigure the bot."""
    emulator = playground.emulator
    method = f"{emulator.base_url}{emulator.token}/setWebhook"
    hook = {"url": "https://evil.example/hook"}
    async with aiohttp.ClientSession() as client:
        async with client.post(method, data=hook, headers={"Origin": "http://evil.example"}) as answer:
            assert answer.status == 403  # a form posted from another page
        async with client.get(method, params=hook, headers={"Sec-Fetch-Site": "cross-site"}) as answer:
            assert answer.status == 403  # an <img> or a link pointing at it: no Origin, but Sec-Fetch-Site
        async with client.get(method, params=hook, headers={"Host": "evil.example"}) as answer:
            assert answer.status == 403  # DNS rebinding
        async with client.post(f"{emulator.base_url}{emulator.token}/getMe") as answer:
            assert answer.status == 200  # what the bot itself sends passes
    assert emulator.webhook_url == ""  # the bot still polls; nothing was reconfigured

    class Transport:
        def get_extra_info(self, name, default=None):
            return {"peername": ("192.168.1.20", 50000), "sockname": ("127.0.0.1", 8765)}.get(name, default)

    request = make_mocked_request("POST", "/bot1:x/getMe", headers={"Host": "127.0.0.1:8765"}, transport=Transport())
    with pytest.raises(aiohttp.web.HTTPForbidden):
        await bot_api_only(request, lambda r: None)


async def test_herstel_without_a_token_opens_the_playground_and_stops_on_sigterm(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN" and not k.startswith("HERSTEL_")}
    env.update(HERSTEL_PLAYGROUND_PORT="0", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.main",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        address = await asyncio.wait_for(_address_line(process.stdout), timeout=15)
        async with aiohttp.ClientSession() as client, client.get(address) as answer:
            assert answer.status == 200
            assert "Herstel playground" in await answer.text()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode(errors="replace")
    assert process.returncode == 0, stderr
    assert "HERSTEL_ENCRYPTION_KEYS=" in (tmp_path / ".env").read_text()


async def _address_line(stdout: asyncio.StreamReader) -> str:
    while line := (await stdout.readline()).decode():
        if m := re.fullmatch(r"Herstel playground: (http://127\.0\.0\.1:\d+/)\n", line):
            return m.group(1)
    raise AssertionError("herstel ended without printing the playground address")


JOURNEY = {
    "en": {
        "elsewhere": "Somewhere else",
        "time": "20:00",
        "naming": "Naming what happened",
        "send": "Send",
        "read": "I have read it",
        "impact": "What it did to me",
        "said": "That's all for now",
        "stop_for_now": "Stop for now",
        "yes": "Yes, that's it",
        "check_in": "A moment for yourself.",
        "heard": "Ben feels heard",
        "named": "I lied to you for a year. It was my choice.",
        "impact_text": "I stopped sleeping.",
        "mirror": "What I hear you saying is that you cannot rest.",
    },
    "nl": {
        "elsewhere": "Ergens anders",
        "time": "20.00",
        "naming": "Zeggen wat ik heb gedaan",
        "send": "Versturen",
        "read": "Ik heb het gelezen",
        "impact": "Wat het met mij deed",
        "said": "Dit was het voor nu",
        "stop_for_now": "Stoppen voor nu",
        "yes": "Ja, zo is het",
        "check_in": "Even een moment voor jezelf.",
        "heard": "Ben voelt zich gehoord",
        "named": "Ik heb een jaar tegen je gelogen. Het was mijn keuze.",
        "impact_text": "Ik slaap niet meer.",
        "mirror": "Wat ik je hoor zeggen is dat je geen rust meer hebt.",
    },
}


async def write(chat, text: str) -> None:
    await chat.get_by_role("textbox").fill(text)
    await chat.get_by_role("textbox").press("Enter")
    await expect(chat.locator(".bubble.me").last).to_have_text(text)


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_a_couple_names_mirrors_and_gets_their_check_in_by_clicking(page, tmp_path, language):
    words, say = WORDS[language], JOURNEY[language]
    anna, ben = pane(page, "a"), pane(page, "b")
    if language == "nl":
        for chat in (anna, ben):
            await chat.get_by_role("button", name="NL").click()
    await pair_by_clicking(page, words)
    for chat in (anna, ben):  # both live in Amsterdam, the zone of the clock controls, and check in at 20:00
        await press(chat, say["elsewhere"])
        await write(chat, "Amsterdam")
        await press(chat, say["time"])

    await write(anna, "/menu")
    await press(anna, say["naming"])
    await write(anna, say["named"])
    await press(anna, say["send"])
    await expect(ben.locator(".bubble.bot").last).to_contain_text(say["named"])
    await press(ben, say["read"])
    await press(ben, say["stop_for_now"])  # he may answer; not now

    await page.get_by_role("button", name="To tomorrow 20:00").click()  # a new evening: check-ins arrive
    for chat in (anna, ben):
        await expect(chat.locator(".messages")).to_contain_text(say["check_in"])

    await write(ben, "/menu")
    await press(ben, say["impact"])
    await write(ben, say["impact_text"])
    await expect(anna.locator(".bubble.bot blockquote").last).to_have_text(say["impact_text"])
    await press(ben, say["said"])
    await write(anna, say["mirror"])
    await expect(ben.locator(".bubble.bot").last).to_contain_text(say["mirror"])
    await press(ben, say["yes"])
    await expect(anna.locator(".messages")).to_contain_text(say["heard"])

    screenshot = tmp_path / f"journey-{language}.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
