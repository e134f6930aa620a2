"""A couple's own therapist in their thread: asked for by a partner, allowed by both. Pure.

The flow, and who may do what:

1. A linked partner sends /therapist and gets a one-time link (t.me/<bot>?start=th_<token>) to
   pass on, outside Telegram. The other partner is told a link was made.
2. Whoever opens it first (never one of the couple's partners, never someone linked as a partner)
   is bound to it and becomes a therapist: name, practice, optionally a register number. The
   safety screen is for partners and is not asked.
3. Both partners get the same consent request, with the Telegram account that opened the link
   beside the details the therapist typed (buttons `care:<care id>:allow|refuse|not_ours`, tied to
   this request, not to a menu, so exercise menus never make them stale). The therapist joins
   when both allowed; one refusal closes it, and the therapist hears only that the couple did
   not confirm. "Not our therapist" (either partner, even after allowing) closes it the same way
   and asks the partner who made the link to check with their therapist. Requests expire 7 days
   after the link was made, or after the partners were asked. Until both allowed, no message to the therapist names the couple.
4. Joining asks each partner, separately, whether what they wrote before may be shared
   (`care:<id>:share_history|keep_history`); only if both agree the shell sends it as a file.
5. From joining on, `after_step` passes on to the therapist what the partners receive in the
   exercises (RELAY, a table of template keys), labelled with the couple's names.
6. The therapist writes to both partners, suggests exercises (/menu), picks a couple (/couples),
   looks at /progress, and can stop following a couple (/leave). They never take part in a turn:
   nothing they send reaches the exercise interpreter.
7. Either partner removes the therapist alone (/therapist, then remove). When a couple's link
   ends, its care ends too. Nothing flows after either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from dialogues.exercises import PROGRAMME
from dialogues.model import (
    Button,
    Care,
    CareStatus,
    Command,
    Effect,
    Event,
    Phase,
    Press,
    Record,
    Say,
    Sender,
    ShareHistory,
    Start,
    Text,
    Toast,
    World,
    known,
)

Outcome = tuple[World, list[Effect]]

LIFETIME = timedelta(days=7)  # of a link not yet opened, and of a consent request
LINK_PREFIX = "th_"  # a Start payload that is a therapist link
PRESS_PREFIX = "care:"  # consent buttons: care:<care id>:<choice>
LIMITS = {"name": 80, "practice": 120, "register": 40}
LIVE = (CareStatus.REQUESTED, CareStatus.ACTIVE)

# What the engine keeps answering for a therapist too: help, language, country, a copy, erasure.
ENGINE_COMMANDS = ("help", "language", "country", "export", "delete")
ENGINE_QUESTIONS = ("language", "country", "delete")
# Button menus of this flow (numbered per person, like the engine's): question -> choices.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "care": ("cancel_request", "remove_therapist", "keep_therapist"),  # a partner's /therapist
    "register": ("skip",),
    "suggest": tuple(exercise.name for exercise in PROGRAMME),
    "care_leave": ("leave_couple", "keep_following"),
    "couples": (),  # a couple's id, checked against the couples this therapist follows
}
CONSENT_CHOICES = ("allow", "refuse", "not_ours", "share_history", "keep_history")


@dataclass(frozen=True)
class Relay:
    """How one message the partners receive is passed on to their therapist."""

    key: str  # the therapist's template; it gets the message's own vars, plus couple, actor, exercise
    side: str | None = None  # "self" for messages both partners get: pass on one copy; None: any
    prompt: bool = False  # a turn's prompt: sent again when a paused exercise resumes, passed on once
    in_exercise: bool = False  # only during an exercise (free messages stay between the partners)


# Template keys of what partners receive, as the therapist gets them. `partner` in their vars is
# the partner who wrote or did it; `actor` is whoever caused the event. Add a line to pass more on.
RELAY: dict[str, Relay] = {
    "partner.says": Relay("therapist.relay.says", in_exercise=True),
    "ex.naming.read": Relay("therapist.relay.named", prompt=True),
    "ex.confirm": Relay("therapist.relay.mirrored", prompt=True),
    "ex.questions.answer": Relay("therapist.relay.asked", prompt=True),
    "questions.answered": Relay("therapist.relay.answered"),
    "ex.safety.share.reveal": Relay("therapist.relay.revealed", side="self"),
    "ex.appreciation.value.reveal": Relay("therapist.relay.revealed", side="self"),
    "ex.plan.propose.reveal": Relay("therapist.relay.revealed", side="self"),
    "ex.plan.agree.done": Relay("therapist.relay.agreed", side="self"),
    "checkin.reveal": Relay("therapist.relay.checkin", side="self"),
    "exercise.read": Relay("therapist.relay.read"),
    "exercise.heard": Relay("therapist.relay.heard"),
    "exercise.not_quite": Relay("therapist.relay.not_quite"),
    # The course of an exercise, without content.
    "exercise.partner_begins": Relay("therapist.relay.began"),
    "exercise.done": Relay("therapist.relay.done", side="self"),
    "exercise.partner_stopped": Relay("therapist.relay.stopped"),
    "exercise.partner_paused": Relay("therapist.relay.paused"),
    "exercise.partner_resumed": Relay("therapist.relay.resumed"),
}


# Entry points, called by the engine ------------------------------------------------------


def owns(question: str | None) -> bool:
    return question in QUESTIONS


def concerns(world: World, event: Event) -> bool:
    """Whether this module answers the event (the engine asks before anything else)."""
    me = known(world.me)
    if me.phase is Phase.THERAPIST:
        match event:
            case Start() | Text():
                return True
            case Command():
                return event.name not in ENGINE_COMMANDS
            case Press():  # everything but the engine's own menus (language, country, delete)
                return not (me.asking in ENGINE_QUESTIONS and _menu_shaped(event.data))
        return False
    match event:
        case Start():
            return (event.payload or "").startswith(LINK_PREFIX)
        case Command():
            return event.name in ("therapist", "couples")
        case Press():  # consent buttons, and presses on a menu of this flow (not check-in buttons)
            return event.data.startswith(PRESS_PREFIX) or (owns(me.asking) and _menu_shaped(event.data))
    return False


def _menu_shaped(data: str) -> bool:
    return data.partition(":")[0].isdigit()


def on_event(world: World, event: Event, now: datetime) -> Outcome:
    me = known(world.me)
    if isinstance(event, Start) and event.payload and event.payload.startswith(LINK_PREFIX):
        return _open_link(world, event.payload.removeprefix(LINK_PREFIX), event.sender, now)
    if isinstance(event, Press) and event.data.startswith(PRESS_PREFIX):
        return _consent_press(world, event.data, now)
    if me.phase is Phase.THERAPIST:
        match event:
            case Start():
                return _refused(world, "partner_link") if event.payload else resume(world)
            case Text():
                return _therapist_text(world, event.text, now, event.nonce)
            case Command():
                return _therapist_command(world, event.name)
            case Press():
                return _therapist_press(world, event.data, now)
    match event:
        case Command(name="therapist"):
            return _partner_therapist(world, event.nonce, now)
        case Command():
            return world, [Say("self", "therapist.only_therapists")]
        case Press():
            return _partner_press(world, event.data, now)
    raise AssertionError(f"not a therapist event: {type(event).__name__}")


def resume(world: World) -> Outcome:
    """What a therapist waits for now: the next detail of a request, or an overview."""
    if _in_intake(world):
        return _intake_prompt(world)
    return world, [_status(world)]


def after_step(before: World, after: World, effects: list[Effect], now: datetime) -> Outcome:
    """After any partner's event: close the care if the couple's link ended, let a request
    expire, and pass on to an active therapist what the partners received."""
    me, care = after.me, after.care
    if me is None or me.phase is Phase.THERAPIST or care is None or care.status not in LIVE:
        return after, effects
    if after.couple is None or after.couple.id != care.couple_id:
        return after, effects
    if after.couple.ended_at is not None:
        after, told = _close(after, CareStatus.ENDED, now)
        return after, effects + told
    if _expired(care, now):
        after, told = _expire(after, now)
        return after, effects + told
    was = before.care
    if care.status is CareStatus.ACTIVE and was is not None and was.id == care.id and was.status is CareStatus.ACTIVE:
        return after, effects + _relays(before, after, effects)
    return after, effects


def label(names: Iterable[str]) -> str:
    return " & ".join(names)


# Passing on -------------------------------------------------------------------------------


def _relays(before: World, after: World, effects: list[Effect]) -> list[Effect]:
    if after.therapist is None or known(after.me).phase is not Phase.LINKED:
        return []
    resumed = any(isinstance(e, Say) and e.key == "exercise.resumed" for e in effects)
    old = before.couple.run if before.couple else None
    run = old or known(after.couple).run
    base = {"couple": _couple_label(after), "actor": known(after.me).first_name, "exercise": run.name if run else ""}
    relayed: list[Effect] = []
    for effect in effects:
        if not isinstance(effect, Say):
            continue
        relay = RELAY.get(effect.key)
        if relay is None or effect.to not in ("self", "partner"):
            continue
        if (
            (relay.side and effect.to != relay.side)
            or (relay.prompt and resumed)
            or (relay.in_exercise and old is None)
        ):
            continue
        relayed.append(Say("therapist", relay.key, {**base, **effect.vars}, entries=effect.entries))
    return relayed


# A partner's side ---------------------------------------------------------------------------


def _partner_therapist(world: World, nonce: str, now: datetime) -> Outcome:
    me = known(world.me)
    if me.phase is not Phase.LINKED or world.couple is None:
        return world, [Say("self", "consent.not_linked")]
    effects: list[Effect] = []
    care = world.care
    if care is not None and care.status is CareStatus.REQUESTED and _expired(care, now):
        world, effects = _expire(world, now)  # saved now; the next /therapist makes a new link
        return world, [*effects, Say("self", "consent.expired")]
    if care is None or care.status not in LIVE:
        return _make_link(world, nonce, now, effects)
    therapist = _shown(care)
    if care.status is CareStatus.ACTIVE:
        world, status = _ask(
            world,
            "care",
            ("remove_therapist", "keep_therapist"),
            "consent.status",
            therapist | {"partner": known(world.partner).first_name},
        )
        effects += status
        if care.history is None and me.user_id not in care.history_by:
            effects.append(
                Say("self", "consent.history", therapist, _consent_buttons(care, "share_history", "keep_history"))
            )
        return world, effects
    if care.asked_at is None:
        world, status = _ask(
            world,
            "care",
            ("cancel_request",),
            "consent.link_open",
            {"token": LINK_PREFIX + care.token, "opened": care.therapist_id is not None},
        )
        return world, effects + status
    if me.user_id not in care.allowed_by:
        return world, effects + [_request(world, care)]
    world, status = _ask(
        world, "care", ("cancel_request",), "consent.waiting", therapist | {"partner": known(world.partner).first_name}
    )
    return world, effects + status


def _make_link(world: World, nonce: str, now: datetime, effects: list[Effect]) -> Outcome:
    me = known(world.me)
    care = Care(
        id=_care_id(nonce), token=nonce, couple_id=known(world.couple).id, requested_by=me.user_id, created_at=now
    )
    world = replace(world, care=care)
    return world, effects + [
        Say("self", "consent.link", {"partner": known(world.partner).first_name}),
        Say("self", "consent.link_forward", {"name": me.first_name, "token": LINK_PREFIX + care.token}),
        Say("partner", "consent.link_partner", {"partner": me.first_name}),
    ]


def _partner_press(world: World, data: str, now: datetime) -> Outcome:
    """The menu /therapist shows a partner: withdraw a request, remove the therapist, or keep."""
    world, choice = _menu_choice(world, data)
    care = world.care
    if choice is None or care is None or known(world.me).phase is not Phase.LINKED:
        return world, [_stale()]
    match choice:
        case "cancel_request" if care.status is CareStatus.REQUESTED:
            return _withdraw(world, now)
        case "remove_therapist" if care.status is CareStatus.ACTIVE:
            return _remove(world, now)
        case "keep_therapist" if care.status is CareStatus.ACTIVE:
            return world, [Say("self", "consent.kept", _shown(care))]
    return world, [_stale()]


def _consent_press(world: World, data: str, now: datetime) -> Outcome:
    """A partner answers for themselves, and only on the request the button belongs to."""
    _, care_id, choice = (data.split(":", 2) + ["", ""])[:3]
    me, care = known(world.me), world.care
    if (
        me.phase is not Phase.LINKED
        or care is None
        or care.id != care_id
        or choice not in CONSENT_CHOICES
        or me.user_id not in known(world.couple).member_ids
    ):
        return world, [_stale()]
    if care.status is CareStatus.REQUESTED and _expired(care, now):
        world, told = _expire(world, now)
        return world, [*told, Say("self", "consent.expired")]
    if choice in ("allow", "refuse", "not_ours"):
        if care.status is not CareStatus.REQUESTED or care.asked_at is None:
            return world, [Say("self", "consent.closed")]
        if choice == "not_ours":  # even after allowing: who opened the link is not who they expected
            return _not_ours(world, now)
        if me.user_id in care.allowed_by:
            return world, [Toast("consent.answered")]
        if world.therapist is None or world.therapist.user_id != care.therapist_id:
            return world, [Say("self", "consent.closed")]
        return _allow(world, now) if choice == "allow" else _refuse(world, now)
    if care.status is not CareStatus.ACTIVE or care.history is not None:
        return world, [Say("self", "consent.closed")]
    if me.user_id in care.history_by:
        return world, [Toast("consent.answered")]
    return _share(world) if choice == "share_history" else _keep(world)


def _allow(world: World, now: datetime) -> Outcome:
    me, care = known(world.me), known(world.care)
    care = replace(care, allowed_by=(*care.allowed_by, me.user_id))
    world = replace(world, care=care)
    shown = _shown(care)
    if set(known(world.couple).member_ids) - set(care.allowed_by):
        return world, [Say("self", "consent.allowed", shown | {"partner": known(world.partner).first_name})]
    care = replace(care, status=CareStatus.ACTIVE, joined_at=now)
    therapist = known(world.therapist)
    current = therapist.couple_id is None
    if current:
        therapist = replace(therapist, couple_id=care.couple_id)
    world = replace(world, care=care, therapist=therapist)
    buttons = _consent_buttons(care, "share_history", "keep_history")
    return world, [
        Say("self", "consent.joined", shown | {"partner": known(world.partner).first_name}, buttons),
        Say("partner", "consent.joined", shown | {"partner": me.first_name}, buttons),
        Say("therapist", "therapist.joined", {"couple": _couple_label(world), "current": current}),
    ]


def _refuse(world: World, now: datetime) -> Outcome:
    care = known(world.care)
    world = replace(world, care=replace(care, status=CareStatus.DECLINED, ended_at=now))
    return world, [
        Say("self", "consent.you_declined", _shown(care)),
        Say("partner", "consent.declined", _shown(care)),
        *_tell_therapist(world, "therapist.not_confirmed"),
    ]


def _not_ours(world: World, now: datetime) -> Outcome:
    """A partner does not know the account that opened the link: closed for both, the link void.
    The partner who made the link is asked to check with their therapist; the therapist hears only
    that the couple did not confirm."""
    care, me = known(world.care), known(world.me)
    world = replace(world, care=replace(care, status=CareStatus.DECLINED, ended_at=now))
    world = _release_therapist(world, care)
    made_by_me = care.requested_by == me.user_id
    shown = _shown(care)
    return world, [
        Say("self", "consent.not_ours", shown | {"made_link": made_by_me, "partner": known(world.partner).first_name}),
        Say("partner", "consent.not_ours_partner", shown | {"made_link": not made_by_me}),
        *_tell_therapist(world, "therapist.not_confirmed"),
    ]


def _share(world: World) -> Outcome:
    me, care = known(world.me), known(world.care)
    care = replace(care, history_by=(*care.history_by, me.user_id))
    world = replace(world, care=care)
    if set(known(world.couple).member_ids) - set(care.history_by):
        return world, [Say("self", "consent.history_wait", _shown(care) | {"partner": known(world.partner).first_name})]
    world = replace(world, care=replace(care, history="shared"))
    couple = _couple_label(world)
    return world, [
        Say("self", "consent.history_shared", _shown(care)),
        Say("partner", "consent.history_shared", _shown(care)),
        ShareHistory(until=known(care.joined_at), couple=couple),
    ]


def _keep(world: World) -> Outcome:
    care = replace(known(world.care), history="kept")
    world = replace(world, care=care)
    return world, [
        Say("self", "consent.history_kept", _shown(care)),
        Say("partner", "consent.history_kept", _shown(care)),
        Say("therapist", "therapist.history_kept", {"couple": _couple_label(world)}),
    ]


def _withdraw(world: World, now: datetime) -> Outcome:
    care = known(world.care)
    asked = care.asked_at is not None
    world, told = _close(world, CareStatus.REMOVED, now)
    effects = [Say("self", "consent.cancelled", {"asked": asked} | _shown(care))]
    if asked:
        effects.append(
            Say("partner", "consent.cancelled_partner", _shown(care) | {"partner": known(world.me).first_name})
        )
    return world, effects + told


def _remove(world: World, now: datetime) -> Outcome:
    care = known(world.care)
    world, told = _close(world, CareStatus.REMOVED, now)
    return world, [
        Say("self", "consent.removed", _shown(care)),
        Say("partner", "consent.removed_partner", _shown(care) | {"partner": known(world.me).first_name}),
        *told,
    ]


def _close(world: World, status: CareStatus, now: datetime) -> Outcome:
    """End a live care from a partner's side; the therapist hears it neutrally, never from whom."""
    care = known(world.care)
    was_active = care.status is CareStatus.ACTIVE
    world = replace(world, care=replace(care, status=status, ended_at=now))
    world = _release_therapist(world, care)
    if was_active:
        key = "therapist.ended" if status is CareStatus.ENDED else "therapist.removed"
        return world, _tell_therapist(world, key, {"couple": _couple_label(world)})
    return world, _tell_therapist(world, "therapist.not_confirmed")


def _expire(world: World, now: datetime) -> Outcome:
    care = known(world.care)
    world = replace(world, care=replace(care, status=CareStatus.EXPIRED, ended_at=now))
    world = _release_therapist(world, care)
    return world, _tell_therapist(world, "therapist.not_confirmed")


def _release_therapist(world: World, care: Care) -> World:
    """The therapist no longer talks to this couple, nor fills in this request."""
    therapist = world.therapist
    if therapist is None:
        return world
    if therapist.couple_id == care.couple_id:
        therapist = replace(therapist, couple_id=None)
    if therapist.invite_token == LINK_PREFIX + care.token:
        therapist = replace(therapist, invite_token=None, asking=None)
    return replace(world, therapist=therapist)


def _tell_therapist(world: World, key: str, vars: dict[str, object] | None = None) -> list[Effect]:
    care = known(world.care)
    if world.therapist is None or care.therapist_id != world.therapist.user_id:
        return []
    return [Say("therapist", key, vars or {})]


def _request(world: World, care: Care) -> Say:
    """The consent request, the same for both partners."""
    asker = _name(world, care.requested_by)
    return Say(
        "couple" if known(world.me).phase is Phase.THERAPIST else "self",
        "consent.request",
        _shown(care) | {"asker": asker, "account": care.account_name, "username": care.account_username},
        _consent_buttons(care, "allow", "refuse", "not_ours"),
    )


def _consent_buttons(care: Care, *choices: str) -> tuple[tuple[Button, ...], ...]:
    return tuple((Button(f"button.{choice}", f"{PRESS_PREFIX}{care.id}:{choice}"),) for choice in choices)


# Opening a link, and the therapist's details ------------------------------------------------


def _open_link(world: World, token: str, opener: Sender, now: datetime) -> Outcome:
    me, care, couple = known(world.me), world.care, world.couple
    if care is None or couple is None or care.token != token:
        return _refused(world, "unknown")
    if me.user_id in couple.member_ids:
        return _refused(world, "own")
    if me.phase in (Phase.LINKED, Phase.INVITING, Phase.JOINING):
        return _refused(world, "partner")
    if care.therapist_id not in (None, me.user_id):
        return _refused(world, "used")
    if care.status is CareStatus.EXPIRED or (care.status is CareStatus.REQUESTED and _expired(care, now)):
        if care.status is CareStatus.REQUESTED:
            world = replace(world, care=replace(care, status=CareStatus.EXPIRED, ended_at=now))
        return _refused(world, "expired")
    if care.status is not CareStatus.REQUESTED or couple.ended_at is not None:
        return _refused(world, "used" if care.therapist_id is None else "closed")
    if care.asked_at is not None:
        return world, [Say("self", "therapist.waiting")]
    care = replace(care, therapist_id=me.user_id, account_name=opener.full_name, account_username=opener.username)
    me = replace(me, phase=Phase.THERAPIST, role=None, invite_token=LINK_PREFIX + care.token, asking=None)
    return _intake_prompt(replace(world, me=me, care=care))


def _refused(world: World, reason: str) -> Outcome:
    me = known(world.me)
    effects: list[Effect] = [Say("self", "therapist.link_refused", {"reason": reason})]
    if (
        me.phase is Phase.THERAPIST
        and reason != "partner_link"
        and me.invite_token
        and world.care
        and me.invite_token == LINK_PREFIX + world.care.token
    ):
        world = replace(world, me=replace(me, invite_token=None, asking=None))
    return world, effects


def _in_intake(world: World) -> bool:
    me, care = known(world.me), world.care
    return bool(me.invite_token) and care is not None and me.invite_token == LINK_PREFIX + care.token


def _intake_prompt(world: World) -> Outcome:
    care = known(world.care)
    if care.name is None:
        return world, [Say("self", "therapist.welcome")]
    if care.practice is None:
        return world, [Say("self", "therapist.ask_practice", {"therapist": care.name})]
    return _ask(world, "register", ("skip",), "therapist.ask_register")


def _intake_text(world: World, text: str, now: datetime) -> Outcome:
    care, couple = known(world.care), world.couple
    if (
        care.status is not CareStatus.REQUESTED
        or couple is None
        or couple.ended_at is not None
        or care.therapist_id != known(world.me).user_id
    ):
        world = replace(world, me=replace(known(world.me), invite_token=None, asking=None))
        return world, [Say("self", "therapist.not_confirmed")]
    if _expired(care, now):
        world = replace(world, care=replace(care, status=CareStatus.EXPIRED, ended_at=now))
        world = replace(world, me=replace(known(world.me), invite_token=None, asking=None))
        return world, [Say("self", "therapist.link_refused", {"reason": "expired"})]
    field = "name" if care.name is None else "practice" if care.practice is None else "register"
    value = " ".join(text.split())[: LIMITS[field]]
    if not value:
        return _intake_prompt(world)
    if field == "name":
        care = replace(care, name=value)
    elif field == "practice":
        care = replace(care, practice=value)
    else:
        care = replace(care, register=value)
    world = replace(world, care=care)
    if field != "register":
        return _intake_prompt(world)
    return _ask_consent(world, now)


def _ask_consent(world: World, now: datetime) -> Outcome:
    care = replace(known(world.care), asked_at=now)
    me = replace(known(world.me), invite_token=None, asking=None)
    world = replace(world, me=me, care=care)
    return world, [Say("self", "therapist.asked", _shown(care)), _request(world, care)]


# The therapist's side -----------------------------------------------------------------------


def _therapist_text(world: World, text: str, now: datetime, entry: str = "") -> Outcome:
    if _in_intake(world):
        return _intake_text(world, text, now)
    if not _talking(world):
        return _choose(world)
    me, care = known(world.me), known(world.care)
    return world, [
        Record(me.user_id, text, entry=entry),
        Say(
            "couple",
            "consent.from_therapist",
            {"therapist": care.name, "text": text},
            entries=(entry,) if entry else (),
        ),
        Say("self", "therapist.sent", {"couple": _couple_label(world)}),
    ]


def _therapist_command(world: World, name: str) -> Outcome:
    if _in_intake(world) and name in ("menu", "leave", "progress", "couples"):
        world, effects = _intake_prompt(world)
        return world, [Say("self", "therapist.details_first"), *effects]
    match name:
        case "therapist":
            return resume(world)
        case "couples":
            return _couples(world)
        case "menu" if _talking(world):
            vars: dict[str, object] = {"couple": _couple_label(world)}
            return _ask(world, "suggest", QUESTIONS["suggest"], "therapist.suggest", vars, "button.suggest")
        case "progress" if _talking(world):
            return _progress(world)
        case "leave" if _talking(world):
            return _ask(
                world,
                "care_leave",
                QUESTIONS["care_leave"],
                "therapist.leave_confirm",
                {"couple": _couple_label(world)},
            )
        case "menu" | "progress" | "leave":
            return _choose(world)
        case "pause" | "settings":
            return world, [Say("self", "therapist.partners_only")]
    world, effects = resume(world)
    return world, [Say("self", "command.unknown"), *effects]


def _therapist_press(world: World, data: str, now: datetime) -> Outcome:
    question = known(world.me).asking
    world, choice = _menu_choice(world, data)
    if choice is None:
        return world, [_stale()]
    if question == "register":
        return _ask_consent(world, now) if _in_intake(world) else (world, [_stale()])
    if question == "couples":
        return _pick(world, choice)
    if not _talking(world):
        return _choose(world)
    care, couple = known(world.care), _couple_label(world)
    if question == "suggest":  # a suggestion also opens the exercise for the partner who damaged the trust
        world = replace(
            world,
            couple=replace(known(world.couple), opened=tuple(dict.fromkeys((*known(world.couple).opened, choice)))),
        )
        return world, [
            Say("couple", "consent.suggestion", {"therapist": care.name, "exercise": choice}),
            Say("self", "therapist.suggested", {"couple": couple, "exercise": choice}),
        ]
    if choice == "keep_following":
        return world, [Say("self", "therapist.stayed", {"couple": couple})]
    world = replace(
        world, care=replace(care, status=CareStatus.LEFT, ended_at=now), me=replace(known(world.me), couple_id=None)
    )
    return world, [
        Say("couple", "consent.therapist_left", {"therapist": care.name}),
        Say("self", "therapist.left", {"couple": couple}),
    ]


def _couples(world: World) -> Outcome:
    followed = world.followed
    if not followed:
        return world, [Say("self", "therapist.no_couples")]
    current = next((label(f.names) for f in followed if f.couple_id == known(world.me).couple_id), "")
    menu = known(world.me).menu + 1
    buttons = tuple((Button("button.couple", f"{menu}:{f.couple_id}", {"names": label(f.names)}),) for f in followed)
    world = replace(world, me=replace(known(world.me), menu=menu, asking="couples"))
    return world, [Say("self", "therapist.couples", {"couple": current, "count": len(followed)}, buttons)]


def _pick(world: World, couple_id: str) -> Outcome:
    chosen = next((f for f in world.followed if f.couple_id == couple_id), None)
    if chosen is None:
        return world, [_stale()]
    world = replace(world, me=replace(known(world.me), couple_id=couple_id))
    return world, [Say("self", "therapist.talking_to", {"couple": label(chosen.names)})]


def _choose(world: World) -> Outcome:
    me = known(world.me)
    if me.couple_id is not None and not _talking(world):
        world = replace(world, me=replace(me, couple_id=None))
    world, effects = _couples(world)
    return world, [Say("self", "therapist.choose"), *effects] if world.followed else effects


def _progress(world: World) -> Outcome:
    """Hook for /progress: for now the exercises the couple finished. A later issue gives the
    therapist the same progress picture the partners get (daily.progress, the Progress effect)."""
    return world, [
        Say("self", "therapist.progress", {"couple": _couple_label(world), "done": list(known(world.couple).done)})
    ]


def _status(world: World) -> Say:
    current = _couple_label(world) if _talking(world) else ""
    return Say("self", "therapist.status", {"couple": current, "count": len(world.followed)})


def _talking(world: World) -> bool:
    """Whether the therapist has a current couple that still allows them in."""
    me, care, couple = known(world.me), world.care, world.couple
    return (
        me.couple_id is not None
        and care is not None
        and couple is not None
        and care.status is CareStatus.ACTIVE
        and care.therapist_id == me.user_id
        and care.couple_id == me.couple_id == couple.id
        and couple.ended_at is None
        and len(world.members) == 2
    )


# Helpers -----------------------------------------------------------------------------------


def _ask(
    world: World,
    question: str,
    choices: tuple[str, ...],
    key: str,
    vars: dict[str, object] | None = None,
    label: str = "",
) -> Outcome:
    """A message to `me` with a fresh button menu; only the newest menu's buttons count.

    `label`: one label template for every choice (as {{ exercise }}), instead of each choice's own.
    """
    me = known(world.me)
    menu = me.menu + 1
    buttons = tuple(
        (Button(label or f"button.{choice}", f"{menu}:{choice}", {"exercise": choice} if label else {}),)
        for choice in choices
    )
    world = replace(world, me=replace(me, menu=menu, asking=question))
    return world, [Say("self", key, vars or {}, buttons)]


def _menu_choice(world: World, data: str) -> tuple[World, str | None]:
    """The choice of a press on `me`'s newest menu, or None for a stale or forged one."""
    me = known(world.me)
    menu, _, choice = data.partition(":")
    question = me.asking or ""
    if menu != str(me.menu) or not owns(question):
        return world, None
    if question != "couples" and choice not in QUESTIONS[question]:
        return world, None
    return replace(world, me=replace(me, asking=None)), choice


def _expired(care: Care, now: datetime) -> bool:
    return care.status is CareStatus.REQUESTED and now - (care.asked_at or care.created_at) > LIFETIME


def _shown(care: Care) -> dict[str, object]:
    """How the partners see their therapist: as they gave their details, nothing verified."""
    return {"therapist": care.name or "", "practice": care.practice or "", "register": care.register or ""}


def _care_id(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()[:12]


def _couple_label(world: World) -> str:
    return label(_name(world, member) for member in known(world.couple).member_ids)


def _name(world: World, user_id: int) -> str:
    for person in (world.me, world.partner, *world.members):
        if person is not None and person.user_id == user_id:
            return person.first_name
    return ""


def _stale() -> Effect:
    return Toast("press.stale")
