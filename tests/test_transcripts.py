"""Golden transcripts: each exercise, in Dutch and in English, as the two partners live it.

The transcripts in tests/transcripts/ are read and reviewed as conversations. A change in
wording or flow shows up here as a diff; after reviewing it, write the new transcripts with
HERSTEL_WRITE_TRANSCRIPTS=1 python -m pytest tests/test_transcripts.py
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from dialogues.model import Due
from tests.stage import Stage
from tests.therapist_stage import CareStage

GOLDEN = Path(__file__).parent / "transcripts"


def room(s: Stage, say) -> None:
    s.command("Anna", "menu")
    s.press("Anna", "room")
    s.write("Anna", say("I found the messages on your phone.", "Ik vond de berichten op je telefoon."))
    s.write("Ben", say("Can I explain?", "Mag ik het uitleggen?"))  # out of turn: kept
    s.write("Anna", say("I feel stupid and furious.", "Ik voel me dom en woedend."))
    s.press("Anna", "said")
    s.write("Ben", say("What I hear you saying is that you are angry.", "Wat ik je hoor zeggen is dat je boos bent."))
    s.press("Anna", "not_quite")
    s.write("Anna", say("Not only angry. Humiliated.", "Niet alleen boos. Vernederd."))
    s.press("Anna", "said")
    s.write(
        "Ben",
        say(
            "You feel angry, and humiliated that you found out like that.",
            "Je bent boos, en je voelt je vernederd omdat je het zo ontdekte.",
        ),
    )
    s.press("Anna", "yes")


def naming(s: Stage, say) -> None:
    s.command("Ben", "menu")
    s.press("Ben", "naming")
    s.write("Ben", say("I lied to you, but I was lonely.", "Ik heb tegen je gelogen, maar ik was eenzaam."))
    s.press("Ben", "rewrite")
    s.write(
        "Ben",
        say(
            "I had an affair for six months and lied to you about it. It was my choice, not because of you. "
            "I see how much it hurt you, and I am sorry.",
            "Ik had een half jaar een verhouding en loog daarover tegen je. Het was mijn keuze, het lag niet aan jou. "
            "Ik zie hoeveel pijn het je heeft gedaan, en het spijt me.",
        ),
    )
    s.press("Ben", "send")
    s.press("Anna", "read")
    s.write("Anna", say("I needed to hear you say it was not me.", "Ik moest horen dat het niet aan mij lag."))
    s.press("Anna", "said")


def impact(s: Stage, say) -> None:
    s.command("Anna", "menu")
    s.press("Anna", "impact")
    s.write("Anna", say("I can't sleep. I check your phone.", "Ik slaap niet. Ik controleer je telefoon."))
    s.write(
        "Anna", say("And I keep wondering what was wrong with me.", "En ik vraag me steeds af wat er mis was met mij.")
    )
    s.press("Anna", "said")
    s.write(
        "Ben",
        say(
            "What I hear you saying is that you can't rest anymore, and that you doubt yourself.",
            "Wat ik je hoor zeggen is dat je geen rust meer hebt, en dat je aan jezelf twijfelt.",
        ),
    )
    s.press("Anna", "yes")
    s.write("Ben", say("I'm sorry if you felt that way.", "Sorry als je je zo voelde."))
    s.press("Ben", "rewrite")
    s.write(
        "Ben", say("I see that I took your rest away. I am sorry.", "Ik zie dat ik je rust heb afgepakt. Het spijt me.")
    )
    s.press("Ben", "send")
    s.press("Anna", "not_yet")
    s.write(
        "Ben",
        say(
            "I made you doubt yourself, when the choice was mine. I am so sorry I did that to you.",
            "Door mij ben je aan jezelf gaan twijfelen, terwijl het mijn keuze was. Het spijt me zo dat ik je dat heb aangedaan.",
        ),
    )
    s.press("Ben", "send")
    s.press("Anna", "reached")


def three_rounds(s: Stage, say) -> None:
    s.command("Anna", "menu")
    s.press("Anna", "impact")
    for attempt in range(3):
        s.write("Anna", say(f"It hurt. ({attempt + 1})", f"Het deed pijn. ({attempt + 1})"))
        s.press("Anna", "said")
        s.write("Ben", say("You are fine now?", "Het gaat nu wel weer?"))
        s.press("Anna", "not_quite")
    s.press("Ben", "pause")


def questions(s: Stage, say) -> None:
    s.command("Ben", "menu")  # the daily number of questions is not his to set
    s.command("Anna", "menu")
    s.press("Anna", "limit")
    s.press("Anna", "2")
    s.command("Anna", "menu")
    s.press("Anna", "questions")
    s.write("Anna", say("Did you love her?", "Hield je van haar?"))
    s.write("Ben", say("No. I loved the attention.", "Nee. Ik hield van de aandacht."))
    s.press("Anna", "respond")
    s.write(
        "Anna",
        say("That hurts to read. But I'm glad you said it.", "Dat doet pijn om te lezen. Maar goed dat je het zegt."),
    )
    s.press("Anna", "said")
    s.write("Anna", say("Where did you meet?", "Waar zagen jullie elkaar?"))
    s.press("Ben", "later")
    s.write("Anna", say("Was it in our home?", "Was het in ons huis?"))
    s.press("Anna", "enough")
    s.later(days=1)
    s.command("Anna", "menu")
    s.press("Anna", "questions")
    s.write("Ben", say("At a hotel near my work.", "In een hotel bij mijn werk."))
    s.press("Anna", "another")
    s.write("Ben", say("No. Never in our home.", "Nee. Nooit in ons huis."))
    s.press("Anna", "enough")


def meaning(s: Stage, say) -> None:
    for done in ("room", "naming", "impact"):  # meaning comes after grief, naming and impact
        s.couple = replace(s.couple, done=(*s.couple.done, done))
    s.command("Ben", "menu")  # after room, naming and impact, meaning is still hers to begin
    s.command("Anna", "menu")
    s.press("Anna", "meaning")
    s.write(
        "Anna",
        say(
            "We stopped talking after the baby came. I felt alone in it.",
            "We praatten niet meer sinds de baby er was. Ik voelde me er alleen in.",
        ),
    )
    s.write(
        "Ben",
        say(
            "I stopped telling you when work went badly. I thought you had enough on your plate.",
            "Ik vertelde je niet meer wanneer het slecht ging op mijn werk. Ik dacht dat je al genoeg had.",
        ),
    )
    s.press("Anna", "me_first")
    s.write("Anna", say("I missed you long before I knew.", "Ik miste je al lang voordat ik het wist."))
    s.press("Anna", "said")
    s.write(
        "Ben",
        say(
            "What I hear you saying is that you missed me, and were alone with it, long before.",
            "Wat ik je hoor zeggen is dat je mij al lang miste, en dat je daar alleen mee was.",
        ),
    )
    s.press("Anna", "yes")


def locked_menu(s: Stage, say) -> None:
    s.command("Ben", "menu")
    s.press("Ben", "naming")
    s.command("Ben", "menu")
    s.press("Ben", "stop")
    s.command("Anna", "menu")
    s.press("Anna", "open")
    s.command("Ben", "menu")
    s.press("Ben", "safety")
    s.write("Ben", say("When I saw the photo of us in the hall.", "Toen ik de foto van ons in de gang zag."))
    s.write("Anna", say("When I heard our song on the radio.", "Toen ik ons liedje op de radio hoorde."))
    s.press("Anna", "me_first")
    s.write("Anna", say("I miss how we used to laugh.", "Ik mis hoe we vroeger lachten."))
    s.press("Anna", "said")
    s.write(
        "Ben",
        say(
            "What I hear you saying is that you miss our laughter.",
            "Wat ik je hoor zeggen is dat je ons lachen mist.",
        ),
    )
    s.press("Anna", "yes")


def morning_checkin(s: Stage, say) -> None:
    s.command("Anna", "settings")
    s.press("Anna", "time")
    s.write("Anna", "23.00")  # in the quiet hours: explained, and not taken
    s.write("Anna", "7.30")  # so is half past seven (quiet until 08:00)
    s.write("Anna", "830")  # not a time I can read
    s.write("Anna", "8.30")
    s.later(hours=12, minutes=30)  # Tuesday, 08:30 in Amsterdam
    anna = s.sender("Anna")
    s.lines.append("(the check-in is due)")
    s.act(Due(anna, "checkin", due_at=s.now))
    s.press("Anna", "2026-03-03:4")  # 4 · fairly good
    s.press("Anna", "no_word")


def safety(s: Stage, say) -> None:
    s.command("Anna", "menu")
    s.press("Anna", "safety")
    s.write("Ben", say("At lunch, when I saw your favourite cake.", "Bij de lunch, toen ik jouw lievelingstaart zag."))
    s.write("Anna", say("When the kids laughed at dinner.", "Toen de kinderen lachten bij het eten."))
    s.press("Anna", "you_first")  # she chooses who speaks first: today, Ben
    s.write("Ben", say("I am scared you will leave.", "Ik ben bang dat je weggaat."))
    s.press("Ben", "said")
    s.write(
        "Anna",
        say(
            "What I hear you saying is that you are scared of losing me.",
            "Wat ik je hoor zeggen is dat je bang bent mij kwijt te raken.",
        ),
    )
    s.press("Ben", "yes")


def trust(s: Stage, say) -> None:
    s.command("Anna", "menu")
    s.press("Anna", "trust")
    s.press("Anna", "not_yet_trust")
    s.later(days=2)
    s.command("Anna", "menu")
    s.press("Anna", "trust")
    s.write("Anna", say("I will not check your phone this week.", "Ik kijk deze week niet in je telefoon."))
    s.write(
        "Ben",
        say(
            "I will tell you where I am, without you asking.",
            "Ik vertel je waar ik ben, zonder dat je het hoeft te vragen.",
        ),
    )
    s.write("Anna", say("That would help me. Thank you.", "Dat zou me helpen. Dank je."))
    s.press("Anna", "said")


def reconnection(s: Stage, say) -> None:
    s.command("Anna", "menu")
    s.press("Anna", "appreciation")
    s.write("Anna", say("You made me tea without asking.", "Je zette thee voor me zonder dat ik het vroeg."))
    s.write("Ben", say("You laughed at my joke.", "Je lachte om mijn grap."))
    s.command("Anna", "menu")
    s.press("Anna", "plan")
    s.write("Ben", say("A walk on the beach on Sunday.", "Zondag een strandwandeling."))
    s.write("Anna", say("Cooking together on Friday.", "Vrijdag samen koken."))
    s.press("Anna", "first")
    s.press("Ben", "second")
    s.press("Anna", "second")
    s.press("Ben", "second")
    s.command("Anna", "menu")
    s.press("Anna", "look_back")


def pause_and_pacing(s: Stage, say) -> None:
    s.command("Anna", "menu")
    s.press("Anna", "room")
    s.press("Ben", "pause")
    s.write("Anna", say("Are you still there?", "Ben je er nog?"))
    s.command("Anna", "menu")
    s.press("Anna", "resume")
    s.press("Anna", "said")
    s.write(
        "Ben",
        say(
            "What I hear is that you wonder if I am still here.",
            "Wat ik je hoor zeggen is dat je je afvraagt of ik er nog ben.",
        ),
    )
    s.press("Anna", "yes")
    s.command("Anna", "menu")
    s.press("Anna", "impact")
    s.later(days=1)
    s.command("Anna", "menu")
    s.press("Anna", "impact")
    s.command("Ben", "pause")
    s.command("Ben", "menu")
    s.press("Ben", "stop")


def held_choice(s: Stage, say) -> None:
    """A text written out of turn and never passed on in the exercise: its writer decides, later."""
    s.command("Anna", "menu")
    s.press("Anna", "room")
    s.write("Anna", say("I don't know where to start.", "Ik weet niet waar ik moet beginnen."))
    s.write("Ben", say("Can I explain?", "Mag ik het uitleggen?"))  # out of turn: kept, his alone
    s.press("Anna", "said")
    s.write(
        "Ben",
        say(
            "What I hear is that you don't know where to start.",
            "Wat ik je hoor zeggen is dat je niet weet waar je moet beginnen.",
        ),
    )
    s.press("Anna", "yes")  # the exercise ends: Ben is asked, privately, what becomes of his text
    s.press("Ben", "keep_held")
    s.later(days=1)
    s.due("Ben", "held")
    s.press("Ben", "send_held")


def held_not_sent(s: Stage, say) -> None:
    s.command("Anna", "menu")
    s.press("Anna", "room")
    s.command("Ben", "pause")
    s.write("Anna", say("Why now?", "Waarom nu?"))  # during the pause: kept
    s.command("Ben", "menu")
    s.press("Ben", "stop")  # Anna is asked what becomes of it
    s.press("Anna", "drop_held")


SCENARIOS = {
    f.__name__: f
    for f in (
        room,
        naming,
        impact,
        three_rounds,
        questions,
        meaning,
        safety,
        trust,
        reconnection,
        pause_and_pacing,
        held_choice,
        held_not_sent,
        locked_menu,
        morning_checkin,
    )
}


@pytest.mark.parametrize("language", ["en", "nl"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_transcript(name, language):
    stage = Stage.linked(language)
    SCENARIOS[name](stage, lambda en, nl: en if language == "en" else nl)
    golden = GOLDEN / f"{name}.{language}.txt"
    if os.environ.get("HERSTEL_WRITE_TRANSCRIPTS"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(stage.transcript())
    assert stage.transcript() == golden.read_text()


# Pairing: the inviter confirms who opened the link ------------------------------------------------


def screened(s: CareStage, name: str, country: str) -> None:
    s.press(name, country)
    for _ in range(4):
        s.press(name, "safe")


def invites(s: CareStage, country: str) -> None:
    s.start("Anna")
    screened(s, "Anna", country)
    s.press("Anna", "hurt")


def opens_and_joins(s: CareStage, name: str, country: str) -> None:
    s.open(name, s.invite_of("Anna"))
    screened(s, name, country)
    s.press(name, "join")


def join_confirmed(s: CareStage, say, country: str) -> None:
    invites(s, country)
    opens_and_joins(s, "Ben", country)
    s.write("Ben", say("Anna, it's me.", "Anna, ik ben het."))  # not carried: not linked yet
    s.command("Anna", "menu")  # asked again
    s.press("Anna", "is_partner")
    s.write("Ben", say("Thank you for inviting me.", "Dank je dat je me uitnodigde."))


def join_refused(s: CareStage, say, country: str) -> None:
    invites(s, country)
    opens_and_joins(s, "Olaf", country)  # a stranger had the link before Ben
    s.open("Ben", s.invite_of("Anna"))  # Ben opens the same link while Olaf waits
    screened(s, "Ben", country)
    s.press("Anna", "not_partner")
    s.write("Olaf", say("Hello?", "Hallo?"))
    s.open("Ben", s.invite_of("Anna"))  # the fresh link, which Anna sent only to Ben; he was screened before
    s.press("Ben", "join")
    s.press("Anna", "is_partner")


PAIRING = {f.__name__: f for f in (join_confirmed, join_refused)}
ACCOUNTS = {"Anna": ("Jansen", "annajansen"), "Ben": ("de Boer", "benbo"), "Olaf": ("", "")}


@pytest.mark.parametrize("language", ["en", "nl"])
@pytest.mark.parametrize("name", PAIRING)
def test_pairing_transcript(name, language):
    stage = CareStage(language=language)
    for person, (last_name, username) in ACCOUNTS.items():
        stage.join(person, last_name=last_name, username=username)
    say = lambda en, nl: en if language == "en" else nl  # noqa: E731
    PAIRING[name](stage, say, "in_uk" if language == "en" else "in_nl")
    golden = GOLDEN / f"{name}.{language}.txt"
    if os.environ.get("HERSTEL_WRITE_TRANSCRIPTS"):
        golden.write_text(stage.transcript())
    assert stage.transcript() == golden.read_text()
