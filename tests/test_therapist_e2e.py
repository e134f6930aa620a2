"""Two partners and their therapist, end to end through the emulator and the real PTB Application,
on SQLite and PostgreSQL, in Dutch and English: the link, consent, a refusal, shared history, the
therapist's message and suggestion, removal; and one therapist with two couples."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import Session

from tests.test_exercises import SAY, act
from tests.test_pairing import WORDS, pair, pass_screen

TH = {
    "en": {
        "welcome": "What is your name, as your clients know you?",
        "practice": "What is the name of your practice?",
        "register": "professional register number",
        "skip": "Skip",
        "request": "would like to follow your work",
        "not_verified": "(as given; not verified by Herstel)",
        "no_register": "No register number given.",
        "allow": "Allow",
        "refuse": "Don't allow",
        "share": "Yes, share it",
        "keep": "Keep it between us",
        "joined": "have both allowed you",
        "waiting_for": "will join once",
        "not_confirmed": "did not confirm your request",
        "from_therapist": "From your therapist",
        "not_ours": "Not our therapist",
        "account": "Telegram account Marieke de Vries, @mdevries.",
        "no_username": "Telegram account Olaf Stam, an account without a username.",
        "no_longer": "the link no longer works",
        "check": "Ask your therapist whether they opened it.",
        "sent": "Sent to",
        "suggests": "suggests an exercise",
        "remove": "Remove the therapist",
        "removed": "You no longer follow",
        "removed_partner": "has removed",
        "used": "already been used",
        "choose": "Who would you like to talk to?",
        "no_couples": "not following any couple",
        "couple_name": "Naming what happened",
        "practice_name": "De Linde couples practice",
        "shared": "You both said yes.",
        "message": "Please take the time you need this week.",
        "trust": "Giving trust",
        "give": "I will not check your phone.",
    },
    "nl": {
        "welcome": "Wat is je naam, zoals je cliënten je kennen?",
        "practice": "Hoe heet je praktijk?",
        "register": "registratienummer",
        "skip": "Overslaan",
        "request": "wil als jullie therapeut meelezen",
        "not_verified": "(zoals opgegeven; niet gecontroleerd door Herstel)",
        "no_register": "Geen registratienummer opgegeven.",
        "allow": "Toestaan",
        "refuse": "Niet toestaan",
        "share": "Ja, delen",
        "keep": "Houd het tussen ons",
        "joined": "hebben het allebei toegestaan",
        "waiting_for": "leest mee zodra",
        "not_confirmed": "niet bevestigd",
        "from_therapist": "Van jullie therapeut",
        "not_ours": "Niet onze therapeut",
        "account": "Telegram-account Marieke de Vries, @mdevries.",
        "no_username": "Telegram-account Olaf Stam, een account zonder gebruikersnaam.",
        "no_longer": "de link werkt niet meer",
        "check": "Vraag je therapeut of die hem heeft geopend.",
        "sent": "Verstuurd naar",
        "suggests": "stelt een oefening voor",
        "remove": "Therapeut weghalen",
        "removed": "Je leest niet meer mee bij",
        "removed_partner": "heeft Marieke de Vries weggehaald",
        "used": "al gebruikt",
        "choose": "Met wie wil je praten?",
        "no_couples": "bij geen enkel stel mee",
        "couple_name": "Uitspreken wat er is gebeurd",
        "practice_name": "Praktijk De Linde",
        "shared": "Jullie zeiden allebei ja.",
        "message": "Neem deze week de tijd die je nodig hebt.",
        "trust": "Vertrouwen geven",
        "give": "Ik kijk niet meer in je telefoon.",
    },
}


async def pair_as(herstel, first, second, words):
    """Like test_pairing.pair, for any two names: `first` invites, `second` joins."""
    await act(herstel, (first, "write", "/start"))
    await pass_screen(herstel, first, words)
    await act(herstel, (first, "press", words["damaged"]))
    invitation = next(word for word in first.last.text.split() if word.startswith("https://t.me/"))
    await second.open_link(invitation)
    await herstel.settle()
    await pass_screen(herstel, second, words)
    await act(herstel, (second, "press", words["join"]))
    await act(herstel, (first, "press", words["is_partner"]))
    assert any(f"{words['linked']} {first.name}" in t for t in second.texts())


def link_in(person) -> str:
    text_ = next(r.text for r in reversed(person.inbox) if "?start=th_" in r.text)
    return next(word for word in text_.split() if "?start=th_" in word)


async def request(herstel, asker, therapist, th, register: str | None = "BIG 12345678901"):
    """A partner makes a link; the therapist opens it and gives their details."""
    await act(herstel, (asker, "write", "/therapist"))
    link = link_in(asker)
    assert link.startswith("https://t.me/HerstelTestBot?start=th_")
    await therapist.open_link(link)
    await herstel.settle()
    assert th["welcome"] in therapist.last.text
    await act(herstel, (therapist, "write", "Marieke de Vries"))
    assert th["practice"] in therapist.last.text
    await act(herstel, (therapist, "write", th["practice_name"]))
    assert th["register"] in therapist.last.text and th["skip"] in therapist.last.button_texts
    await act(herstel, (therapist, "write", register) if register else (therapist, "press", th["skip"]))
    return link


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_a_therapist_joins_with_both_consents_reads_shared_history_writes_suggests_and_is_removed(
    herstel, language
):
    th, say = TH[language], SAY[language]
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    marieke = herstel.emulator.person("Marieke", last_name="de Vries", username="mdevries", language_code=language)
    await pair(herstel, anna, ben, WORDS[language])  # Anna damaged the trust

    # Before the therapist: Anna names what happened; Ben reads it.
    await act(
        herstel,
        (anna, "write", "/menu"),
        (anna, "press", say["naming"]),
        (anna, "write", say["naming_text"]),
        (anna, "press", say["send"]),
        (ben, "press", say["read"]),
        (ben, "press", say["stop_for_now"]),  # he may answer, or stop for now
    )
    herstel.clock.advance(hours=1)

    link = await request(herstel, anna, marieke, th)
    assert not any(WORDS[language]["safety"] in t for t in marieke.texts())  # a therapist is not screened
    for partner in (anna, ben):
        assert th["request"] in partner.last.text and "BIG 12345678901 " + th["not_verified"] in partner.last.text
        assert th["account"] in partner.last.text  # the account that opened the link, beside what she typed
        assert partner.last.button_texts == [th["allow"], th["refuse"], th["not_ours"]]
    assert not any("Anna" in t or "Ben" in t for t in marieke.texts())  # no names before both consent

    # Ben presses Anna's button: it counts for Ben alone.
    annas = next(b.callback_data for row in anna.last.buttons for b in row if b.text == th["allow"])
    await ben.press_data(anna.last.message_id, annas)
    await herstel.settle()
    assert th["waiting_for"] in ben.last.text and "Anna" in ben.last.text
    with Session(herstel.bot.engine) as session:
        assert session.execute(text("SELECT status FROM cares")).scalar_one() == "requested"
    await act(herstel, (anna, "press", th["allow"]))
    assert th["joined"] in marieke.last.text and "Anna &amp; Ben" in marieke.last.html

    # The link worked once.
    olaf = herstel.person("Olaf", language)
    await olaf.open_link(link)
    await herstel.settle()
    assert th["used"] in olaf.last.text

    # Both agree to share what came before: one file, with the naming, to the therapist only.
    await act(herstel, (anna, "press", th["share"]), (ben, "press", th["share"]))
    assert th["shared"] in anna.last.text and th["shared"] in ben.last.text
    files = [r for r in marieke.inbox if r.document]
    assert len(files) == 1 and "Anna & Ben" in files[0].caption
    content = files[0].document.decode()
    assert say["naming_text"] in content and "Marieke" not in content
    assert not any(r.document for r in anna.inbox + ben.inbox)

    # The next evening Ben tells what it did to him: the therapist reads along, named as the couple.
    herstel.clock.advance(days=1)
    await act(herstel, (ben, "write", "/menu"), (ben, "press", say["impact"]), (ben, "write", say["impact_text"]))
    relayed = marieke.last
    assert say["impact_text"] in relayed.text and "Anna & Ben" in relayed.text
    assert relayed.text.startswith("New message." if language == "en" else "Nieuw bericht.")

    # The therapist writes to both, and suggests an exercise; the turn is untouched.
    await act(herstel, (marieke, "write", th["message"]))
    for partner in (anna, ben):
        assert th["from_therapist"] in partner.last.text and th["message"] in partner.last.text
    assert th["sent"] in marieke.last.text
    await act(herstel, (marieke, "write", "/menu"), (marieke, "press", th["trust"]))
    assert th["suggests"] in anna.last.text and th["suggests"] in ben.last.text
    await act(herstel, (ben, "press", say["said"]), (anna, "write", say["mirror"]))
    assert say["mirror"] in ben.texts()[-1] and say["mirror"] in marieke.last.text
    await act(herstel, (ben, "press", say["yes"]))  # now Anna responds to his pain

    # Ben removes the therapist, alone; from then on nothing reaches her.
    await act(herstel, (ben, "write", "/therapist"), (ben, "press", th["remove"]))
    assert th["removed"] in marieke.last.text and th["removed_partner"] in anna.last.text
    seen = len(marieke.inbox)
    await act(herstel, (anna, "write", say["respond"]), (anna, "press", say["send"]), (marieke, "write", "Hello?"))
    assert all("Hello?" not in t for t in anna.texts() + ben.texts())
    assert say["respond"] in ben.last.text
    assert not any(say["respond"] in r.text for r in marieke.inbox[seen:])


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_when_one_partner_refuses_the_therapist_learns_only_that_the_couple_did_not_confirm(herstel, language):
    th = TH[language]
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    marieke = herstel.person("Marieke", language)
    await pair(herstel, anna, ben, WORDS[language])
    await request(herstel, ben, marieke, th, register=None)
    assert th["no_register"] in anna.last.text
    await act(herstel, (ben, "press", th["allow"]), (anna, "press", th["refuse"]))
    assert th["not_confirmed"] in marieke.last.text
    assert not any("Anna" in t or "Ben" in t for t in marieke.texts())
    await act(herstel, (ben, "press", th["allow"]), (marieke, "write", "Hello?"))  # nothing reopens it
    assert th["no_couples"] in marieke.last.text
    assert all("Hello?" not in t for t in anna.texts() + ben.texts())


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_a_partner_who_does_not_know_the_account_closes_it_for_both(herstel, language):
    th = TH[language]
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    olaf = herstel.emulator.person("Olaf", last_name="Stam", language_code=language)  # the link reached him
    await pair(herstel, anna, ben, WORDS[language])
    link = await request(herstel, anna, olaf, th)  # he types a real therapist's details
    assert th["no_username"] in ben.last.text and "Marieke de Vries" in ben.last.text
    await act(herstel, (ben, "press", th["not_ours"]))
    assert th["check"] in anna.last.text  # Anna made the link: she checks with their therapist
    assert th["no_longer"] in anna.last.text and th["no_longer"] in ben.last.text
    assert th["not_confirmed"] in olaf.last.text
    assert not any("Anna" in t or "Ben" in t for t in olaf.texts())
    await act(herstel, (anna, "press", th["allow"]), (olaf, "write", "Hello?"))  # nothing reopens it
    assert all("Hello?" not in t for t in anna.texts() + ben.texts())
    await olaf.open_link(link)
    await herstel.settle()
    with Session(herstel.bot.engine) as session:
        row = session.execute(text("SELECT status, account_name, account_username FROM cares")).one()
    assert row.status == "declined" and row.account_username is None
    assert "Olaf" not in row.account_name  # encrypted at rest


@pytest.mark.parametrize("language", ["en", "nl"])
async def test_one_therapist_follows_two_couples_and_nothing_crosses(herstel, language):
    th, say = TH[language], SAY[language]
    anna, ben = herstel.person("Anna", language), herstel.person("Ben", language)
    cleo, dirk = herstel.person("Cleo", language), herstel.person("Dirk", language)
    marieke = herstel.person("Marieke", language)
    await pair(herstel, anna, ben, WORDS[language])
    await pair_as(herstel, cleo, dirk, WORDS[language])
    for asker, other in ((anna, ben), (cleo, dirk)):
        await request(herstel, asker, marieke, th)
        await act(herstel, (asker, "press", th["allow"]), (other, "press", th["allow"]))
        herstel.clock.advance(minutes=5)
    assert "Cleo &amp; Dirk" in marieke.last.html

    # Each couple works; the therapist gets each under its own name.
    await act(
        herstel,
        (anna, "write", "/menu"),
        (anna, "press", say["naming"]),
        (anna, "write", "Anna's words."),
        (anna, "press", say["send"]),
    )
    await act(
        herstel,
        (cleo, "write", "/menu"),
        (cleo, "press", say["naming"]),
        (cleo, "write", "Cleo's words."),
        (cleo, "press", say["send"]),
    )
    relays = marieke.texts()
    assert any("Anna's words." in t and "Anna & Ben" in t and "Cleo" not in t for t in relays)
    assert any("Cleo's words." in t and "Cleo & Dirk" in t and "Anna" not in t for t in relays)

    # She talks to Anna & Ben (the first couple that let her in), then picks Cleo & Dirk.
    await act(herstel, (marieke, "write", "For Anna and Ben."))
    await act(herstel, (marieke, "write", "/couples"))
    assert marieke.last.button_texts == ["Anna & Ben", "Cleo & Dirk"]
    await act(herstel, (marieke, "press", "Cleo & Dirk"), (marieke, "write", "For Cleo and Dirk."))
    for person, mine, theirs in (
        (anna, "Anna", "Cleo"),
        (ben, "Anna", "Cleo"),
        (cleo, "Cleo", "Anna"),
        (dirk, "Cleo", "Anna"),
    ):
        received = " ".join(person.texts())
        assert f"For {mine} and" in received and f"For {theirs} and" not in received
        assert f"{theirs}'s words." not in received


async def test_a_therapist_who_erases_themselves_leaves_no_details_and_receives_nothing(herstel):
    th, say = TH["en"], SAY["en"]
    anna, ben, marieke = herstel.person("Anna"), herstel.person("Ben"), herstel.person("Marieke")
    await pair(herstel, anna, ben, WORDS["en"])
    await request(herstel, anna, marieke, th)
    await act(herstel, (anna, "press", th["allow"]), (ben, "press", th["allow"]))
    await act(herstel, (marieke, "write", "/delete"), (marieke, "press", "Erase everything"))
    with Session(herstel.bot.engine) as session:
        row = session.execute(text("SELECT status, name, practice, register_number, therapist_id FROM cares")).one()
    assert tuple(row) == ("left", None, None, None, 0)
    seen = len(marieke.inbox)
    await act(
        herstel,
        (anna, "write", "/menu"),
        (anna, "press", say["naming"]),
        (anna, "write", say["naming_text"]),
        (anna, "press", say["send"]),
    )
    assert marieke.inbox[seen:] == []
    await act(herstel, (ben, "write", "/therapist"))
    assert "?start=th_" in ben.last.text  # the couple can ask someone again
