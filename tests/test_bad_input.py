"""Every bad or unexpected input gets a kind, clear reply, and nothing anyone wrote is lost."""

from __future__ import annotations

import pytest

from tests.test_pairing import WORDS, pair, pass_screen

EN = WORDS["en"]


async def invite(herstel, anna) -> str:
    await anna.send("/start")
    await herstel.settle()
    await pass_screen(herstel, anna, EN)
    await anna.press("I damaged the trust")
    await herstel.settle()
    return next(w for w in anna.last.text.split() if w.startswith("https://t.me/"))


async def open_and_pass_safety(herstel, person, link):
    await person.open_link(link)
    await herstel.settle()
    await pass_screen(herstel, person, EN)


async def test_a_link_opened_by_its_own_creator(herstel):
    anna = herstel.person("Anna")
    link = await invite(herstel, anna)
    await anna.open_link(link)
    await herstel.settle()
    assert "This is your own invitation link" in anna.last.text


async def test_a_link_already_used(herstel):
    anna, ben, cleo = herstel.person("Anna"), herstel.person("Ben"), herstel.person("Cleo")
    link = await pair(herstel, anna, ben, EN)
    await open_and_pass_safety(herstel, cleo, link)
    assert "This link has already been used" in cleo.last.text
    assert "Cleo" not in " ".join(anna.texts() + ben.texts())


async def test_a_link_expires_after_72_hours(herstel):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    link = await invite(herstel, anna)
    herstel.clock.advance(hours=72, minutes=1)
    await open_and_pass_safety(herstel, ben, link)
    assert "This link has expired" in ben.last.text
    assert "Anna" in ben.last.text


async def test_a_link_to_a_couple_that_is_already_complete(herstel):
    anna, ben, cleo = herstel.person("Anna"), herstel.person("Ben"), herstel.person("Cleo")
    old_link = await invite(herstel, anna)
    bens_link = await invite(herstel, ben)
    await anna.open_link(bens_link)  # Anna joins Ben's invitation instead of waiting for hers
    await herstel.settle()
    await anna.press("Join")
    await herstel.settle()
    await ben.press("Yes, that's my partner")
    await herstel.settle()
    assert "You are linked with Ben" in anna.texts()[-2]
    await open_and_pass_safety(herstel, cleo, old_link)
    assert "This invitation is closed" in cleo.last.text


async def test_a_stranger_who_writes_without_a_link(herstel):
    stranger = herstel.person("Sam")
    await stranger.send("hello?")
    await herstel.settle()
    assert "Send /start to begin" in stranger.last.text


async def test_the_bot_added_to_a_group_says_once_that_it_works_in_private_then_leaves(herstel):
    anna = herstel.person("Anna")
    group = herstel.emulator.group("Family", members=[anna])
    await group.add_bot(by=anna)
    await herstel.settle()
    assert len(group.inbox) == 1
    assert "I only work in private chats" in group.inbox[0].text
    assert group.chat_id in herstel.emulator.left_chats


async def test_the_bot_added_to_a_channel_leaves(herstel):
    anna = herstel.person("Anna")
    channel = herstel.emulator.channel("News")
    await channel.add_bot(by=anna)
    await herstel.settle()
    assert channel.chat_id in herstel.emulator.left_chats


@pytest.mark.parametrize(
    "send", ["send_sticker", "send_voice", "send_photo", "send_video", "send_document", "send_location", "send_contact"]
)
async def test_anything_but_text_is_answered_and_not_carried(herstel, send):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, EN)
    ben.take()
    sender = getattr(anna, send)
    await (sender(52.37, 4.89) if send == "send_location" else sender())
    await herstel.settle()
    assert "Ben did not receive this: for now I can only carry text" in anna.last.text
    assert ben.take() == []


async def test_an_edit_reaches_the_partner_and_the_writer_is_told(herstel):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, EN)
    message = await anna.send("I was wrong to lie")
    await herstel.settle()
    await anna.edit(message, "I was wrong to lie to you")
    await herstel.settle()
    assert "Anna changed an earlier message" in ben.last.text
    assert "I was wrong to lie to you" in ben.last.text
    assert "Ben received your change as a new message" in anna.last.text


async def test_an_edit_before_linking_is_not_passed_on_and_the_writer_knows(herstel):
    anna = herstel.person("Anna")
    await anna.send("/start")
    message = await anna.send("hello")
    await herstel.settle()
    await anna.edit(message, "hello there")
    await herstel.settle()
    assert "Nothing was passed on" in anna.last.text


async def test_unknown_commands_are_answered(herstel):
    anna = herstel.person("Anna")
    await anna.send("/frobnicate")
    await herstel.settle()
    assert "I don't know that command" in anna.texts()[0]
    assert "Send /start to begin" in anna.last.text


@pytest.mark.parametrize(
    "command, answer",
    [("/leave", "not linked with anyone"), ("/menu", "The menu opens once you are linked")],
)
async def test_commands_out_of_place_are_answered_and_the_open_question_asked_again(herstel, command, answer):
    anna = herstel.person("Anna")
    await anna.send("/start")
    await anna.send(command)
    await herstel.settle()
    texts = anna.texts()
    assert answer in texts[-2]
    assert "where do you live?" in texts[-1].lower()
    await anna.press("United Kingdom")  # the re-asked question works
    await herstel.settle()
    assert EN["safety"] in anna.last.text


async def test_forged_and_stale_buttons_get_a_neutral_answer_and_change_no_couple(herstel):
    anna, ben, mallory = herstel.person("Anna"), herstel.person("Ben"), herstel.person("Mallory")
    await pair(herstel, anna, ben, EN)
    await ben.send("/leave")
    await herstel.settle()
    confirm = ben.last
    await ben.press("Stay linked")
    await herstel.settle()
    await ben.press_data(confirm.message_id, confirm.buttons[0][0].callback_data)  # the stale "End the link"
    await mallory.press_data(confirm.message_id, confirm.buttons[0][0].callback_data)
    await mallory.press_data(1, "9999:leave")
    await mallory.press_data(1, "\u202e" * 20)
    await herstel.settle()
    answers = [a.get("text") for a in herstel.emulator.callback_answers[-4:]]
    assert answers == ["This button no longer applies."] * 4
    await anna.send("still here")
    await herstel.settle()
    assert "still here" in ben.last.text


@pytest.mark.parametrize(
    "text",
    [
        "<b>not bold</b> & <script>alert(1)</script> &amp; &lt; </blockquote>",
        "I miss you 💔😢🙏 " * 3,
        "אני מצטער מאוד. أنا آسف جدا.",
    ],
)
async def test_html_emoji_and_right_to_left_text_arrive_exactly_as_written(herstel, text):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, EN)
    await anna.send(text)
    await herstel.settle()
    assert ben.last.text.endswith(text.strip())


async def test_5000_characters_arrive_whole_in_two_messages(herstel):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, EN)
    ben.take()
    letter = " ".join(f"word{i}<&>" for i in range(500))[:5000]
    await anna.send(letter)
    await herstel.settle()
    parts = ben.take()
    assert len(parts) == 2
    assert all(len(p.text) <= 4096 for p in parts)
    received = parts[0].text.split("Anna writes:\n", 1)[1] + " " + parts[1].text
    assert received.replace("\n", " ").split() == letter.split()
