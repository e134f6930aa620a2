"""The Bot API emulator, driven over HTTP by a real python-telegram-bot `Bot`.

PTB strips "Bad Request: " and capitalises the description (rest lower case), hence (?i) in matches.
"""

import asyncio
from datetime import timedelta

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, InvalidToken, RetryAfter

from emulator import BotApiEmulator, Limits

TOKEN = "123456:TEST"


@pytest.fixture
async def emu():
    emulator = BotApiEmulator(token=TOKEN, bot_username="HerstelTestBot", bot_first_name="Herstel")
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu):
    bot = Bot(TOKEN, base_url=emu.base_url)
    await bot.initialize()  # calls getMe
    yield bot
    await bot.shutdown()


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=label.lower()) for label in labels]])


async def started(emu, bot, name="Anna"):
    """A person who has written to the bot, with their update already confirmed."""
    person = emu.person(name, language_code="nl")
    await person.send("/start")
    updates = await bot.get_updates()
    await bot.get_updates(offset=updates[-1].update_id + 1)
    return person


# ---- basics ----------------------------------------------------------------------------------


async def test_get_me_describes_the_bot(bot):
    assert (bot.id, bot.username, bot.first_name, bot.bot.is_bot) == (123456, "HerstelTestBot", "Herstel", True)


async def test_wrong_token_and_unknown_method(emu, bot):
    with pytest.raises(InvalidToken):
        async with Bot("123456:WRONG", base_url=emu.base_url):  # initialize() calls getMe
            pass
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")


async def test_raw_http_json_and_get_with_telegram_error_shape(emu):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emu.base_url}{TOKEN}/getMe") as response:
            assert (await response.json())["result"]["username"] == "HerstelTestBot"
        async with http.post(f"{emu.base_url}{TOKEN}/sendMessage", json={"chat_id": 1, "text": "hi"}) as response:
            assert response.status == 400
            error = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            assert await response.json() == error


# ---- getUpdates ------------------------------------------------------------------------------


async def test_unconfirmed_updates_come_back_until_a_higher_offset(emu, bot):
    anna = emu.person("Anna")
    await anna.send("one")
    await anna.send("two")
    first, second = await bot.get_updates()
    assert [u.message.text for u in await bot.get_updates()] == ["one", "two"]

    assert [u.message.text for u in await bot.get_updates(offset=second.update_id)] == ["two"]
    assert second.update_id == first.update_id + 1
    assert await bot.get_updates(offset=second.update_id + 1) == ()
    assert emu.pending_updates == 0


async def test_long_poll_returns_when_an_update_arrives(emu, bot):
    anna = emu.person("Anna")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()
    await anna.send("hello")
    updates = await asyncio.wait_for(poll, 1)
    assert updates[0].message.text == "hello"
    assert updates[0].message.from_user.language_code == "en"


async def test_long_poll_times_out_empty(bot):
    assert await bot.get_updates(timeout=timedelta(seconds=0.1)) == ()


async def test_second_get_updates_terminates_the_waiting_one(emu, bot):
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    async with Bot(TOKEN, base_url=emu.base_url) as second_instance:
        assert await second_instance.get_updates() == ()
    with pytest.raises(Conflict, match="(?i)terminated by other getUpdates"):
        await waiting


async def test_wait_until_confirmed(emu, bot):
    anna = emu.person("Anna")
    await anna.send("hi")
    with pytest.raises(TimeoutError):
        await emu.wait_until_confirmed(timeout=0.05)
    (update,) = await bot.get_updates()
    await bot.get_updates(offset=update.update_id + 1)
    await emu.wait_until_confirmed(timeout=0.05)


# ---- sendMessage: who may be messaged --------------------------------------------------------


async def test_unknown_chat_is_not_found(bot):
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await bot.send_message(999, "hi")


async def test_bot_cannot_write_first(emu, bot):
    anna = emu.person("Anna")
    with pytest.raises(Forbidden, match="(?i)can't initiate conversation"):
        await bot.send_message(anna.id, "hi")


async def test_blocking_forbids_messages_and_tells_the_bot(emu, bot):
    anna = await started(emu, bot)
    anna.block()
    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await bot.send_message(anna.id, "hi")
    (update,) = await bot.get_updates()
    assert update.my_chat_member.new_chat_member.status == "kicked"

    anna.unblock()
    await bot.send_message(anna.id, "welcome back")
    assert anna.texts() == ["welcome back"]


# ---- sendMessage: content --------------------------------------------------------------------


async def test_text_length_is_counted_in_utf16_units(emu, bot):
    anna = await started(emu, bot)
    await bot.send_message(anna.id, "x" * 4096)
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(anna.id, "x" * 4097)
    await bot.send_message(anna.id, "😀" * 2048)  # each emoji is 2 UTF-16 units
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await bot.send_message(anna.id, "😀" * 2049)


async def test_valid_html_becomes_text_and_entities(emu, bot):
    anna = await started(emu, bot)
    message = await bot.send_message(anna.id, "<b>x</b> &lt; &amp; &#39;", parse_mode="HTML")
    assert message.text == "x < & '"
    assert [(e.type, e.offset, e.length) for e in message.entities] == [("bold", 0, 1)]
    assert anna.last.html == "<b>x</b> &lt; &amp; &#39;"


@pytest.mark.parametrize("html", ["<foo>hi</foo>", "fish & chips", "a&nbsp;b", "<b>never closed"])
async def test_invalid_html_is_rejected(emu, bot, html):
    anna = await started(emu, bot)
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(anna.id, html, parse_mode="HTML")
    assert anna.inbox == []


async def test_empty_text_after_parsing_is_rejected(emu, bot):
    anna = await started(emu, bot)
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await bot.send_message(anna.id, "<b>  </b>", parse_mode="HTML")


async def test_callback_data_is_limited_to_64_bytes(emu, bot):
    anna = await started(emu, bot)
    fits = "é" * 32  # 64 bytes in UTF-8
    await bot.send_message(anna.id, "pick", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", fits)]]))
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("B", callback_data=fits + "x")]])
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(anna.id, "pick", reply_markup=too_long)


async def test_a_chat_over_its_burst_gets_429(emu, bot, monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as a timedelta, no warning
    emu.limits = Limits(chat_burst=3, chat_per_second=0.5)
    anna, ben = await started(emu, bot, "Anna"), await started(emu, bot, "Ben")
    for i in range(3):
        await bot.send_message(anna.id, f"burst {i}")
    with pytest.raises(RetryAfter) as error:
        await bot.send_message(anna.id, "one too many")
    assert error.value.retry_after.total_seconds() >= 1
    await bot.send_message(ben.id, "other chats are fine")
    assert len(anna.inbox) == 3


# ---- the person API ------------------------------------------------------------------------


async def test_press_sends_a_callback_query_for_the_button(emu, bot):
    anna = await started(emu, bot)
    await bot.send_message(anna.id, "Ready?", reply_markup=keyboard("Yes", "No"))
    assert anna.last.button_texts == ["Yes", "No"]
    await anna.press("Yes")
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert (query.data, query.from_user.id, query.message.text) == ("yes", anna.id, "Ready?")

    assert await query.answer("Noted")
    assert emu.callback_answers[-1]["text"] == "Noted"
    with pytest.raises(BadRequest, match="(?i)query ID is invalid"):
        await query.answer()  # a query can be answered once


async def test_press_on_a_missing_button_lists_the_visible_ones(emu, bot):
    anna = await started(emu, bot)
    await bot.send_message(anna.id, "Ready?", reply_markup=keyboard("Yes", "No"))
    with pytest.raises(LookupError, match=r"\[Yes\] \[No\]"):
        await anna.press("Maybe")


async def test_press_data_forges_a_callback_even_on_a_missing_message(emu, bot):
    mallory = emu.person("Mallory")
    await mallory.press_data(1, "9999:leave")
    (update,) = await bot.get_updates()
    assert update.callback_query.data == "9999:leave"
    assert not update.callback_query.message.is_accessible  # Telegram's InaccessibleMessage


async def test_answer_callback_query_with_an_unknown_id(bot):
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await bot.answer_callback_query("12345")


async def test_deep_link_and_take(emu, bot):
    anna = emu.person("Anna")
    await anna.open_link("https://t.me/HerstelTestBot?start=abc123")
    with pytest.raises(ValueError):
        await anna.open_link("https://t.me/OtherBot?start=abc123")
    (update,) = await bot.get_updates()
    assert update.message.text == "/start abc123"
    assert update.message.entities[0].type == "bot_command"

    await bot.send_message(anna.id, "one")
    assert [r.text for r in anna.take()] == ["one"]
    await bot.send_message(anna.id, "two")
    assert [r.text for r in anna.take()] == ["two"]
    assert anna.take() == []


async def test_person_edits_their_message(emu, bot):
    anna = emu.person("Anna")
    sent = await anna.send("helo")
    await anna.edit(sent, "hello")
    _, update = await bot.get_updates()
    assert (update.edited_message.message_id, update.edited_message.text) == (sent["message_id"], "hello")


# ---- edits, files, chats -------------------------------------------------------------------


async def test_bot_edits_replace_the_received_message(emu, bot):
    anna = await started(emu, bot)
    message = await bot.send_message(anna.id, "Ready?", reply_markup=keyboard("Yes"))
    await bot.edit_message_text("Done", chat_id=anna.id, message_id=message.message_id)
    assert (anna.texts(), anna.last.buttons) == (["Done"], ())  # no reply_markup drops the keyboard
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("Done", chat_id=anna.id, message_id=message.message_id)
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=anna.id, message_id=999)
    await bot.edit_message_reply_markup(chat_id=anna.id, message_id=message.message_id, reply_markup=keyboard("Again"))
    assert anna.last.button_texts == ["Again"]


async def test_send_document_keeps_the_upload(emu, bot):
    anna = await started(emu, bot)
    await bot.send_document(anna.id, InputFile(b"report", filename="r.txt"), caption="<i>yours</i>", parse_mode="HTML")
    assert (anna.last.document, anna.last.filename, anna.last.caption) == (b"report", "r.txt", "yours")
    with pytest.raises(BadRequest, match="(?i)caption is too long"):
        await bot.send_photo(anna.id, InputFile(b"img", filename="p.jpg"), caption="x" * 1025)


async def test_leave_chat(emu, bot):
    anna, ben = emu.person("Anna"), emu.person("Ben")
    family = emu.group("Family", members=[anna, ben])
    await family.add_bot(by=anna)
    await bot.send_message(family.id, "hello all")
    assert await bot.leave_chat(family.id)
    assert family.id in emu.left_chats
    with pytest.raises(Forbidden, match="(?i)not a member of the group chat"):
        await bot.send_message(family.id, "still there?")
    assert family.texts() == ["hello all"]


async def test_group_privacy_mode_only_delivers_commands(emu, bot):
    anna = emu.person("Anna")
    family = emu.group("Family", members=[anna])
    await family.add_bot(by=anna)
    await family.send(anna, "just chatting")
    await family.send(anna, "/help@HerstelTestBot")
    added, service, command = await bot.get_updates()
    assert added.my_chat_member.new_chat_member.status == "member"
    assert service.message.new_chat_members[0].id == bot.id
    assert command.message.text == "/help@HerstelTestBot"


async def test_my_commands_per_language(emu, bot):
    await bot.set_my_commands([("start", "Begin"), ("help", "Hulp")], language_code="nl")
    assert emu.commands == {"nl": [("start", "Begin"), ("help", "Hulp")]}
    assert [c.command for c in await bot.get_my_commands(language_code="nl")] == ["start", "help"]
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Start", "Begin")])
    with pytest.raises(BadRequest, match="(?i)description is empty"):
        await bot.set_my_commands([("start", "")])
