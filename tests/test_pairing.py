"""Two partners pair up and reach each other, through the emulator and the real PTB Application."""

from __future__ import annotations

import pytest

# What each person sees, in their own language.
WORDS = {
    "en": {
        "welcome": "Welcome to Herstel",
        "where": "where do you live?",
        "country": "United Kingdom",
        "safety": "Has your partner ever hit, pushed or physically hurt you?",
        "no": "No",
        "damaged": "I damaged the trust",
        "role_of_joiner": "the partner whose trust was damaged",
        "join": "Join",
        "linked": "You are now linked with",
        "writes": "writes:",
        "end": "End the link",
        "ended": "has ended",
        "status": "You are linked with",
        "zone": "which time zone are you in?",
    },
    "nl": {
        "welcome": "Welkom bij Herstel",
        "where": "waar woon je?",
        "country": "Nederland",
        "safety": "Heeft je partner je ooit geslagen, geduwd of op een andere manier lichamelijk pijn gedaan?",
        "no": "Nee",
        "damaged": "Ik heb het vertrouwen beschadigd",
        "role_of_joiner": "degene bij wie het vertrouwen is beschadigd",
        "join": "Meedoen",
        "linked": "Je bent nu gekoppeld aan",
        "writes": "schrijft:",
        "end": "Verbreken",
        "ended": "is verbroken",
        "status": "Je bent gekoppeld aan",
        "zone": "in welke tijdzone woon je?",
    },
}


async def pass_screen(herstel, person, words):
    """Say where they live, then "no" to each of the four private safety questions."""
    assert words["where"] in person.last.text
    await person.press(words["country"])
    await herstel.settle()
    assert words["safety"] in person.last.text
    for _ in range(4):
        await person.press(words["no"])
        await herstel.settle()


async def pair(herstel, anna, ben, words):
    """Anna starts and invites; Ben opens her link and joins. Returns the link."""
    await anna.send("/start")
    await herstel.settle()
    assert words["welcome"] in anna.last.text
    await pass_screen(herstel, anna, words)
    await anna.press(words["damaged"])
    await herstel.settle()
    invitation = anna.last.text
    link = next(word for word in invitation.split() if word.startswith("https://t.me/"))
    assert link.startswith("https://t.me/HerstelTestBot?start=")
    assert "Anna" in invitation

    await ben.open_link(link)
    await herstel.settle()
    await pass_screen(herstel, ben, words)
    assert words["role_of_joiner"] in ben.last.text
    await ben.press(words["join"])
    await herstel.settle()
    assert any(f"{words['linked']} Anna" in t for t in ben.texts()[-2:])
    assert any(f"{words['linked']} Ben" in t for t in anna.texts()[-2:])
    assert words["zone"] in ben.last.text and words["zone"] in anna.last.text  # each is asked their time zone
    return link


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_two_partners_pair_write_to_each_other_and_one_leaves(herstel, language):
    words = WORDS[language]
    anna = herstel.person("Anna", language)
    ben = herstel.person("Ben", language)
    await pair(herstel, anna, ben, words)
    anna.take(), ben.take()

    await anna.send("I am so sorry. I want to make this right.")
    await herstel.settle()
    assert (
        ben.take()[0].text
        == f"{'New message.' if language == 'en' else 'Nieuw bericht.'}\nAnna {words['writes']}\nI am so sorry. I want to make this right."
    )
    assert anna.take() == []

    await ben.send("I read it. I need time.")
    await herstel.settle()
    assert "I read it. I need time." in anna.take()[0].text

    await ben.send("/leave")
    await herstel.settle()
    await ben.press(words["end"])
    await herstel.settle()
    assert words["ended"] in ben.last.text
    told = anna.last.text
    assert words["ended"] in told and "Ben" in told

    await anna.send("Are you there?")
    await herstel.settle()
    assert "Are you there?" not in " ".join(ben.texts())


async def test_start_again_when_linked_shows_status_and_resets_nothing(herstel):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])
    await anna.send("/start")
    await herstel.settle()
    assert "You are linked with Ben" in anna.last.text
    await anna.send("still linked?")
    await herstel.settle()
    assert "still linked?" in ben.last.text


async def test_language_switches_at_any_time(herstel):
    anna = herstel.person("Anna", "en")
    await anna.send("/start")
    await anna.send("/language")
    await herstel.settle()
    await anna.press("Nederlands")
    await herstel.settle()
    texts = anna.texts()
    assert "Vanaf nu schrijf ik in het Nederlands." in texts
    assert "Waar woon je?" in texts[-1]  # and the open question is asked again, in Dutch


async def test_the_command_menu_is_set_in_both_languages(herstel):
    assert [c for c, _ in herstel.emulator.commands[""]][:3] == ["start", "menu", "pause"]
    assert dict(herstel.emulator.commands["nl"])["help"] == "Hulp en hulplijnen"


async def test_menu_offers_each_partner_the_exercises_of_their_role(herstel):
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    await pair(herstel, anna, ben, WORDS["en"])  # Anna damaged the trust, Ben's trust was damaged
    await anna.send("/menu")
    await ben.send("/menu")
    await herstel.settle()
    assert "Next in the programme: Room for grief and anger. Ben begins that one." in anna.last.text
    assert "Naming what happened" in anna.last.button_texts
    assert "Room for grief and anger" not in anna.last.button_texts
    assert "Room for grief and anger" in ben.last.button_texts
    assert "Naming what happened" not in ben.last.button_texts
