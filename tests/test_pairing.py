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
        "waiting": "Before you are linked, Anna confirms that it is you who opened the link.",
        "someone": "Someone opened your invitation link.",
        "is_partner": "Yes, that's my partner",
        "not_partner": "No, not my partner",
        "refused": "This link cannot be used. Nothing has been shared.",
        "used": "This link has already been used.",
        "linked": "You are linked with",
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
        "waiting": "Voordat jullie gekoppeld worden, bevestigt Anna dat jij de link hebt geopend.",
        "someone": "Iemand heeft je uitnodigingslink geopend.",
        "is_partner": "Ja, dat is mijn partner",
        "not_partner": "Nee, niet mijn partner",
        "refused": "Deze link kan niet worden gebruikt. Er is niets gedeeld.",
        "used": "Deze link is al gebruikt.",
        "linked": "Je bent gekoppeld aan",
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
    assert words["waiting"].replace("Anna", anna.name) in ben.last.text  # nothing is linked before Anna says it is him
    asked = anna.last
    assert asked.text.startswith(words["someone"] + "\n") and ben.name in asked.text
    await anna.press(words["is_partner"])
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


async def invite(herstel, anna, words) -> str:
    await anna.send("/start")
    await herstel.settle()
    await pass_screen(herstel, anna, words)
    await anna.press(words["damaged"])
    await herstel.settle()
    return next(word for word in anna.last.text.split() if word.startswith("https://t.me/"))


async def open_and_join(herstel, person, link, words) -> None:
    await person.open_link(link)
    await herstel.settle()
    await pass_screen(herstel, person, words)
    await person.press(words["join"])
    await herstel.settle()


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_a_stranger_who_opens_the_link_first_is_refused_by_the_inviter(herstel, language):
    words = WORDS[language]
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    olaf = herstel.emulator.person("Olaf", last_name="Stam", username="olaf_s", language_code=language)
    link = await invite(herstel, anna, words)

    await open_and_join(herstel, olaf, link, words)  # the link reached the wrong chat
    asked = anna.last
    first, second = asked.text.split("\n")[:2]
    assert first == words["someone"]  # arrives unasked: no name on the lock screen
    assert "Olaf Stam" in second and "@olaf_s" in second
    assert asked.button_texts == [words["is_partner"], words["not_partner"]]

    await olaf.send("Anna, open up, it's me")
    await ben.open_link(link)  # Ben opens the same link while Olaf waits
    await herstel.settle()
    await pass_screen(herstel, ben, words)
    assert words["used"] in ben.last.text
    assert not any("open up" in t for t in anna.texts())  # nothing carried before a yes

    await anna.press(words["not_partner"])
    await herstel.settle()
    assert olaf.last.text.endswith(words["refused"])
    assert "Anna" not in olaf.last.text
    fresh = next(word for word in anna.last.text.split() if word.startswith("https://t.me/"))
    assert fresh != link

    await olaf.open_link(link)  # the old link is void for good
    await herstel.settle()
    assert words["used"] in olaf.last.text

    await ben.open_link(fresh)
    await herstel.settle()
    await ben.press(words["join"])  # Ben answered the safety questions already
    await herstel.settle()
    assert "Ben" in anna.last.text and "Olaf" not in anna.last.text
    await anna.press(words["is_partner"])
    await herstel.settle()
    assert any(f"{words['linked']} Anna" in t for t in ben.texts()[-2:])
    olaf.take()
    await anna.send("Only for Ben")
    await herstel.settle()
    assert "Only for Ben" in ben.last.text and olaf.take() == []


async def test_the_wait_ends_with_the_link_and_a_yes_then_links_nobody(herstel):
    words = WORDS["en"]
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    link = await invite(herstel, anna, words)
    herstel.clock.advance(hours=71)
    await open_and_join(herstel, ben, link, words)
    herstel.clock.advance(hours=1, minutes=1)
    await herstel.bot.tick()
    await herstel.settle()
    assert "It has expired before it was confirmed" in ben.last.text
    assert "Your link has expired" in anna.last.text
    await anna.press(words["is_partner"])  # too late: that question has gone
    await herstel.settle()
    assert not any(words["linked"] in t for t in anna.texts() + ben.texts())
    await anna.send("/start")
    await herstel.settle()
    assert "Here is a new invitation" in anna.texts()[-2]


async def test_the_joiner_who_presses_join_twice_or_writes_while_waiting_only_waits(herstel):
    words = WORDS["en"]
    anna, ben = herstel.person("Anna"), herstel.person("Ben")
    link = await invite(herstel, anna, words)
    await open_and_join(herstel, ben, link, words)
    asked = len(anna.inbox)
    await ben.press(words["join"])  # the same button again
    await ben.send("/start")
    await ben.send("Hello Anna")
    await herstel.settle()
    assert words["waiting"] in ben.last.text
    assert len(anna.inbox) == asked  # asked once; Ben's words are not carried
    await anna.send("/menu")  # Anna's open question comes again
    await herstel.settle()
    assert anna.last.text.startswith(words["someone"])
    await anna.press(words["is_partner"])
    await herstel.settle()
    assert any(f"{words['linked']} Ben" in t for t in anna.texts()[-3:])


async def test_a_joiner_who_erases_while_waiting_is_not_linked_and_leaves_no_name(herstel):
    from sqlalchemy import create_engine, text

    words = WORDS["en"]
    anna = herstel.person("Anna")
    olaf = herstel.emulator.person("Olaf", last_name="Stam", username="olaf_s")
    link = await invite(herstel, anna, words)
    await open_and_join(herstel, olaf, link, words)
    engine = create_engine(herstel.database_url)
    with engine.connect() as db:
        stored = db.execute(text("SELECT joiner_id, joiner_name, joiner_username FROM invites")).one()
    assert stored.joiner_id == olaf.id and "Olaf" not in stored.joiner_name and "olaf" not in stored.joiner_username
    await olaf.send("/delete")
    await herstel.settle()
    await olaf.press("Erase everything")
    await herstel.settle()
    with engine.connect() as db:
        assert db.execute(text("SELECT joiner_id, joiner_name FROM invites")).one() == (None, None)
    engine.dispose()
    await anna.press(words["is_partner"])
    await herstel.settle()
    assert "no longer waiting" in anna.texts()[-2]
    assert not any(words["linked"] in t for t in anna.texts())
