"""Each day, in each partner's own time: check-ins, nudges, reminders, settings and pauses. Pure.

Scheduled moments are `Schedule` effects; the shell stores them as rows and returns with a
`Due` event when one comes. Nothing here trusts that a Due is still wanted: each is checked
against the current state, so a stale or repeated one changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta

from dialogues import clock, programme
from dialogues.model import (
    Button,
    CheckIn,
    Couple,
    Due,
    Effect,
    Person,
    Phase,
    Progress,
    Recipient,
    Run,
    Say,
    Schedule,
    Toast,
    World,
    known,
)

Outcome = tuple[World, list[Effect]]
ZONES = {
    "nl": ("Europe/Amsterdam", "Europe/Brussels"),
    "en": ("Europe/London", "Europe/Dublin", "America/New_York", "America/Chicago", "America/Los_Angeles"),
}
DEFAULT_ZONE = {"nl": "Europe/Amsterdam", "en": "Europe/London"}
CHECKIN_TIMES = ("18:00", "19:00", "20:00", "21:00")
PAUSE_DAYS = ("1", "3", "7")
SCORES = ("1", "2", "3", "4", "5")  # a check-in's score, as its buttons carry it
LATE = timedelta(minutes=10)  # a check-in later than this was missed while the bot was down
CHOICES = {
    "zone": tuple(z for zones in ZONES.values() for z in zones) + ("other",),
    "checkin_time": CHECKIN_TIMES,
    "pause_days": PAUSE_DAYS,
    "settings": ("zone", "time", "country", "pause_checkins", "resume_checkins"),
    "word": ("no_word",),
}


# Setting up: time zone and check-in time ------------------------------------------------


def after_linking(world: World, now: datetime) -> Outcome:
    """Both partners choose their time zone; check-ins start at 20:00 in the zone they have."""
    effects: list[Effect] = []
    for slot in ("me", "partner"):
        world, asked = _ask_zone(world, slot, setting_up=True)
        effects += asked
        effects.append(_schedule_checkin(getattr(world, slot), "self" if slot == "me" else "partner", now))
    return world, effects


def _ask_zone(world: World, slot: str, setting_up: bool) -> Outcome:
    person: Person = getattr(world, slot)
    zones = ZONES[person.language]
    buttons = [Button("button.zone", f"?zone:{zone}", {"city": clock.city(zone)}) for zone in zones]
    buttons.append(Button("button.zone_other", "?zone:other"))
    key = "zone.choose_first" if setting_up else "zone.choose"
    return _menu(world, slot, key, {"zone": clock.city(person.time_zone)}, buttons)


def _menu(world: World, slot: str, key: str, vars: dict[str, object], buttons: list[Button]) -> Outcome:
    effects: list[Effect] = [Say("self" if slot == "me" else "partner", key, vars, tuple((b,) for b in buttons))]
    return programme._with_menus(world, effects), effects


def _set_zone(world: World, zone: str, now: datetime) -> Outcome:
    me = replace(known(world.me), time_zone=zone, awaiting="time")  # a time typed next is taken too
    world = replace(world, me=me)
    buttons = [Button("button.at", f"?checkin_time:{at}", {"at": at}) for at in CHECKIN_TIMES]
    world, effects = _menu(world, "me", "checkin.choose_time", {"zone": clock.city(zone), "at": me.checkin_at}, buttons)
    return world, [*effects, _schedule_checkin(me, "self", now)]


def _set_time(world: World, at: str, now: datetime) -> Outcome:
    me = replace(known(world.me), checkin_at=at, awaiting=None)
    world = replace(world, me=me)
    return world, [
        Say("self", "checkin.time_set", {"at": at, "zone": clock.city(me.time_zone)}),
        _schedule_checkin(me, "self", now),
    ]


def takes_as_time(awaiting: str | None, text: str) -> bool:
    """Whether a text written while a check-in time was asked is an answer to it; anything else is a message."""
    return awaiting != "time" or (len(text.strip()) <= 10 and any(c.isdigit() for c in text))


def _typed_time(world: World, text: str, now: datetime) -> Outcome:
    """ "7.30", "07:30", "21.15": any time of day, outside quiet hours, besides the buttons."""
    at = clock.parse_time(text.lower().removesuffix("uur").removesuffix("h").strip())
    if at is None:
        return world, [Say("self", "checkin.time_unknown")]
    if at >= clock.QUIET_FROM or at < clock.QUIET_UNTIL:
        quiet = {"start": clock.QUIET_FROM.strftime("%H:%M"), "end": clock.QUIET_UNTIL.strftime("%H:%M")}
        return world, [Say("self", "checkin.time_quiet", {"at": at.strftime("%H:%M"), **quiet})]
    return _set_time(world, at.strftime("%H:%M"), now)


def _schedule_checkin(person: Person, to: Recipient, now: datetime) -> Schedule:
    at = clock.next_local(_time(person.checkin_at), person.time_zone, now)
    return Schedule(to, "checkin", at)


def _time(text: str) -> time:
    return clock.parse_time(text) or time(20, 0)


# Entry points from the engine ----------------------------------------------------------


def on_press(world: World, question: str, choice: str, now: datetime) -> Outcome:
    me = known(world.me)
    match question:
        case "zone" if choice == "other":
            world = replace(world, me=replace(me, awaiting="zone"))
            return world, [Say("self", "zone.other")]
        case "zone":
            return _set_zone(world, choice, now)
        case "checkin_time":
            return _set_time(world, choice, now)
        case "pause_days":  # whole local days: today and the next ones, up to and including the last
            last_day = clock.local_date(now, me.time_zone) + timedelta(days=int(choice))
            world = replace(world, me=replace(me, paused_until=clock.end_of_day(last_day, me.time_zone)))
            return world, [Say("self", "pause.set", {"until": last_day})]
        case "settings":
            return _setting(world, choice, now)
        case "word":
            return _word_done(replace(world, me=replace(me, awaiting=None)), me.awaiting, "", now)
    return world, [Toast("press.stale")]


def on_awaited_text(world: World, text: str, now: datetime) -> Outcome:
    """The text someone was asked for: a place or time zone, or a word for today's check-in."""
    me = known(world.me)
    if me.awaiting == "zone":
        zone = clock.find_zone(text)
        if zone is None:
            return world, [Say("self", "zone.unknown")]
        return _set_zone(world, zone, now)
    if me.awaiting == "time":
        return _typed_time(world, text, now)
    world = replace(world, me=replace(me, awaiting=None))
    return _word_done(world, me.awaiting, text, now)


def on_located(world: World, zone: str | None, now: datetime) -> Outcome:
    if zone is None:
        return world, [Say("self", "zone.unknown")]
    return _set_zone(world, zone, now)


def settings(world: World) -> Outcome:
    me = known(world.me)
    paused = me.paused_until
    buttons = [
        Button("button.setting_zone", "?settings:zone"),
        Button("button.setting_time", "?settings:time"),
        Button("button.setting_country", "?settings:country"),
        Button(
            "button.resume_checkins" if paused else "button.pause_checkins",
            "?settings:" + ("resume_checkins" if paused else "pause_checkins"),
        ),
    ]
    vars: dict[str, object] = {
        "zone": clock.city(me.time_zone),
        "at": me.checkin_at,
        "country": me.country or "",
        "until": clock.local_date(paused - timedelta(seconds=1), me.time_zone) if paused else "",
    }
    return _menu(world, "me", "settings", vars, buttons)


def _setting(world: World, choice: str, now: datetime) -> Outcome:
    me = known(world.me)
    match choice:
        case "zone":
            return _ask_zone(world, "me", setting_up=False)
        case "time":
            world = replace(world, me=replace(me, awaiting="time"))
            buttons = [Button("button.at", f"?checkin_time:{at}", {"at": at}) for at in CHECKIN_TIMES]
            return _menu(
                world, "me", "checkin.choose_time", {"zone": clock.city(me.time_zone), "at": me.checkin_at}, buttons
            )
        case "country":
            return world, []  # the engine asks it: it owns the country question
        case "pause_checkins":
            return pause_days(world)
        case "resume_checkins":
            world = replace(world, me=replace(me, paused_until=None))
            return world, [Say("self", "pause.ended")]
    return world, [Toast("press.stale")]


def pause_days(world: World) -> Outcome:
    buttons = [Button("button.days", f"?pause_days:{days}", {"days": int(days)}) for days in PAUSE_DAYS]
    return _menu(world, "me", "pause.choose", {}, buttons)


def progress(world: World) -> Outcome:
    return world, [Progress()]


# Check-ins ----------------------------------------------------------------------------


def checkin_press(world: World, data: str, now: datetime) -> Outcome:
    """Check-in buttons name their day; they stay valid until that day's answer is given."""
    me, couple = known(world.me), world.couple
    parsed = parse_checkin(data)
    if me.phase is not Phase.LINKED or couple is None or parsed is None:
        return world, [Toast("press.stale")]
    day_text, score = parsed
    mine = _checkin(couple, me.user_id, day_text)
    if mine is None or mine.score is not None:
        return world, [Toast("press.stale")]
    world = _replace_checkin(world, replace(mine, score=score))
    world = replace(world, me=replace(known(world.me), awaiting=f"word:{day_text}"))
    world, effects = _menu(world, "me", "checkin.word", {}, [Button("button.no_word", "?word:no_word")])
    return world, effects


def parse_checkin(data: str) -> tuple[str, int] | None:
    """`ci:<ISO date>:<1-5>`, exactly as the buttons carry it; anything else is forged or garbled."""
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != "ci" or parts[2] not in SCORES:
        return None
    try:
        day = date.fromisoformat(parts[1])
    except ValueError:
        return None
    return (parts[1], int(parts[2])) if day.isoformat() == parts[1] else None


def _word_done(world: World, awaiting: str | None, word: str, now: datetime) -> Outcome:
    me, couple = known(world.me), world.couple
    day_text = (awaiting or "").removeprefix("word:")
    mine = _checkin(couple, me.user_id, day_text) if couple else None
    if mine is None or mine.word is not None:
        return world, [Toast("press.stale")]
    mine = replace(mine, word=word)
    world = _replace_checkin(world, mine)
    theirs = _checkin(world.couple, known(world.partner).user_id, day_text)
    if theirs is None or theirs.word is None:
        end = max(clock.end_of_day(mine.day, me.time_zone), clock.end_of_day(mine.day, known(world.partner).time_zone))
        return world, [
            Say("self", "checkin.kept", {"partner": known(world.partner).first_name}),
            Schedule("self", "day_end", end, key=day_text),
        ]
    return world, [
        Say("self", "checkin.reveal", _reveal(mine, theirs, known(world.partner).first_name)),
        Say("partner", "checkin.reveal", _reveal(theirs, mine, me.first_name)),
    ]


def _reveal(mine: CheckIn, theirs: CheckIn, partner: str) -> dict[str, object]:
    return {
        "partner": partner,
        "my_score": mine.score,
        "my_word": mine.word or "",
        "their_score": theirs.score,
        "their_word": theirs.word or "",
    }


def _checkin(couple: Couple | None, user_id: int, day_text: str) -> CheckIn | None:
    if couple is None:  # a press or a word from someone no longer linked
        return None
    return next((c for c in couple.checkins if c.user_id == user_id and c.day.isoformat() == day_text), None)


def _replace_checkin(world: World, checkin: CheckIn) -> World:
    checkins = tuple(
        checkin if (c.user_id, c.day) == (checkin.user_id, checkin.day) else c for c in known(world.couple).checkins
    )
    return replace(world, couple=replace(known(world.couple), checkins=checkins))


# Scheduled moments ------------------------------------------------------------------------


def on_due(world: World, event: Due, now: datetime) -> Outcome:
    me = world.me
    if me is None or me.phase is not Phase.LINKED or world.couple is None:
        return world, []  # unlinked since: nothing is due any more, and nothing is scheduled again
    paused = me.paused_until is not None and me.paused_until > now
    match event.kind:
        case "checkin":
            return _checkin_due(world, event, now, paused)
        case "day_end":
            return _day_end(world, event.key)
        case "nudge":
            return (world, []) if paused else _nudge(world, event, now)
        case "promise" | "trust":
            if clock.is_quiet(now, me.time_zone):
                return world, [Schedule("self", event.kind, clock.outside_quiet(now, me.time_zone), event.key)]
            key = "questions.promise_reminder" if event.kind == "promise" else "trust.follow_up"
            return world, [Say("self", key, {"partner": known(world.partner).first_name})]
    return world, []


def _checkin_due(world: World, event: Due, now: datetime, paused: bool) -> Outcome:
    me = known(world.me)
    # The most recent check-in moment that has passed: a row overdue by days catches up to it.
    latest = clock.next_local(_time(me.checkin_at), me.time_zone, now - timedelta(days=1))
    due = max(event.due_at or now, latest if latest <= now else event.due_at or now)
    following = _schedule_checkin(me, "self", max(now, due))
    day = clock.local_date(due, me.time_zone)
    late = now - due > LATE
    if late and (clock.local_date(now, me.time_zone) != day or clock.is_quiet(now, me.time_zone)):
        return world, [following]  # missed while the bot was down: skipped, never sent twice
    if paused or _checkin(world.couple, me.user_id, day.isoformat()):
        return world, [following]
    couple = replace(known(world.couple), checkins=(*known(world.couple).checkins, CheckIn(me.user_id, day)))
    world = replace(world, couple=couple)
    buttons = tuple((Button(f"button.score_{n}", f"ci:{day.isoformat()}:{n}"),) for n in SCORES)
    return world, [Say("self", "checkin.ask", {}, buttons), following]


def _day_end(world: World, day_text: str) -> Outcome:
    mine = _checkin(world.couple, known(world.me).user_id, day_text)
    theirs = _checkin(world.couple, known(world.partner).user_id, day_text)
    if mine and mine.word is not None and (theirs is None or theirs.word is None):
        return world, [Say("self", "checkin.partner_silent", {"partner": known(world.partner).first_name})]
    return world, []


def _nudge(world: World, event: Due, now: datetime) -> Outcome:
    me, run = known(world.me), known(world.couple).run
    if run is None or run.paused or event.key != nudge_key(run) or not programme.owes_turn(world, me.user_id):
        return world, []  # the turn moved on, or the couple took a time-out
    if clock.is_quiet(now, me.time_zone):
        return world, [Schedule("self", "nudge", clock.outside_quiet(now, me.time_zone), event.key)]
    today = clock.local_date(now, me.time_zone)
    if me.nudged_on == today:  # at most one nudge a day
        return world, [Schedule("self", "nudge", clock.next_local(clock.QUIET_UNTIL, me.time_zone, now), event.key)]
    world = replace(world, me=replace(me, nudged_on=today))
    return world, [Say("self", "nudge.turn", {"exercise": run.name})]


def nudge_key(run: Run) -> str:
    return f"{run.name}:{run.step}:{run.since.isoformat() if run.since else ''}"


def nudges_for(before: World, after: World, now: datetime) -> list[Effect]:
    """When an exercise reaches a new step, whoever owes that turn is nudged if it waits 24 hours."""
    run = after.couple.run if after.couple else None
    if run is None or after.me is None or after.partner is None:
        return []
    old = before.couple.run if before.couple else None
    if old is not None and nudge_key(old) == nudge_key(run):
        return []
    owing = [slot for slot in ("me", "partner") if programme.owes_turn(after, getattr(after, slot).user_id)]
    return [
        Schedule("self" if slot == "me" else "partner", "nudge", now + timedelta(hours=24), nudge_key(run))
        for slot in owing
    ]
