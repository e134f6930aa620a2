"""The dialogue engine is pure, total and deterministic."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogues.engine import INVITE_LIFETIME, step
from dialogues.model import (
    Command,
    Due,
    Edited,
    GroupChat,
    Invite,
    Person,
    Phase,
    Press,
    Role,
    Say,
    Schedule,
    Sender,
    Start,
    Text,
    Toast,
    Unsupported,
    World,
)

NOW = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
ANNA = Sender(1, "Anna", "en")
BEN = Sender(2, "Ben", "en")


def test_dialogues_imports_neither_telegram_nor_the_database():
    probe = (
        "import sys, dialogues.engine, dialogues.model, dialogues.texts;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'telegram', 'sqlalchemy', 'sqlmodel', 'storage', 'bot', 'psycopg'}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def keys(effects) -> list[str]:
    return [e.key for e in effects if isinstance(e, (Say, Toast))]


def press(world, sender, choice, now=NOW):
    """Press the button for `choice` in the newest menu, as Telegram would send it."""
    return step(world, Press(sender, f"{world.me.menu}:{choice}", nonce="n"), now)


def screen(world, sender, now=NOW):
    """Say where you live, then "no" to each of the four safety questions."""
    world, effects = press(world, sender, "in_nl", now)
    for _ in range(4):
        world, effects = press(world, sender, "safe", now)
    return world, effects


def test_a_new_person_is_greeted_asked_where_they_live_then_screened_alone():
    world, effects = step(World(), Start(ANNA), NOW)
    assert world.me.phase is Phase.SCREENING
    assert keys(effects) == ["welcome"]
    assert [b.label for row in effects[0].buttons for b in row][:2] == ["button.in_nl", "button.in_be"]
    world, effects = press(world, ANNA, "in_nl")
    assert keys(effects) == ["screen.q1"]
    assert [b.label for row in effects[0].buttons for b in row] == ["button.unsafe", "button.safe"]
    world, effects = screen(world, ANNA)
    assert world.me.phase is Phase.CHOOSING_ROLE and world.me.country == "nl"


@pytest.mark.parametrize("question", [1, 2, 3, 4])
def test_yes_to_any_safety_question_shows_help_and_offers_no_pairing(question):
    world, _ = step(World(), Start(ANNA), NOW)
    world, _ = press(world, ANNA, "in_uk")
    for _ in range(question - 1):
        world, _ = press(world, ANNA, "safe")
    world, effects = press(world, ANNA, "unsafe")
    assert world.me.phase is Phase.NOT_SAFE
    assert [(e.key, e.vars) for e in effects] == [("safety.not_safe", {"country": "uk"})]
    assert not any(isinstance(e, Say) and e.buttons for e in effects)


def test_a_stale_button_changes_nothing():
    world, _ = step(World(), Start(ANNA), NOW)
    stale = f"{world.me.menu - 1}:in_nl"
    after, effects = step(world, Press(ANNA, stale), NOW)
    assert after == world
    assert keys(effects) == ["press.stale"]


def test_a_forged_choice_for_the_current_menu_changes_nothing():
    world, _ = step(World(), Start(ANNA), NOW)
    after, effects = step(world, Press(ANNA, f"{world.me.menu}:leave"), NOW)
    assert after == world
    assert keys(effects) == ["press.stale"]


def invited(role=Role.DAMAGED):
    world, _ = step(World(), Start(ANNA), NOW)
    world, _ = screen(world, ANNA)
    world, effects = step(world, Press(ANNA, f"{world.me.menu}:{role.value}", nonce="token1"), NOW)
    return world, effects


def test_choosing_a_role_makes_an_invite_with_the_shells_nonce():
    world, effects = invited()
    assert world.invite == Invite("token1", 1, Role.DAMAGED, NOW)
    assert world.me.phase is Phase.INVITING
    assert keys(effects) == ["invite.made", "invite.forward"]


def test_an_invite_expires_after_72_hours():
    anna_world, _ = invited()
    ben_world = World(partner=anna_world.me, invite=anna_world.invite)
    later = NOW + INVITE_LIFETIME + timedelta(minutes=1)
    ben_world, _ = step(ben_world, Start(BEN, "token1"), later)
    ben_world, effects = screen(ben_world, BEN, later)
    assert keys(effects) == ["link.expired"]
    assert ben_world.me.phase is Phase.CHOOSING_ROLE


def opened(role=Role.DAMAGED, ben=BEN, now=NOW):
    """Anna invites; Ben opens her link, passes the safety questions and presses "join"."""
    anna_world, _ = invited(role)
    world = World(partner=anna_world.me, invite=anna_world.invite)
    world, _ = step(world, Start(ben, "token1"), now)
    world, _ = screen(world, ben, now)
    return press(world, ben, "join", now)


def inviters_world(joiners_world: World) -> World:
    """Anna's world as storage loads it: her invite, and whoever opened it."""
    return World(me=joiners_world.partner, partner=joiners_world.me, invite=joiners_world.invite)


BEN_ON_TELEGRAM = Sender(2, "Ben", "en", last_name="de Vries", username="bendv")


def test_joining_waits_until_the_inviter_says_who_it_is():
    world, effects = opened(ben=BEN_ON_TELEGRAM)
    assert world.me.phase is Phase.JOINING and world.partner.phase is Phase.INVITING
    assert world.couple is None
    assert world.invite.joiner_id == 2
    said = [(e.to, e.key) for e in effects if isinstance(e, Say)]
    assert said == [("self", "join.waiting"), ("partner", "join.ask")]
    ask = effects[1]
    assert ask.vars == {"name": "Ben de Vries", "username": "bendv"}
    assert [b.label for (b,) in ask.buttons] == ["button.is_partner", "button.not_partner"]
    assert world.partner.asking == "joiner"


def test_nothing_the_joiner_writes_is_carried_while_they_wait():
    world, _ = opened()
    world, effects = step(world, Text(BEN, "Anna, it is me"), NOW)
    assert [(e.to, e.key) for e in effects if isinstance(e, Say)] == [
        ("self", "text.not_carried"),
        ("self", "join.waiting"),
    ]
    world, effects = press(world, BEN, "join")  # the old join button: nothing new
    assert keys(effects) == ["press.stale"]


def test_the_inviters_yes_links_both_with_complementary_roles():
    world, _ = opened(Role.HURT)
    world, effects = press(inviters_world(world), ANNA, "is_partner")
    assert world.me.phase is world.partner.phase is Phase.LINKED
    assert (world.me.role, world.partner.role) == (Role.HURT, Role.DAMAGED)
    assert world.invite.used_at == NOW
    said = [(e.to, e.key) for e in effects if isinstance(e, Say)]
    assert said[:2] == [("self", "linked"), ("partner", "linked")]
    assert [e.vars["partner"] for e in effects[:2]] == ["Ben", "Anna"]
    assert said[2:] == [("self", "zone.choose_first"), ("partner", "zone.choose_first")]  # each chooses their time zone


def test_the_inviters_no_voids_the_link_and_gives_a_fresh_one():
    world, _ = opened()
    world, effects = step(inviters_world(world), Press(ANNA, f"{world.partner.menu}:not_partner", nonce="token2"), NOW)
    assert [(e.to, e.key) for e in effects if isinstance(e, Say)] == [
        ("self", "join.refused_inviter"),
        ("self", "invite.forward"),
        ("partner", "join.refused"),
    ]
    assert effects[-1].vars == {}  # the one refused hears nothing about who or why
    assert effects[1].vars["token"] == "token2" == world.invite.token == world.me.invite_token
    assert world.voided.token == "token1" and world.voided.used_at == NOW and world.voided.joiner_id is None
    assert world.voided.joiner_name == ""
    assert world.couple is None and world.me.phase is Phase.INVITING
    assert world.partner.phase is Phase.CHOOSING_ROLE and world.partner.invite_token is None
    stranger_again = World(me=world.partner, partner=world.me, invite=world.voided)
    _, effects = step(stranger_again, Start(BEN, "token1"), NOW)
    assert keys(effects) == ["link.used"]


def test_a_second_person_opening_the_link_while_one_waits_is_refused():
    world, _ = opened()
    carl = Sender(3, "Carl", "en")
    carls_world = World(partner=world.partner, invite=world.invite)
    carls_world, _ = step(carls_world, Start(carl, "token1"), NOW)
    carls_world, effects = screen(carls_world, carl)
    assert keys(effects) == ["link.used"]
    assert carls_world.invite.joiner_id == 2


def test_the_inviter_is_asked_again_after_start_or_menu():
    world, _ = opened()
    anna = inviters_world(world)
    for event in (Start(ANNA), Command(ANNA, "menu")):
        anna, effects = step(anna, event, NOW)
        assert keys(effects)[-1] == "join.ask"
        assert anna.me.asking == "joiner"
    anna, effects = press(anna, ANNA, "is_partner")
    assert anna.me.phase is Phase.LINKED


def test_the_wait_ends_with_the_link():
    world, effects = opened()
    (schedule,) = [e for e in effects if isinstance(e, Schedule)]
    assert (schedule.to, schedule.kind, schedule.at) == ("self", "join", NOW + INVITE_LIFETIME)
    later = NOW + INVITE_LIFETIME + timedelta(seconds=1)
    assert step(world, Due(BEN, "join"), NOW + timedelta(hours=1)) == (world, [])  # not yet
    after, effects = step(world, Due(BEN, "join"), later)
    assert [(e.to, e.key) for e in effects] == [("self", "join.wait_over"), ("partner", "invite.expired")]
    assert after.me.phase is Phase.CHOOSING_ROLE and after.invite.joiner_id is None
    assert after.partner.asking is None
    anna, effects = step(inviters_world(after), Start(ANNA, nonce="token2"), later)
    assert keys(effects) == ["invite.renewed", "invite.forward"] and anna.invite.token == "token2"


def test_the_inviters_answer_after_the_link_expired_links_nobody():
    world, _ = opened()
    later = NOW + INVITE_LIFETIME + timedelta(seconds=1)
    anna, effects = press(inviters_world(world), ANNA, "is_partner", later)
    assert anna.couple is None and anna.partner.phase is Phase.CHOOSING_ROLE
    assert [(e.to, e.key) for e in effects if isinstance(e, Say)][-1] == ("partner", "join.wait_over")


def test_a_joiner_who_left_meanwhile_is_not_linked():
    world, _ = opened()
    gone = replace(world.invite, joiner_id=None, joiner_name="")  # they erased their data
    anna, effects = press(World(me=world.partner, invite=gone), ANNA, "is_partner")
    assert keys(effects) == ["join.gone", "invite.forward"]
    assert anna.couple is None and anna.me.phase is Phase.INVITING


SENDERS = st.sampled_from([ANNA, BEN])
EVENTS = st.one_of(
    st.builds(Start, SENDERS, st.one_of(st.none(), st.just("token1"), st.text(max_size=8)), st.just("t")),
    st.builds(Command, SENDERS, st.sampled_from(["help", "menu", "leave", "language", "export", "delete", "nope"])),
    st.builds(Text, SENDERS, st.sampled_from(["I want to die", "ik wil dood"])),
    st.builds(Text, SENDERS, st.text(max_size=50)),
    st.builds(Edited, SENDERS, st.text(max_size=20)),
    st.builds(
        Press,
        SENDERS,
        st.from_regex(
            r"[0-9]{1,2}:(safe|unsafe|in_nl|in_other|damaged|hurt|join|decline|is_partner|not_partner|leave|stay|nl|en|rescreen|send_anyway|keep_it|erase|keep_data|x)",
            fullmatch=True,
        ),
    ),
    st.builds(Unsupported, SENDERS, st.sampled_from(["sticker", "photo"])),
    st.builds(GroupChat, SENDERS),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(EVENTS, st.integers(0, 100)), max_size=25))
def test_step_is_total_and_deterministic(events):
    """Random events from two people, each with their own stored state, never raise."""
    people: dict[int, Person] = {}
    invites: dict[str, Invite] = {}
    couples: dict = {}
    now = NOW
    for event, hours in events:
        now += timedelta(hours=hours)
        me = people.get(event.sender.user_id)
        token = event.payload if isinstance(event, Start) and event.payload else (me.invite_token if me else None)
        invite = invites.get(token) if token else None
        other = next((p for uid, p in people.items() if uid != event.sender.user_id), None)
        partner = (
            other
            if (me and me.couple_id and other and other.couple_id == me.couple_id)
            or (invite and other and other.user_id in (invite.inviter_id, invite.joiner_id))
            else None
        )
        couple = couples.get(me.couple_id) if me and me.couple_id else None
        world = World(me=me, partner=partner, couple=couple, invite=None if couple else invite)
        first = step(world, event, now)
        assert first == step(world, event, now)
        after, effects = first
        for person in (after.me, after.partner):
            if person:
                people[person.user_id] = person
        for kept in (after.voided, after.invite):
            if kept:
                invites[kept.token] = kept
        if after.couple:
            couples[after.couple.id] = after.couple
        assert all(
            type(e).__name__ in ("Say", "Toast", "LeaveChat", "Record", "Export", "Erase", "Schedule") for e in effects
        )
        if after.me and after.me.phase is Phase.LINKED:
            assert after.partner and after.partner.couple_id == after.me.couple_id
