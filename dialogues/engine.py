"""The pure dialogue engine: `step(world, event, now) -> (world, effects)`.

Total and deterministic: every event in every phase gets an answer, nothing here does I/O,
and the same input always gives the same output. Randomness (new tokens) arrives in the
event's nonce; time arrives as `now`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from dialogues import crisis, daily, flood, programme, therapist
from dialogues.helplines import COUNTRIES, country_or_default
from dialogues.model import (
    Button,
    Command,
    Couple,
    Due,
    Edited,
    Effect,
    Erase,
    Event,
    Export,
    GroupChat,
    Held,
    Invite,
    LeaveChat,
    Located,
    PassOnHeld,
    Person,
    Phase,
    Press,
    Recipient,
    Record,
    Role,
    Say,
    Schedule,
    Start,
    Text,
    Toast,
    Unreachable,
    Unsupported,
    Widen,
    World,
    known,
)

INVITE_LIFETIME = timedelta(hours=72)
SCREEN_QUESTIONS = 4  # violence, fear, forced sex, threats and control: each partner alone
LANGUAGES = ("en", "nl")

# Each question a button menu can ask, with the choices it offers, one button a row.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "country": tuple(f"in_{country}" for country in COUNTRIES),
    "screen": ("unsafe", "safe"),
    "crisis": ("send_anyway", "keep_it"),
    "delete": ("erase", "keep_data"),
    "rescreen": ("rescreen",),
    "role": (Role.DAMAGED.value, Role.HURT.value),
    "join": ("join", "decline"),
    "joiner": ("is_partner", "not_partner"),  # the inviter: is who opened the link their partner?
    "leave": ("leave", "stay"),
    "language": LANGUAGES,
    **programme.CHOICES,
    **daily.CHOICES,
    **therapist.QUESTIONS,
}

Step = tuple[World, list[Effect]]


def step(world: World, event: Event, now: datetime) -> Step:
    quiet = flood.unanswered(world, event, now)  # a stranger's flood: answered once a minute, not each time
    if quiet is not None:
        return quiet, []
    after, effects = _step(world, event, now)
    after, effects = therapist.after_step(world, after, effects, now)  # pass on to a couple's therapist
    after, effects = flood.paced(after, event, effects, now)
    return after, audience(after, effects + daily.nudges_for(world, after, now))


def audience(world: World, effects: list[Effect]) -> list[Effect]:
    """Who may read a journal entry, decided here and only here: its writer (a Record is theirs
    alone), and whoever a message passing its text on goes to (a Say naming the entry, or held
    texts passed on). Storage only follows: it widens by the Widens and PassOnHeld.readers."""
    widened: dict[str, list[int]] = {}
    result: list[Effect] = []
    for effect in effects:
        if isinstance(effect, Say) and effect.entries:
            for entry in effect.entries:
                widened.setdefault(entry, []).extend(_readers(world, effect.to))
        if isinstance(effect, PassOnHeld):
            effect = replace(effect, readers=tuple(_readers(world, effect.to)))
        result.append(effect)
    return result + [Widen(entry, tuple(dict.fromkeys(ids))) for entry, ids in widened.items() if ids]


def _readers(world: World, to: str) -> list[int]:
    match to:
        case "self":
            people = [world.me]
        case "partner":
            people = [world.partner]
        case "therapist":
            people = [world.therapist]
        case _:
            people = list(world.members)
    return [p.user_id for p in people if p is not None]


def _step(world: World, event: Event, now: datetime) -> Step:
    if isinstance(event, GroupChat):
        return world, [Say("self", "group.private_only"), LeaveChat()] if event.announce else [LeaveChat()]
    if isinstance(event, Unreachable):
        return _on_unreachable(world)
    me = world.me or Person(
        user_id=event.sender.user_id,
        first_name=event.sender.first_name,
        language=event.sender.language,
        time_zone=daily.DEFAULT_ZONE[event.sender.language],
    )
    world = replace(world, me=replace(me, first_name=event.sender.first_name))
    if therapist.concerns(world, event):
        return therapist.on_event(world, event, now)
    match event:
        case Start():
            return _on_start(world, event, now)
        case Press():
            return _on_press(world, event, now)
        case Command():
            return _on_command(world, event, now)
        case Text():
            return _on_text(world, event, now)
        case Edited():
            return _on_edited(world, event)
        case Unsupported():
            return _on_unsupported(world)
        case Due(kind="join"):
            return _join_wait_over(world, now)
        case Due(kind="held"):
            return programme.held_reminder(world)
        case Due():
            return daily.on_due(world, event, now)
        case Located() if known(world.me).awaiting == "zone":
            return daily.on_located(world, event.time_zone, now)
        case Located():
            return _on_unsupported(world)
    raise AssertionError(f"unhandled event {type(event).__name__}")


# Start and the way to a link ---------------------------------------------------------


def _on_start(world: World, event: Start, now: datetime) -> Step:
    me = known(world.me)
    payload = event.payload or None
    match me.phase:
        case Phase.NEW | Phase.SCREENING:
            world = replace(world, me=replace(me, phase=Phase.SCREENING, invite_token=payload, screened=0))
            return _ask(world, "self", "country", "welcome")
        case Phase.NOT_SAFE:
            return _ask(world, "self", "rescreen", "safety.still_not_safe", _help(me))
        case Phase.LINKED:
            if payload:
                return world, [Say("self", "link.already_linked", {"partner": known(world.partner).first_name})]
            return world, [Say("self", "status.linked", {"partner": known(world.partner).first_name})]
        case Phase.INVITING if not payload:
            if _open_invite(world) and now - known(world.invite).created_at > INVITE_LIFETIME:
                return _renew_invite(world, event.nonce, now, "invite.renewed")
            return _inviting(world)
        case Phase.JOINING if not payload:
            return _offer_join(world, now)
    if payload:
        return _open_link(world, payload, now)
    return _ask(world, "self", "role", "role.choose")


def _open_link(world: World, token: str, now: datetime) -> Step:
    """Someone who passed the safety question opens a partner's link (loaded as world.invite)."""
    me = known(world.me)
    refusal = _why_invite_unusable(world, now)
    if refusal:
        if me.phase is not Phase.INVITING:  # an inviter keeps their own link open
            world = replace(world, me=replace(me, phase=Phase.CHOOSING_ROLE, invite_token=None))
        return world, [Say("self", refusal, {"partner": _inviter_name(world)})]
    world = replace(world, me=replace(me, phase=Phase.JOINING, invite_token=token))
    return _offer_join(world, now)


def _why_invite_unusable(world: World, now: datetime) -> str | None:
    invite = world.invite
    if invite is None:
        return "link.unknown"
    if invite.inviter_id == known(world.me).user_id:
        return "link.own"
    if invite.used_at is not None or invite.joiner_id not in (None, known(world.me).user_id):
        return "link.used"  # a second person opening a link while the first waits is refused too
    inviter = world.partner
    if inviter is None or inviter.phase is Phase.LINKED or inviter.invite_token != invite.token:
        return "link.complete"
    if now - invite.created_at > INVITE_LIFETIME:
        return "link.expired"
    return None


def _inviter_name(world: World) -> str:
    return world.partner.first_name if world.partner else ""


def _offer_join(world: World, now: datetime) -> Step:
    refusal = _why_invite_unusable(world, now)
    if refusal:
        world = replace(world, me=replace(known(world.me), phase=Phase.CHOOSING_ROLE, invite_token=None))
        return world, [Say("self", refusal, {"partner": _inviter_name(world)})]
    invite = known(world.invite)
    if invite.joiner_id == known(world.me).user_id:
        return world, [Say("self", "join.waiting", {"partner": known(world.partner).first_name})]
    return _ask(
        world,
        "self",
        "join",
        "join.confirm",
        {"partner": known(world.partner).first_name, "role": invite.inviter_role.other.value},
    )


# Button presses ----------------------------------------------------------------------


def _on_press(world: World, event: Press, now: datetime) -> Step:
    me = known(world.me)
    if event.data.startswith("ci:"):
        return daily.checkin_press(world, event.data, now)
    menu, _, choice = event.data.partition(":")
    if menu != str(me.menu) or me.asking is None or choice not in QUESTIONS[me.asking]:
        return world, [Toast("press.stale")]
    question = me.asking
    world = replace(world, me=replace(me, asking=None))
    match question:
        case "language":
            return _set_language(world, choice, now)
        case "country":
            return _set_country(world, choice.removeprefix("in_"), now)
        case "screen":
            return _answer_screen(world, choice, now)
        case "rescreen":
            world = replace(world, me=replace(known(world.me), phase=Phase.SCREENING, screened=0))
            return _resume(world, now)
        case "crisis":
            return _decide_unsent(world, choice, now)
        case "delete":
            return _erase(world, now) if choice == "erase" else (world, [Say("self", "delete.kept")])
        case "role":
            return _make_invite(world, Role(choice), event.nonce, now)
        case "join":
            return _join(world, event, now) if choice == "join" else _decline_join(world)
        case "joiner":
            return _answer_joiner(world, choice == "is_partner", event.nonce, now)
        case "leave":
            return _leave(world, now) if choice == "leave" else (world, [Say("self", "leave.stayed")])
    if question == "settings" and choice == "country":
        return _ask(world, "self", "country", "country.choose")
    if question in daily.CHOICES:
        return daily.on_press(world, question, choice, now)
    if known(world.me).phase is Phase.LINKED:
        return programme.on_press(world, question, choice, now)
    return world, [Toast("press.stale")]


def _set_country(world: World, country: str, now: datetime) -> Step:
    world = replace(world, me=replace(known(world.me), country=country))
    if known(world.me).phase is Phase.SCREENING:
        return _resume(world, now)
    return world, [Say("self", "country.set", _help(known(world.me)))]


def _answer_screen(world: World, choice: str, now: datetime) -> Step:
    """Four private questions; any "yes" means couples work is not the safe step now."""
    me = known(world.me)
    if me.phase is not Phase.SCREENING:
        return world, [Toast("press.stale")]
    if choice == "unsafe":
        world = replace(world, me=replace(me, phase=Phase.NOT_SAFE, invite_token=None, screened=0))
        return world, [Say("self", "safety.not_safe", _help(me))]
    me = replace(me, screened=me.screened + 1)
    world = replace(world, me=me)
    if me.screened < SCREEN_QUESTIONS:
        return _resume(world, now)
    if me.invite_token:
        return _open_link(world, me.invite_token, now)
    world = replace(world, me=replace(me, phase=Phase.CHOOSING_ROLE))
    return _ask(world, "self", "role", "role.choose")


def _help(person: Person) -> dict[str, object]:
    return {"country": country_or_default(person.country, person.language)}


def _make_invite(world: World, role: Role, nonce: str, now: datetime) -> Step:
    invite = Invite(token=nonce, inviter_id=known(world.me).user_id, inviter_role=role, created_at=now)
    me = replace(known(world.me), phase=Phase.INVITING, role=role, invite_token=invite.token)
    return replace(world, me=me, invite=invite), [
        Say("self", "invite.made", {"role": role.value}),
        Say("self", "invite.forward", {"name": me.first_name, "token": invite.token}),
    ]


def _join(world: World, event: Press, now: datetime) -> Step:
    """The joiner said yes: they wait, and the inviter is asked whether this is their partner."""
    if known(world.me).phase is not Phase.JOINING:
        return world, [Toast("press.stale")]
    refusal = _why_invite_unusable(world, now)
    if refusal:
        world = replace(world, me=replace(known(world.me), phase=Phase.CHOOSING_ROLE, invite_token=None))
        return world, [Say("self", refusal, {"partner": _inviter_name(world)})]
    sender = event.sender
    invite = replace(
        known(world.invite), joiner_id=sender.user_id, joiner_name=sender.full_name, joiner_username=sender.username
    )
    world, asked = _ask_about_joiner(replace(world, invite=invite), "partner")
    return world, [
        Say("self", "join.waiting", {"partner": known(world.partner).first_name}),
        *asked,
        Schedule("self", "join", invite.created_at + INVITE_LIFETIME),  # the wait ends with the link
    ]


def _ask_about_joiner(world: World, to: Recipient) -> Step:
    invite = known(world.invite)
    return _ask(world, to, "joiner", "join.ask", {"name": invite.joiner_name, "username": invite.joiner_username})


def _open_invite(world: World) -> bool:
    """Whether the inviter's own link is loaded and not yet used or voided."""
    invite = world.invite
    return invite is not None and invite.token == known(world.me).invite_token and invite.used_at is None


def _inviting(world: World) -> Step:
    """An inviter asked again: the open question about who joined, or their link."""
    if _open_invite(world) and known(world.invite).joiner_id is not None:
        return _ask_about_joiner(world, "self")
    return world, [Say("self", "status.inviting", {"token": known(world.me).invite_token})]


def _answer_joiner(world: World, is_partner: bool, nonce: str, now: datetime) -> Step:
    """The inviter says whether who opened their link is their partner; only a yes links them."""
    me, joiner = known(world.me), world.partner
    if me.phase is not Phase.INVITING or not _open_invite(world):
        return world, [Toast("press.stale")]
    invite = known(world.invite)
    if (
        invite.joiner_id is None
        or joiner is None
        or joiner.user_id != invite.joiner_id
        or joiner.phase is not Phase.JOINING
        or joiner.invite_token != invite.token
    ):
        return _renew_invite(world, nonce, now, "join.gone")  # they left, or erased their data, meanwhile
    if now - invite.created_at > INVITE_LIFETIME:
        world, effects = _renew_invite(world, nonce, now, "invite.renewed")
        return _release_joiner(world, "join.wait_over", effects)
    if not is_partner:
        world, effects = _renew_invite(world, nonce, now, "join.refused_inviter")
        return _release_joiner(world, "join.refused", effects)
    couple = Couple(id=nonce, member_ids=(me.user_id, joiner.user_id), started_at=now)
    world = World(
        me=replace(me, phase=Phase.LINKED, couple_id=couple.id, invite_token=None),
        partner=replace(
            joiner,
            phase=Phase.LINKED,
            couple_id=couple.id,
            invite_token=None,
            role=invite.inviter_role.other,
            asking=None,
        ),
        couple=couple,
        invite=replace(invite, used_at=now),
    )
    world, setup = daily.after_linking(world, now)
    return world, [
        Say("self", "linked", {"partner": joiner.first_name}),
        Say("partner", "linked", {"partner": me.first_name}),
        *setup,
    ]


def _renew_invite(world: World, nonce: str, now: datetime, key: str) -> Step:
    """Void the inviter's link (forgetting who opened it) and give them a fresh one at once."""
    me, old = known(world.me), known(world.invite)
    fresh = Invite(token=nonce, inviter_id=me.user_id, inviter_role=old.inviter_role, created_at=now)
    voided = replace(old, used_at=old.used_at or now, joiner_id=None, joiner_name="", joiner_username="")
    world = replace(world, me=replace(me, invite_token=fresh.token, asking=None), invite=fresh, voided=voided)
    return world, [Say("self", key), Say("self", "invite.forward", {"name": me.first_name, "token": fresh.token})]


def _release_joiner(world: World, key: str, effects: list[Effect]) -> Step:
    """The one who waited is told, kindly and no more, that the link cannot be used."""
    partner = replace(known(world.partner), phase=Phase.CHOOSING_ROLE, invite_token=None, asking=None)
    return replace(world, partner=partner), [*effects, Say("partner", key)]


def _join_wait_over(world: World, now: datetime) -> Step:
    """The link ran out while its joiner waited: both hear it, and nobody is linked."""
    me, invite = known(world.me), world.invite
    if (
        me.phase is not Phase.JOINING
        or invite is None
        or invite.joiner_id != me.user_id
        or invite.used_at is not None
        or now - invite.created_at <= INVITE_LIFETIME
    ):
        return world, []
    invite = replace(invite, joiner_id=None, joiner_name="", joiner_username="")
    world = replace(world, me=replace(me, phase=Phase.CHOOSING_ROLE, invite_token=None, asking=None), invite=invite)
    effects: list[Effect] = [Say("self", "join.wait_over")]
    inviter = world.partner
    if inviter is not None and inviter.phase is Phase.INVITING and inviter.invite_token == invite.token:
        if inviter.asking == "joiner":
            world = replace(world, partner=replace(inviter, asking=None))
        effects.append(Say("partner", "invite.expired"))
    return world, effects


def _decline_join(world: World) -> Step:
    world = replace(world, me=replace(known(world.me), phase=Phase.CHOOSING_ROLE, invite_token=None))
    return world, [Say("self", "join.declined", {"partner": _inviter_name(world)})]


def _leave(world: World, now: datetime) -> Step:
    if known(world.me).phase is not Phase.LINKED:
        return world, [Toast("press.stale")]
    world = replace(
        world,
        me=replace(known(world.me), phase=Phase.CHOOSING_ROLE, role=None, couple_id=None, invite_token=None),
        partner=replace(
            known(world.partner), phase=Phase.CHOOSING_ROLE, role=None, couple_id=None, invite_token=None, asking=None
        ),
        couple=replace(known(world.couple), ended_at=now),
    )
    return world, [
        Say("self", "leave.done", {"partner": known(world.partner).first_name}),
        Say("partner", "leave.partner_left", {"partner": known(world.me).first_name}),
    ]


def _set_language(world: World, language: str, now: datetime) -> Step:
    world = replace(world, me=replace(known(world.me), language=language))
    world, effects = _resume(world, now)
    return world, [Say("self", "language.set"), *effects]


# Commands ----------------------------------------------------------------------------


def _on_command(world: World, event: Command, now: datetime) -> Step:
    me = replace(known(world.me), awaiting=None)  # a command cancels a question left open
    world = replace(world, me=me)
    match event.name:
        case "help":
            return world, [Say("self", "help", _help(me))]
        case "export":
            return world, [Export(), Say("self", "export.sent")]
        case "delete":
            return _ask(world, "self", "delete", "delete.confirm")
        case "language":
            return _ask(world, "self", "language", "language.choose")
        case "menu" if me.phase is Phase.LINKED:
            return programme.menu(world, now)
        case "pause" if me.phase is Phase.LINKED and known(world.couple).run:
            return programme.pause(world)
        case "pause" if me.phase is Phase.LINKED:
            return daily.pause_days(world)
        case "settings" if me.phase not in (Phase.NEW, Phase.SCREENING):
            return daily.settings(world)
        case "progress" if me.phase is Phase.LINKED:
            return daily.progress(world)
        case "leave" if me.phase is Phase.LINKED:
            return _ask(world, "self", "leave", "leave.confirm", {"partner": known(world.partner).first_name})
        case "country":
            return _ask(world, "self", "country", "country.choose")
        case "menu" | "leave" | "pause" | "progress" | "settings":
            world, effects = _resume(world, now)
            return world, [Say("self", f"{event.name}.not_linked"), *effects]
    world, effects = _resume(world, now)
    return world, [Say("self", "command.unknown"), *effects]


# Free text and everything else -------------------------------------------------------


def _on_text(world: World, event: Text, now: datetime) -> Step:
    me = known(world.me)
    if crisis.has_signals(event.text):
        return _crisis(world, event.text, event.nonce)
    if me.awaiting and not daily.takes_as_time(me.awaiting, event.text):
        world = replace(world, me=replace(me, awaiting=None))  # a message, not the check-in time asked for
        me = known(world.me)
    if me.awaiting:
        return daily.on_awaited_text(world, event.text, now)
    if me.phase is Phase.LINKED:
        return programme.on_text(world, event.text, now, event.nonce)
    if me.phase is Phase.NEW:
        return world, [Say("self", "stranger")]
    world, effects = _resume(world, now)
    return world, [Say("self", "text.not_carried"), *effects]


def _on_edited(world: World, event: Edited) -> Step:
    me = known(world.me)
    if crisis.has_signals(event.text):
        return _crisis(world, event.text, event.nonce)
    if me.phase is Phase.LINKED and known(world.couple).run:
        return programme.on_edit(world, event.text, event.nonce)
    if me.phase is Phase.LINKED:
        partner = known(world.partner).first_name
        return world, [
            Say("partner", "partner.edited", {"partner": me.first_name, "text": event.text}),
            Say("self", "edit.passed_on", {"partner": partner}),
        ]
    return world, [Say("self", "edit.not_passed_on")]


def _on_unreachable(world: World) -> Step:
    """Messages cannot reach `me` now (they blocked the bot): a linked partner hears it once, kindly."""
    me = world.me
    if me is None or me.phase is not Phase.LINKED or world.partner is None:
        return world, []
    return world, [Say("partner", "partner.unreachable", {"partner": me.first_name})]


def _on_unsupported(world: World) -> Step:
    me = known(world.me)
    if me.phase is Phase.LINKED:
        return world, [Say("self", "only_text.linked", {"partner": known(world.partner).first_name})]
    return world, [Say("self", "only_text")]


# Crisis signals, export and erasure ------------------------------------------------------


def _crisis(world: World, text: str, entry: str) -> Step:
    """Help lines first. A linked writer's text is kept, theirs alone, and they decide whether it goes on."""
    me = known(world.me)
    if me.phase is not Phase.LINKED:
        return world, [Say("self", "crisis.alone", _help(me))]
    couple = replace(known(world.couple), unsent=(*known(world.couple).unsent, Held(me.user_id, text, entry)))
    world = replace(world, couple=couple)
    world, effects = _ask(
        world, "self", "crisis", "crisis.linked", _help(me) | {"partner": known(world.partner).first_name}
    )
    return world, [Record(me.user_id, text, couple.run.name if couple.run else None, entry), *effects]


def _decide_unsent(world: World, choice: str, now: datetime) -> Step:
    me = known(world.me)
    mine = [h for h in known(world.couple).unsent if h.author_id == me.user_id] if me.phase is Phase.LINKED else []
    if not mine:
        return world, [Toast("press.stale")]
    held = mine[0]
    couple = replace(known(world.couple), unsent=tuple(h for h in known(world.couple).unsent if h is not held))
    world = replace(world, couple=couple)
    if choice == "keep_it":
        return world, [Say("self", "crisis.kept", {"partner": known(world.partner).first_name})]
    # Its entry is in the journal already: a Record of it again only marks it held, if it is held now.
    return programme.on_text(world, held.text, now, held.entry)


def _erase(world: World, now: datetime) -> Step:
    """Dissolve the couple if there is one; the shell then erases every row about this person."""
    effects: list[Effect] = []
    if known(world.me).phase is Phase.LINKED:
        world, _ = _leave(world, now)
        world = replace(world, couple=replace(known(world.couple), unsent=(), held=(), choosing=(), run=None))
        effects.append(Say("partner", "delete.partner_told"))
    return world, [*effects, Erase(), Say("self", "delete.done")]


# Helpers -----------------------------------------------------------------------------


def _resume(world: World, now: datetime) -> Step:
    """Ask again what the current phase waits for, so nobody is left without a next step."""
    me = known(world.me)
    match me.phase:
        case Phase.NEW:
            return world, [Say("self", "stranger")]
        case Phase.SCREENING if me.country is None:
            return _ask(world, "self", "country", "country.choose")
        case Phase.SCREENING:
            return _ask(world, "self", "screen", f"screen.q{me.screened + 1}", {"number": me.screened + 1})
        case Phase.NOT_SAFE:
            return _ask(world, "self", "rescreen", "safety.still_not_safe", _help(me))
        case Phase.CHOOSING_ROLE:
            return _ask(world, "self", "role", "role.choose")
        case Phase.INVITING:
            return _inviting(world)
        case Phase.JOINING:
            return _offer_join(world, now)
        case Phase.LINKED:
            return world, [Say("self", "status.linked", {"partner": known(world.partner).first_name})]
        case Phase.THERAPIST:
            return therapist.resume(world)
    raise AssertionError(f"unhandled phase {me.phase}")


def _ask(world: World, to: Recipient, question: str, key: str, vars: dict[str, object] | None = None) -> Step:
    """Send a message with a fresh button menu; only the newest menu's buttons count."""
    slot = "me" if to == "self" else "partner"
    person: Person = getattr(world, slot)
    menu = person.menu + 1
    buttons = tuple((Button(f"button.{choice}", f"{menu}:{choice}"),) for choice in QUESTIONS[question])
    asked = replace(person, menu=menu, asking=question)
    world = replace(world, me=asked) if slot == "me" else replace(world, partner=asked)
    return world, [Say(to, key, vars or {}, buttons)]
