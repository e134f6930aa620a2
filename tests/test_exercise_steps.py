"""The exercises as a couples therapist runs them (issue 15), on the pure engine: who may begin what,
what each partner is told, and the steps that keep the focus on the partner whose trust was damaged."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dialogues import clock, programme
from dialogues.model import Press, World
from dialogues.texts import Texts
from tests.stage import Stage
from tests.therapist_stage import CareStage, with_therapist


def buttons(stage: Stage, name: str) -> list[str]:
    """The choices of the newest message with buttons to `name`."""
    menu = next(m for m in reversed(stage.inbox[name]) if m.buttons)
    return [data.split(":", 1)[1] for _, data in menu.buttons]


def with_done(stage: Stage, *names: str) -> None:
    stage.couple = replace(stage.couple, done=(*stage.couple.done, *names))


# 1. Mirroring prompts per role ----------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_hurt_partner_is_never_told_not_to_defend_herself_when_she_mirrors(language):
    stage = Stage.linked(language)
    stage.command("Anna", "menu")
    stage.press("Anna", "safety")
    stage.write("Anna", "x")
    stage.write("Ben", "y")
    stage.press("Anna", "you_first")
    stage.write("Ben", "I am scared you will leave.")
    stage.press("Ben", "said")
    prompt = stage.last("Anna")
    assert "defend" not in prompt and "verdedigen" not in prompt
    assert ("don't have to agree" if language == "en" else "niet mee eens te zijn") in prompt


# 2 and 4. Naming with remorse; impact ends with his response to her pain -----------------------


@pytest.mark.parametrize(
    "language, text",
    [
        ("en", "I'm sorry if you felt hurt."),
        ("en", "I am sorry, if you felt alone."),
        ("en", "I lied, but I was lonely."),
        ("nl", "Het spijt me als je je gekwetst voelde."),
        ("nl", "Sorry als het pijn deed."),
        ("nl", "Ik loog, want ik was eenzaam."),
        ("nl", "Ik loog, maar ik was eenzaam."),
    ],
)
def test_the_excuse_check_knows_conditional_apologies(language, text):
    assert programme.EXCUSE_WORDS[language].search(text)


def test_wanting_is_no_excuse_in_english():
    assert not programme.EXCUSE_WORDS["en"].search("I did not want to see what it did to you. I am sorry.")


def test_after_she_feels_heard_he_responds_to_her_pain_and_she_says_whether_it_reached_her():
    stage = Stage.linked("en")
    stage.command("Anna", "menu")
    stage.press("Anna", "impact")
    stage.write("Anna", "I can't sleep.")
    stage.press("Anna", "said")
    stage.write("Ben", "You can't rest.")
    stage.press("Anna", "yes")
    assert "respond to Anna's pain" in stage.last("Ben")
    assert "what is going on in you" not in stage.received("Ben")  # his own feelings are not on cue
    stage.write("Ben", "I'm sorry if you felt that way.")
    assert '"sorry if"' in stage.last("Ben")  # the same gentle check as naming
    stage.press("Ben", "rewrite")
    stage.write("Ben", "I took your rest away. I am sorry.")
    stage.press("Ben", "send")
    assert buttons(stage, "Anna") == ["reached", "not_yet"]
    for attempt in range(2):
        stage.press("Anna", "not_yet")
        assert stage.received("Ben").count("A hint") == attempt + 1  # a hint, then his turn again
        assert buttons(stage, "Ben") == ["pause"] and stage.last("Ben").startswith("Your turn")
        stage.write("Ben", "I took your rest away. I am sorry.")
        stage.press("Ben", "send")
    stage.press("Anna", "not_yet")  # a third "not yet": a break, or the therapist, offered to both
    assert buttons(stage, "Anna") == ["pause", "go_on"] and buttons(stage, "Ben") == ["pause", "go_on"]
    stage.press("Ben", "go_on")
    stage.write("Ben", "I took your rest away, and I am sorry.")
    stage.press("Ben", "send")
    stage.press("Anna", "reached")
    assert stage.couple.run is None and "impact" in stage.couple.done


def test_after_reading_the_naming_she_may_answer_or_stop_for_now():
    stage = Stage.linked("en")
    stage.command("Ben", "menu")
    stage.press("Ben", "naming")
    stage.write("Ben", "I had an affair. It was my choice, not because of you. I am sorry.")
    stage.press("Ben", "send")
    stage.press("Anna", "read")
    assert buttons(stage, "Anna") == ["stop_for_now"]
    stage.press("Anna", "stop_for_now")
    assert stage.couple.run is None and "naming" in stage.couple.done


# 5. An order, with her consent to leave it ------------------------------------------------------


def test_the_later_exercises_open_for_him_after_room_naming_and_impact():
    stage = Stage.linked("en")
    stage.command("Ben", "menu")
    assert buttons(stage, "Ben") == ["naming"]
    assert "Some exercises will open for you later" in stage.last("Ben")
    stage.act(Press(stage.sender("Ben"), f"{stage.people[2].menu}:safety"))  # a forged press starts nothing
    assert stage.couple.run is None
    with_done(stage, "room", "naming", "impact")
    stage.command("Ben", "menu")
    assert buttons(stage, "Ben") == ["naming", "safety", "appreciation", "plan", "look_back"]
    assert "is for Anna to begin, or to open for you" in stage.last("Ben")  # meaning stays hers to begin


def test_she_may_begin_anything_that_is_hers_at_any_time_and_open_the_rest_for_him():
    stage = Stage.linked("en")
    stage.command("Anna", "menu")
    assert "safety" in buttons(stage, "Anna") and "meaning" in buttons(stage, "Anna")
    stage.press("Anna", "open")
    assert "opened every exercise for you" in stage.last("Ben")
    stage.command("Ben", "menu")
    assert {"meaning", "safety", "plan"} <= set(buttons(stage, "Ben"))
    assert "open for you later" not in stage.last("Ben")


def test_a_therapists_suggestion_opens_that_exercise_for_him():
    stage = CareStage.with_couples()
    with_therapist(stage)
    stage.command("Marieke", "menu")
    stage.press("Marieke", "safety")
    assert stage.couples["c1"].opened == ("safety",)
    stage.command("Ben", "menu")
    assert "safety" in [data.split(":", 1)[1] for _, data in stage.inbox["Ben"][-1].buttons]


def test_only_the_hurt_partner_sets_the_daily_number_of_questions():
    stage = Stage.linked("en")
    stage.command("Ben", "menu")
    assert "limit" not in buttons(stage, "Ben")
    stage.act(Press(stage.sender("Ben"), f"{stage.people[2].menu}:limit"))
    assert stage.people[2].asking != "limit"  # no question about the limit was put to him
    stage.act(Press(stage.sender("Ben"), f"{stage.people[2].menu}:1"))
    assert stage.couple.questions_per_day == 3


# 6, 7. Sharing again; questions with a breath --------------------------------------------------


def test_in_sharing_again_she_chooses_who_speaks_first():
    stage = Stage.linked("en")
    with_done(stage, "room", "naming", "impact")
    stage.command("Ben", "menu")
    stage.press("Ben", "safety")
    stage.write("Ben", "a")
    stage.write("Anna", "b")
    assert buttons(stage, "Anna") == ["me_first", "you_first"]
    assert "Ben goes first" in [label for m in stage.inbox["Anna"] for label, _ in m.buttons]
    stage.press("Anna", "me_first")
    assert programme.owes_turn(stage_world(stage), 1)


def stage_world(stage: Stage) -> World:
    return World(me=stage.people[1], partner=stage.people[2], couple=stage.couple)


def test_after_each_answer_she_takes_a_breath_and_he_is_thanked():
    stage = Stage.linked("en")
    stage.command("Anna", "menu")
    stage.press("Anna", "questions")
    assert "Graphic details tend to leave images that stay" in stage.received("Anna")
    stage.write("Anna", "Did you love her?")
    stage.write("Ben", "No.")
    assert any("Thank you for answering honestly" in m.text for m in stage.inbox["Ben"])
    assert stage.last("Anna").startswith("How is it to read this?")
    assert buttons(stage, "Anna") == ["respond", "another", "enough"]


# 11. Stopping and titles -----------------------------------------------------------------------


def test_stopping_what_the_other_began_ends_warmly_and_titles_read_right_for_each():
    stage = Stage.linked("en")
    stage.command("Anna", "menu")
    stage.press("Anna", "impact")
    assert "Anna began: <b>What it did to Anna</b>" in stage.received("Ben")
    assert "You begin: <b>What it did to me</b>" in stage.received("Anna")
    assert "What it did to me" not in stage.received("Ben")
    stage.command("Ben", "menu")
    stage.press("Ben", "stop")
    assert "You can begin again together whenever you like" in stage.last("Anna")
    assert "need to do" not in stage.last("Anna")


# 13. Check-in time as people want it ------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, kept", [("8.30", "08:30"), ("08:30", "08:30"), ("21.15", "21:15"), ("9.05 uur", "09:05")]
)
def test_a_typed_check_in_time_is_taken(typed, kept):
    stage = Stage.linked("nl")
    stage.command("Anna", "settings")
    stage.press("Anna", "time")
    stage.write("Anna", typed)
    assert stage.people[1].checkin_at == kept
    assert stage.people[1].awaiting is None


@pytest.mark.parametrize("typed", ["7.30", "07:30", "23.00", "22:00"])
def test_a_time_in_the_quiet_hours_is_explained_and_not_taken(typed):
    assert clock.QUIET_FROM.hour == 22 and clock.QUIET_UNTIL.hour == 8  # the quiet hours are clock.py's
    stage = Stage.linked("en")
    stage.command("Anna", "settings")
    stage.press("Anna", "time")
    stage.write("Anna", typed)
    assert "quiet hours" in stage.last("Anna")
    assert stage.people[1].checkin_at == "20:00" and stage.people[1].awaiting == "time"


def test_a_message_written_while_a_time_was_asked_goes_to_the_partner():
    stage = Stage.linked("en")
    stage.command("Anna", "settings")
    stage.press("Anna", "time")
    stage.write("Anna", "Are you coming home tonight?")
    assert "Are you coming home tonight?" in stage.last("Ben")
    assert stage.people[1].awaiting is None


# 14. Welcome: how to hide message previews on the lock screen ----------------------------------


@pytest.mark.parametrize(
    "language, path",
    [
        ("en", "Settings &gt; Notifications and Sounds, and turn off Message preview"),
        ("nl", "Instellingen &gt; Meldingen en geluiden zet je Berichtvoorbeeld uit"),
    ],
)
def test_the_welcome_says_how_to_hide_message_previews_on_the_lock_screen(language, path):
    welcome = Texts(bot_username="HerstelBot").render(language, "welcome")
    assert path in welcome
    assert sum("lock screen" in line or "vergrendelscherm" in line for line in welcome.splitlines()) == 1
