"""A couple's therapist: asked for by one partner, allowed by both, and never more than that.

The pure engine on a stage with several couples (tests/therapist_stage.py) for the rules and
every security case; golden transcripts in both languages; a property test that nothing of one
couple reaches another; and the whole flow end to end through the emulator, on SQLite and
PostgreSQL, in Dutch and English (the `herstel` fixture).
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogues import therapist
from dialogues.model import CareStatus, Phase, Press, Say, Toast
from dialogues.texts import keys
from tests.therapist_stage import CareStage, request, with_therapist

GOLDEN = Path(__file__).parent / "transcripts"
THERAPIST_SOURCE = Path(therapist.__file__).read_text()


def says(stage: CareStage) -> list[str]:
    return [e.key for e in stage.effects if isinstance(e, (Say, Toast))]


def run_room(stage: CareStage, hurt: str = "Anna", damaged: str = "Ben", words: str = "I found the messages.") -> None:
    stage.command(hurt, "menu")
    stage.press(hurt, "room")
    stage.write(hurt, words)
    stage.press(hurt, "said")
    stage.write(damaged, f"What I hear you saying is: {words}")
    stage.press(hurt, "yes")


# Texts -----------------------------------------------------------------------------------------


def test_every_key_the_therapist_flow_names_exists_in_both_languages():
    named = set(re.findall(r'Say\(\s*"(?:self|partner|therapist|couple)"[^"]*"([a-z_]+\.[a-z_.]+)"', THERAPIST_SOURCE))
    named |= set(re.findall(r'"((?:therapist|consent)\.[a-z_.]+)"', THERAPIST_SOURCE))
    named |= {relay.key for relay in therapist.RELAY.values()}
    named |= {f"button.{c}" for choices in therapist.QUESTIONS.values() for c in choices}
    named |= {f"button.{c}" for c in therapist.CONSENT_CHOICES} | {
        "button.couple",
        "commands.therapist",
        "commands.couples",
    }
    assert len(named) > 60
    assert named - keys("en") == set()
    assert named - keys("nl") == set()


def test_the_relay_passes_on_only_keys_the_partners_can_receive():
    assert set(therapist.RELAY) - keys("en") == set()


# The flow --------------------------------------------------------------------------------------


def test_a_partner_gets_a_one_time_link_and_the_other_is_told():
    stage = CareStage.with_couples()
    stage.command("Anna", "therapist")
    link = stage.link_of("Anna")
    assert re.fullmatch(r"https://t\.me/HerstelBot\?start=th_[A-Za-z0-9_-]{1,61}", link)
    assert "made a link for your therapist" in stage.last("Ben")
    stage.command("Anna", "therapist")  # asking again shows the same open link
    assert link in stage.last("Anna")
    assert len(stage.cares) == 1


def test_the_therapist_is_not_screened_and_gives_name_practice_and_register():
    stage = CareStage.with_couples()
    request(stage)
    assert not any("hit, pushed" in m.text for m in stage.inbox["Marieke"])  # no partner safety question
    person = stage.person("Marieke")
    assert person.phase is Phase.THERAPIST and person.role is None and person.invite_token is None
    for partner in ("Anna", "Ben"):
        request_text = stage.last(partner)
        assert request_text.startswith("A request.\n")  # nothing on a locked screen
        assert "Marieke de Vries</b>, Praktijk De Linde" in request_text
        assert "Register number: BIG 12345678901 (as given; not verified by Herstel)" in request_text
        assert "never sees" in request_text and "private answers" in request_text
        assert "before Marieke de Vries joined" in request_text
    assert not any("Anna" in m.text or "Ben" in m.text for m in stage.inbox["Marieke"])  # no names before consent


def test_the_register_number_may_be_skipped():
    stage = CareStage.with_couples()
    request(stage, details=("Sam Jansen", "Praktijk Noord", None))
    assert "No register number given." in stage.last("Anna")
    assert stage.care_of().register is None


def test_the_therapist_joins_only_when_both_allow():
    stage = CareStage.with_couples()
    request(stage)
    stage.press("Anna", "allow")
    assert stage.care_of().status is CareStatus.REQUESTED
    assert "will join once Ben has allowed it too" in stage.last("Anna")
    assert stage.inbox["Marieke"][-1].text.startswith("Thank you. Both partners")  # nothing new for her
    stage.press("Ben", "allow")
    assert stage.care_of().status is CareStatus.ACTIVE
    assert "<b>Anna &amp; Ben</b> have both allowed you" in stage.last("Marieke")
    assert stage.person("Marieke").couple_id == "c1"


@pytest.mark.parametrize("decliner", ["Anna", "Ben"])
def test_a_decline_tells_the_therapist_only_that_the_couple_did_not_confirm(decliner):
    stage = CareStage.with_couples()
    request(stage)
    other = "Ben" if decliner == "Anna" else "Anna"
    stage.press(other, "allow")
    stage.press(decliner, "refuse")
    told = stage.last("Marieke")
    assert (
        told == "An update.\nA couple did not confirm your request to follow their work. You receive nothing from "
        "their thread. Perhaps it is something to talk about in your next conversation."
    )
    assert stage.care_of().status is CareStatus.DECLINED
    assert "not by whom" in stage.last(decliner)
    assert "will not follow your work" in stage.last(other)
    stage.press(other, "allow")  # too late: the request is closed
    assert stage.care_of().status is CareStatus.DECLINED


def test_the_request_shows_the_telegram_account_that_opened_the_link():
    stage = CareStage.with_couples()
    stage.join("Marieke", last_name="de Vries", username="mdevries")
    request(stage)
    for partner in ("Anna", "Ben"):
        shown = stage.last(partner)
        assert "Telegram account <b>Marieke de Vries</b>, @mdevries." in shown
        assert "not verified by Herstel" in shown  # what she typed stays marked as such
    assert (stage.care_of().account_name, stage.care_of().account_username) == ("Marieke de Vries", "mdevries")


def test_an_account_without_a_username_is_named_as_such():
    stage = CareStage.with_couples()
    request(stage)
    assert "Telegram account <b>Marieke</b>, an account without a username." in stage.last("Anna")


@pytest.mark.parametrize("saying", ["Anna", "Ben"])
def test_not_our_therapist_closes_it_for_both_and_asks_who_made_the_link_to_check(saying):
    stage = CareStage.with_couples()
    stage.join("Olaf", last_name="Stam", username="olafs")
    request(stage, therapist="Olaf")  # Anna made the link; Olaf typed a therapist's details
    stage.press("Anna", "allow")
    stage.press(saying, "not_ours")  # even after allowing
    other = "Ben" if saying == "Anna" else "Anna"
    care = stage.care_of()
    assert care.status is CareStatus.DECLINED
    assert says(stage) == ["consent.not_ours", "consent.not_ours_partner", "therapist.not_confirmed"]
    assert "Ask your therapist whether they opened" in stage.last("Anna")  # she made the link
    assert "Ask your therapist" not in stage.last("Ben")
    assert "the link no longer works" in stage.last(saying) and "the link no longer works" in stage.last(other)
    assert stage.last("Olaf").startswith("An update.\nA couple did not confirm")
    assert "Anna" not in stage.last("Olaf") and "Ben" not in stage.last("Olaf")
    stage.press(other, "allow")  # too late
    assert stage.care_of().status is CareStatus.DECLINED
    stage.take("Olaf")
    stage.write("Anna", "Are you reading this?")
    stage.open("Olaf", "https://t.me/HerstelBot?start=" + therapist.LINK_PREFIX + care.token)
    assert stage.take("Olaf") == [stage.last("Olaf")] and "Are you reading" not in stage.last("Olaf")
    assert stage.care_of().status is CareStatus.DECLINED


def test_history_is_shared_only_if_both_agree_and_only_what_came_before():
    stage = CareStage.with_couples()
    run_room(stage, words="Before the therapist.")
    stage.later(hours=1)
    with_therapist(stage)
    stage.later(hours=1)
    run_room(stage, words="After the therapist joined.")
    stage.press("Anna", "share_history")
    assert "Marieke" not in stage.files
    stage.press("Ben", "share_history")
    shared = stage.files["Marieke"]
    assert "Before the therapist." in shared and not any("After" in t for t in shared)
    stage.press("Ben", "keep_history")  # answered already: nothing changes
    assert stage.care_of().history == "shared"


def test_one_no_keeps_the_history_between_the_partners():
    stage = CareStage.with_couples()
    run_room(stage, words="Before the therapist.")
    stage.later(hours=1)
    with_therapist(stage)
    stage.press("Anna", "share_history")
    stage.press("Ben", "keep_history")
    assert "Marieke" not in stage.files
    assert "keep what they wrote before you joined between themselves" in stage.last("Marieke")
    assert "Ben" not in stage.last("Marieke").split("\n", 1)[0]
    stage.press("Anna", "share_history")
    assert "Marieke" not in stage.files


def test_what_the_therapist_receives_carries_the_couples_name_and_no_private_answers():
    stage = CareStage.with_couples()
    with_therapist(stage)
    stage.command("Anna", "menu")
    stage.press("Anna", "safety")
    stage.write("Ben", "At lunch.")  # a private answer: not shown to anyone yet
    assert not any("At lunch." in m.text for m in stage.inbox["Marieke"] + stage.inbox["Anna"])
    stage.write("Anna", "When the kids laughed.")  # now both see both, and so does the therapist
    revealed = stage.last("Marieke")
    assert revealed.startswith("New message.\n<b>Anna &amp; Ben</b> · Sharing again")
    assert "At lunch." in revealed and "When the kids laughed." in revealed
    stage.command("Anna", "pause")
    assert "Anna asked for a break." in stage.last("Marieke")
    stage.write("Anna", "Something I only say to Ben.")  # held while paused: reaches nobody yet
    assert "Something I only say" not in stage.received("Marieke")


def test_free_messages_outside_an_exercise_stay_between_the_partners():
    stage = CareStage.with_couples()
    with_therapist(stage)
    stage.take("Marieke")
    stage.write("Anna", "Only for you, Ben.")
    assert "Only for you, Ben." in stage.last("Ben")
    assert stage.take("Marieke") == []


def test_the_therapist_writes_to_both_and_suggests_an_exercise():
    stage = CareStage.with_couples()
    with_therapist(stage)
    stage.write("Marieke", "Go gently this week.")
    for partner in ("Anna", "Ben"):
        assert (
            stage.last(partner) == "New message.\nFrom your therapist, <b>Marieke de Vries</b>, to you both:\n"
            "<blockquote>Go gently this week.</blockquote>"
        )
    assert stage.last("Marieke") == "Sent to <b>Anna &amp; Ben</b>. They both receive it."
    stage.command("Marieke", "menu")
    stage.press("Marieke", "naming")
    assert "suggests an exercise: <b>Naming what happened</b>" in stage.last("Anna")
    assert stage.couples["c1"].run is None  # a suggestion starts nothing


def test_progress_is_a_hook_for_the_therapist():
    stage = CareStage.with_couples()
    with_therapist(stage)
    run_room(stage)
    stage.command("Marieke", "progress")
    assert "Room for grief and anger" in stage.last("Marieke") and "Anna &amp; Ben" in stage.last("Marieke")


def test_the_therapist_can_stop_following_a_couple():
    stage = CareStage.with_couples()
    with_therapist(stage)
    stage.command("Marieke", "leave")
    stage.press("Marieke", "keep_following")
    assert stage.care_of().status is CareStatus.ACTIVE
    stage.command("Marieke", "leave")
    stage.press("Marieke", "leave_couple")
    assert stage.care_of().status is CareStatus.LEFT
    assert "Marieke de Vries has stopped following your work" in stage.last("Anna")
    stage.take("Marieke")
    run_room(stage)
    assert stage.take("Marieke") == []


def test_a_request_expires_after_seven_days():
    stage = CareStage.with_couples()
    request(stage)
    stage.press("Anna", "allow")
    stage.later(days=7, minutes=1)
    stage.press("Ben", "allow")
    assert "expired" in stage.last("Ben")
    assert stage.care_of().status is CareStatus.EXPIRED
    assert "did not confirm" in stage.last("Marieke")
    stage.command("Ben", "therapist")  # a new link can be made
    assert "?start=th_" in stage.received("Ben")


# Security ----------------------------------------------------------------------------------------


def test_a_therapist_never_writes_into_an_exercise_turn_or_acts_as_a_partner():
    stage = CareStage.with_couples()
    with_therapist(stage)
    stage.command("Anna", "menu")
    stage.press("Anna", "room")
    before = stage.couples["c1"]
    turn_data = stage.inbox["Anna"][-1].buttons[0][1]  # Anna's "I've said what I need" button
    stage.write("Marieke", "I am writing during Anna's turn.")
    assert stage.couples["c1"] == before  # no turn taken, nothing held
    assert "partner.says" not in says(stage)
    assert "From your therapist" in stage.last("Anna") and "From your therapist" in stage.last("Ben")
    for data in (
        turn_data,
        f"{stage.person('Marieke').menu}:said",
        "1:room",
        "ci:x:3",
        f"care:{stage.care_of().id}:allow",
    ):
        stage.press_data("Marieke", data)
        assert says(stage) == ["press.stale"]
        assert stage.couples["c1"] == before
    for command in ("pause", "menu"):
        stage.command("Marieke", command)
        assert stage.couples["c1"] == before
    stage.press("Marieke", "naming")  # the therapist's /menu only suggests (and opens it for the partner)
    assert replace(stage.couples["c1"], opened=()) == before
    assert stage.person("Marieke").phase is Phase.THERAPIST and stage.person("Marieke").couple_id == "c1"
    assert all(m != stage.names["Marieke"][0] for m in stage.couples["c1"].member_ids)


def test_a_used_therapist_link_is_refused():
    stage = CareStage.with_couples()
    request(stage)
    link = stage.link_of("Anna")
    stage.join("Olaf")
    stage.open("Olaf", link)  # opened and filled in by Marieke: used
    assert "already been used" in stage.last("Olaf")
    assert stage.care_of().therapist_id == stage.names["Marieke"][0]
    stage.press("Anna", "allow"), stage.press("Ben", "allow")
    stage.open("Olaf", link)
    assert "already been used" in stage.last("Olaf")
    stage.write("Olaf", "Hello?")  # Olaf is nobody here
    assert stage.person("Olaf").phase is not Phase.THERAPIST
    assert "Hello?" not in stage.received("Anna") + stage.received("Ben")


def test_an_expired_therapist_link_is_refused():
    stage = CareStage.with_couples()
    stage.command("Anna", "therapist")
    link = stage.link_of("Anna")
    stage.later(days=8)
    stage.join("Marieke")
    stage.open("Marieke", link)
    assert "has expired" in stage.last("Marieke")
    assert stage.care_of().status is CareStatus.EXPIRED
    stage.write("Marieke", "Marieke de Vries")
    assert "Marieke de Vries" not in stage.received("Anna")


def test_an_unknown_therapist_link_is_refused():
    stage = CareStage.with_couples()
    stage.join("Olaf")
    stage.open("Olaf", "https://t.me/HerstelBot?start=th_madeup")
    assert "don't recognise this link" in stage.last("Olaf")


@pytest.mark.parametrize("partner", ["Anna", "Ben"])
def test_a_partner_cannot_become_the_therapist_of_their_own_couple(partner):
    stage = CareStage.with_couples()
    stage.command("Anna", "therapist")
    link = stage.link_of("Anna")
    stage.open(partner, link)
    assert "A partner cannot be the therapist of their own couple" in stage.last(partner)
    assert stage.person(partner).phase is Phase.LINKED
    assert stage.care_of().therapist_id is None
    stage.join("Marieke")
    stage.open("Marieke", link)  # the link still works for the therapist
    assert "What is your name" in stage.last("Marieke")


def test_a_partner_of_another_couple_cannot_use_a_therapist_link():
    stage = CareStage.with_couples("en", ("Anna", "Ben"), ("Cleo", "Dirk"))
    stage.command("Anna", "therapist")
    stage.open("Cleo", stage.link_of("Anna"))
    assert "as a partner" in stage.last("Cleo")
    assert stage.person("Cleo").phase is Phase.LINKED and stage.care_of("c1").therapist_id is None


def test_forged_and_stale_consent_buttons_change_nothing():
    stage = CareStage.with_couples("en", ("Anna", "Ben"), ("Cleo", "Dirk"))
    request(stage)
    care = stage.care_of()
    forged = [f"care:{'0' * 12}:allow", f"care:{care.id}:join", f"care:{care.id}", "care:", f"care:{care.id}:allow:x"]
    for data in forged:
        stage.press_data("Ben", data)
        assert says(stage) == ["press.stale"]
    stage.press_data("Cleo", f"care:{care.id}:allow")  # someone of another couple
    assert says(stage) == ["press.stale"]
    assert stage.care_of() == care
    # Ben presses Anna's button (the same data): it counts for Ben only, and only once.
    annas = next(data for _, data in stage.inbox["Anna"][-1].buttons if data.endswith(":allow"))
    stage.press_data("Ben", annas)
    stage.press_data("Ben", annas)
    assert says(stage) == ["consent.answered"]
    assert stage.care_of().allowed_by == (stage.names["Ben"][0],)
    assert stage.care_of().status is CareStatus.REQUESTED
    # After a withdrawal, the old buttons are stale; a new request has a new id.
    stage.command("Anna", "therapist")
    stage.press("Anna", "refuse")
    stage.press_data("Anna", annas)
    assert stage.care_of().status is CareStatus.DECLINED
    stage.press_data("Ben", f"care:{care.id}:share_history")
    assert stage.care_of().history is None


def test_a_stale_menu_to_remove_the_therapist_changes_nothing():
    stage = CareStage.with_couples()
    with_therapist(stage)
    stage.command("Anna", "therapist")
    remove = next(data for _, data in stage.inbox["Anna"][-2].buttons if data.endswith("remove_therapist"))
    stage.command("Anna", "menu")  # a newer menu
    stage.press_data("Anna", remove)
    assert says(stage) == ["press.stale"] and stage.care_of().status is CareStatus.ACTIVE
    stage.press_data("Marieke", remove)
    assert stage.care_of().status is CareStatus.ACTIVE


def test_two_couples_sharing_a_therapist_never_cross():
    stage = CareStage.with_couples("en", ("Anna", "Ben"), ("Cleo", "Dirk"))
    with_therapist(stage, couple_id="c1")
    with_therapist(stage, couple_id="c2", details=("Marieke de Vries", "Praktijk De Linde", None))
    assert stage.person("Marieke").couple_id == "c1"  # joining c2 did not switch who she talks to
    assert "To write to them, choose them with /couples." in stage.inbox["Marieke"][-1].text
    run_room(stage, "Anna", "Ben", words="Anna's secret.")
    run_room(stage, "Cleo", "Dirk", words="Cleo's secret.")
    to_marieke = [m.text for m in stage.inbox["Marieke"]]
    assert all("Anna &amp; Ben" in t for t in to_marieke if "Anna's secret." in t)
    assert all("Cleo &amp; Dirk" in t for t in to_marieke if "Cleo's secret." in t)
    stage.write("Marieke", "For Anna and Ben.")
    stage.command("Marieke", "couples")
    assert [label for label, _ in stage.inbox["Marieke"][-1].buttons] == ["Anna & Ben", "Cleo & Dirk"]
    stage.press("Marieke", "c2")
    stage.write("Marieke", "For Cleo and Dirk.")
    assert "Sent to <b>Cleo &amp; Dirk</b>" in stage.last("Marieke")
    for name, _mine, theirs in (
        ("Anna", "Anna's", "Cleo's"),
        ("Ben", "Anna's", "Cleo's"),
        ("Cleo", "Cleo's", "Anna's"),
        ("Dirk", "Cleo's", "Anna's"),
    ):
        received = stage.received(name)
        assert theirs not in received
        assert ("For Anna and Ben." in received) == (name in ("Anna", "Ben"))
        assert ("For Cleo and Dirk." in received) == (name in ("Cleo", "Dirk"))
    stage.press_data("Marieke", f"{stage.person('Marieke').menu}:c9")  # a couple she does not follow
    assert says(stage) == ["press.stale"] and stage.person("Marieke").couple_id == "c2"


def test_after_removal_the_therapist_receives_nothing():
    stage = CareStage.with_couples()
    with_therapist(stage)
    stage.command("Ben", "therapist")
    stage.press("Ben", "remove_therapist")
    told = stage.last("Marieke")
    assert told.startswith("An update.\n") and "Ben" in told.split("\n")[1]  # the couple's name, not who
    assert "removed" not in told and stage.care_of().status is CareStatus.REMOVED
    assert stage.person("Marieke").couple_id is None
    stage.take("Marieke")
    run_room(stage)
    stage.write("Marieke", "Still there?")
    assert "Still there?" not in stage.received("Anna") + stage.received("Ben")
    assert all("Anna &amp; Ben" not in t or "choose" in t.lower() for t in stage.take("Marieke"))


@pytest.mark.parametrize("how", ["leave", "delete"])
def test_after_a_partner_leaves_the_couple_the_therapist_receives_nothing(how):
    stage = CareStage.with_couples()
    with_therapist(stage)
    stage.command("Anna", how)
    stage.press("Anna", "leave" if how == "leave" else "erase")
    assert stage.care_of().status is CareStatus.ENDED
    assert "has ended" in stage.last("Marieke")
    stage.take("Marieke")
    stage.write("Ben", "Anyone?")
    stage.write("Marieke", "Hello?")
    assert "Hello?" not in stage.received("Ben") + stage.received("Anna")
    assert not any("Anyone?" in t for t in stage.take("Marieke"))


# Nothing crosses, whatever happens ----------------------------------------------------------------

ACTORS = ["Anna", "Ben", "Cleo", "Dirk", "Marieke"]
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(ACTORS), st.just("write")),
        st.tuples(st.sampled_from(ACTORS), st.sampled_from(["menu", "pause", "therapist", "couples", "leave"])),
        st.tuples(st.just("Marieke"), st.just("progress")),
        st.tuples(st.sampled_from(ACTORS), st.just("press")),
        st.tuples(st.just("clock"), st.just("later")),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ACTIONS, st.randoms(use_true_random=False))
def test_nothing_of_one_couple_reaches_the_other_or_the_therapist_under_another_name(actions, rnd):
    stage = CareStage.with_couples("en", ("Anna", "Ben"), ("Cleo", "Dirk"))
    with_therapist(stage, couple_id="c1")
    with_therapist(stage, couple_id="c2")
    couple_of = {"Anna": "c1", "Ben": "c1", "Cleo": "c2", "Dirk": "c2"}
    label_of = {"c1": "Anna &amp; Ben", "c2": "Cleo &amp; Dirk"}
    written = 0
    for actor, action in actions:
        if actor == "clock":
            stage.later(hours=rnd.choice([1, 30, 200]))
        elif action == "write":
            written += 1
            stage.write(actor, f"[{couple_of.get(actor, 'th')}-{written}]")
        elif action == "press":
            buttons = [data for m in stage.inbox[actor][-3:] for _, data in m.buttons]
            if buttons:
                stage.press_data(actor, rnd.choice(buttons))
        else:
            stage.command(actor, action)
    for name, couple in couple_of.items():
        other = "c2" if couple == "c1" else "c1"
        assert f"[{other}-" not in stage.received(name)
    for message in stage.inbox["Marieke"]:
        for couple, label in label_of.items():
            if f"[{couple}-" in message.text:
                assert label in message.text
                assert label_of["c2" if couple == "c1" else "c1"] not in message.text
    # Whatever happened, a care that is not active passes nothing on.
    for care in stage.cares.values():
        if care.status is not CareStatus.ACTIVE:
            stage.take("Marieke")
            for name in (n for n, c in couple_of.items() if c == care.couple_id):
                stage.write(name, "[after]")
            assert not any("[after]" in t for t in stage.take("Marieke"))


# Golden transcripts ------------------------------------------------------------------------------


def therapist_flow(s: CareStage, say) -> None:
    s.write("Anna", say("I read your messages again last night.", "Ik las je berichten gisteravond opnieuw."))
    s.later(hours=1)
    s.command("Anna", "therapist")
    s.join("Marieke", last_name="de Vries", username="mariekedevries")
    s.open("Marieke", s.link_of("Anna"))
    s.write("Marieke", "Marieke de Vries")
    s.write("Marieke", say("De Linde couples practice", "Praktijk De Linde"))
    s.write("Marieke", "BIG 12345678901")
    s.press("Anna", "allow")
    s.press("Ben", "allow")
    s.press("Anna", "share_history")
    s.press("Ben", "share_history")
    s.later(hours=1)
    s.command("Ben", "menu")
    s.press("Ben", "naming")
    s.write(
        "Ben",
        say(
            "I had an affair for six months and lied to you about it. It was my choice.",
            "Ik had een half jaar een verhouding en loog daarover tegen je. Het was mijn keuze.",
        ),
    )
    s.press("Ben", "send")
    s.press("Anna", "read")
    s.write("Marieke", say("Thank you both. That took courage.", "Dank jullie wel. Dat vroeg moed."))
    s.command("Marieke", "menu")
    s.press("Marieke", "impact")
    s.command("Anna", "therapist")
    s.press("Anna", "remove_therapist")
    s.write("Marieke", say("Are you still there?", "Zijn jullie er nog?"))


def declined(s: CareStage, say) -> None:
    s.command("Ben", "therapist")
    s.join("Marieke")
    s.open("Marieke", s.link_of("Ben"))
    s.write("Marieke", "Marieke de Vries")
    s.write("Marieke", say("De Linde couples practice", "Praktijk De Linde"))
    s.press("Marieke", "skip")
    s.press("Ben", "allow")
    s.press("Anna", "refuse")


def not_ours(s: CareStage, say) -> None:
    s.command("Ben", "therapist")
    s.join("Olaf", last_name="Stam", username="olaf_s")  # not their therapist: the link reached him
    s.open("Olaf", s.link_of("Ben"))
    s.write("Olaf", "Marieke de Vries")
    s.write("Olaf", say("De Linde couples practice", "Praktijk De Linde"))
    s.write("Olaf", "BIG 12345678901")
    s.press("Anna", "not_ours")
    s.write("Olaf", say("Hello?", "Hallo?"))
    s.command("Ben", "therapist")


def two_couples(s: CareStage, say) -> None:
    with_therapist(s, couple_id="c1")
    with_therapist(
        s, couple_id="c2", details=("Marieke de Vries", say("De Linde couples practice", "Praktijk De Linde"), None)
    )
    s.command("Cleo", "menu")
    s.press("Cleo", "trust")
    s.write("Cleo", say("I will not check your phone this week.", "Ik kijk deze week niet in je telefoon."))
    s.command("Marieke", "couples")
    s.press("Marieke", "c2")
    s.write("Marieke", say("Cleo, that is a big step.", "Cleo, dat is een grote stap."))


SCENARIOS = {
    "therapist": (therapist_flow, (("Anna", "Ben"),)),
    "therapist_declined": (declined, (("Anna", "Ben"),)),
    "therapist_not_ours": (not_ours, (("Anna", "Ben"),)),
    "therapist_two_couples": (two_couples, (("Anna", "Ben"), ("Cleo", "Dirk"))),
}


@pytest.mark.parametrize("language", ["en", "nl"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_transcript(name, language):
    scenario, pairs = SCENARIOS[name]
    stage = CareStage.with_couples(language, *pairs)
    scenario(stage, lambda en, nl: en if language == "en" else nl)
    golden = GOLDEN / f"{name}.{language}.txt"
    if os.environ.get("HERSTEL_WRITE_TRANSCRIPTS"):
        golden.write_text(stage.transcript())
    assert stage.transcript() == golden.read_text()


# The relay, in isolation ---------------------------------------------------------------------------


def test_a_revealed_check_in_is_passed_on_once_by_one_line_in_the_relay_table():
    stage = CareStage.with_couples()
    with_therapist(stage)
    world = stage.load(stage.names["Anna"][0], None)
    reveal = {"partner": "Ben", "my_score": 2, "my_word": "tired", "their_score": 4, "their_word": "hopeful"}
    effects = [Say("self", "checkin.reveal", reveal), Say("partner", "checkin.reveal", reveal | {"partner": "Anna"})]
    _, out = therapist.after_step(world, world, effects, stage.now)
    relayed = [e for e in out if isinstance(e, Say) and e.to == "therapist"]
    assert [(e.key, e.vars["actor"], e.vars["partner"], e.vars["couple"]) for e in relayed] == [
        ("therapist.relay.checkin", "Anna", "Ben", "Anna & Ben")
    ]
    removed = replace(world, care=replace(world.care, status=CareStatus.REMOVED))
    assert therapist.after_step(removed, removed, effects, stage.now)[1] == effects


def test_check_in_buttons_are_never_taken_for_this_flows_menus():
    stage = CareStage.with_couples()
    with_therapist(stage)
    stage.command("Anna", "therapist")  # Anna's newest menu is now this flow's
    world = stage.load(stage.names["Anna"][0], None)
    assert therapist.concerns(world, Press(stage.sender("Anna"), f"{world.me.menu}:keep_therapist"))
    assert not therapist.concerns(world, Press(stage.sender("Anna"), "ci:2026-03-02:3"))
