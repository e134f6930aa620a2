"""The dialogue engine is pure, total and deterministic."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogues.engine import INVITE_LIFETIME, step
from dialogues.model import (
    Command,
    Edited,
    GroupChat,
    Invite,
    Person,
    Phase,
    Press,
    Role,
    Say,
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


def test_joining_links_both_with_complementary_roles():
    anna_world, _ = invited(Role.HURT)
    world = World(partner=anna_world.me, invite=anna_world.invite)
    world, _ = step(world, Start(BEN, "token1"), NOW)
    world, _ = screen(world, BEN)
    world, effects = press(world, BEN, "join")
    assert world.me.phase is world.partner.phase is Phase.LINKED
    assert (world.me.role, world.partner.role) == (Role.DAMAGED, Role.HURT)
    assert world.invite.used_at == NOW
    said = [(e.to, e.key) for e in effects if isinstance(e, Say)]
    assert said[:2] == [("self", "linked"), ("partner", "linked")]
    assert [e.vars["partner"] for e in effects[:2]] == ["Anna", "Ben"]
    assert said[2:] == [("self", "zone.choose_first"), ("partner", "zone.choose_first")]  # each chooses their time zone


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
            r"[0-9]{1,2}:(safe|unsafe|in_nl|in_other|damaged|hurt|join|decline|leave|stay|nl|en|rescreen|send_anyway|keep_it|erase|keep_data|x)",
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
            or (invite and other and invite.inviter_id == other.user_id)
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
        if after.invite:
            invites[after.invite.token] = after.invite
        if after.couple:
            couples[after.couple.id] = after.couple
        assert all(type(e).__name__ in ("Say", "Toast", "LeaveChat", "Record", "Export", "Erase") for e in effects)
        if after.me and after.me.phase is Phase.LINKED:
            assert after.partner and after.partner.couple_id == after.me.couple_id
