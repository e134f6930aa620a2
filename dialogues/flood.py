"""Someone who writes faster than anyone can read: told once, kindly, and nothing they wrote is lost. Pure.

Each person's messages (texts, edits, media, locations) are counted per minute. The message that
goes past FLOOD_LIMIT in a minute brings one calm notice. Their texts still go on as always: to a
partner they are delivered in order, at the courier's per-chat pace, so the partner is not flooded.
Someone whose words are not carried anywhere (not linked, not a therapist) is answered, past the
limit, only with the first message of each minute: not once for every message. Crisis words are
always answered. A flood that goes on into the next minute is the same flood: no second notice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from dialogues import crisis
from dialogues.model import Edited, Effect, Event, Located, Phase, Say, Text, Unsupported, World, known

FLOOD_LIMIT = 20  # messages a minute; README's Guarantees promises this number
WINDOW = timedelta(minutes=1)
MESSAGES = (Text, Edited, Unsupported, Located)
# What a linked writer is told again with each message; past the limit once a minute is enough.
REPEATED = ("exercise.held", "edit.passed_on", "only_text.linked")


def _counted(world: World, now: datetime) -> tuple[World, str]:
    """Count one message: "calm" (answered as usual), "notice" (just past the limit) or "past"."""
    me = known(world.me)
    since, count = me.flood_since, me.flood_count
    if since is None or now - since >= WINDOW or now < since:
        flooding = since is not None and count > FLOOD_LIMIT and timedelta(0) <= now - since < 2 * WINDOW
        me = replace(me, flood_since=now, flood_count=FLOOD_LIMIT + 1 if flooding else 1)
        return replace(world, me=me), "calm"  # the first message of a minute is answered as usual
    me = replace(me, flood_count=count + 1)
    pace = "notice" if count + 1 == FLOOD_LIMIT + 1 else "past" if count + 1 > FLOOD_LIMIT else "calm"
    return replace(world, me=me), pace


def _crisis(event: Event) -> bool:
    return isinstance(event, Text | Edited) and crisis.has_signals(event.text)


def unanswered(world: World, event: Event, now: datetime) -> World | None:
    """The world with this message counted, when it gets no answer at all: someone whose words go
    nowhere, past the limit this minute. None when the engine answers it."""
    me = world.me
    if me is None or not isinstance(event, MESSAGES) or me.phase in (Phase.LINKED, Phase.THERAPIST):
        return None
    counted, pace = _counted(world, now)
    return counted if pace == "past" and not _crisis(event) else None


def paced(world: World, event: Event, effects: list[Effect], now: datetime) -> tuple[World, list[Effect]]:
    """After a step: count the message; past the limit, one notice, and repeated answers left out."""
    if world.me is None or not isinstance(event, MESSAGES):
        return world, effects
    world, pace = _counted(world, now)
    if pace == "past":
        return world, [e for e in effects if not (isinstance(e, Say) and e.to == "self" and e.key in REPEATED)]
    if pace == "notice":
        me, partner = known(world.me), world.partner
        to = partner.first_name if partner is not None and me.phase is Phase.LINKED else ""
        notice = Say("self", "flood.calmer", {"partner": to, "carried": bool(to) or me.phase is Phase.THERAPIST})
        return world, [*effects, notice]
    return world, effects
