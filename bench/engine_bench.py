"""The pure engine on one core: `dialogues.engine.step` with no I/O.

A realistic mix is recorded first: couples in both languages pair up from scratch (start, country,
four screening questions, role, the partner opens the link, screens and joins), do the naming or
the impact exercise with its mirroring rounds, then write free messages. Each step's input
(world, event, now) is kept; the timed part replays exactly those calls to `step`, and separately
`step` plus rendering its effects into Bot API calls (`bot.render.to_calls`, the templates).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.scenario import SCRIPTS, Script
from dialogues.engine import step
from dialogues.model import Command, Invite, Person, Press, Say, Sender, Start, Text, World
from dialogues.texts import Texts

NOW = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)


class _Store:
    """In memory, loading a world the way storage.repo.load_world does."""

    def __init__(self) -> None:
        self.people: dict[int, Person] = {}
        self.couples = {}
        self.invites: dict[str, Invite] = {}

    def load(self, user_id: int, opened: str | None) -> World:
        me = self.people.get(user_id)
        couple = self.couples.get(me.couple_id) if me and me.couple_id else None
        invite = None
        if couple is None:
            token = opened or (me.invite_token if me else None)
            invite = self.invites.get(token) if token else None
        other = None
        if couple:
            other = couple.member_ids[1] if couple.member_ids[0] == user_id else couple.member_ids[0]
        elif invite and invite.inviter_id != user_id:
            other = invite.inviter_id
        elif invite:
            other = invite.joiner_id
        return World(me=me, partner=self.people.get(other), couple=couple, invite=invite)

    def save(self, world: World) -> None:
        for person in (world.me, world.partner):
            if person:
                self.people[person.user_id] = person
        if world.couple:
            self.couples[world.couple.id] = world.couple
        if world.invite:
            self.invites[world.invite.token] = world.invite


@dataclass
class EngineResult:
    steps: int
    step_per_s: float
    step_render_per_s: float


def record(couples: int = 8, free_messages: int = 8) -> list[tuple[World, object, datetime]]:
    store, recorded, serial = _Store(), [], iter(range(1, 10**9))
    buttons: dict[int, dict[str, str]] = {}
    now = NOW

    def act(sender: Sender, event, opened: str | None = None):
        nonlocal now
        world = store.load(sender.user_id, opened)
        recorded.append((world, event, now))
        world, effects = step(world, event, now)
        store.save(world)
        for e in effects:
            if isinstance(e, Say) and e.buttons:
                reader = world.me if e.to == "self" else world.partner
                buttons[reader.user_id] = {b.data.split(":", 1)[1]: b.data for row in e.buttons for b in row}
        now += timedelta(seconds=20)

    def press(sender: Sender, choice: str):
        act(sender, Press(sender, buttons[sender.user_id][choice], nonce=f"n{next(serial)}"))

    for n in range(couples):
        language = "nl" if n % 2 else "en"
        a = Sender(2 * n + 1, "Anna", language)
        b = Sender(2 * n + 2, "Ben", language)
        # Pairing from scratch: a invites as the one who damaged the trust, b joins.
        act(a, Start(a, None, nonce=f"n{next(serial)}"))
        press(a, "in_nl")
        for _ in range(4):
            press(a, "safe")
        press(a, "damaged")
        token = store.people[a.user_id].invite_token
        act(b, Start(b, token, nonce=f"n{next(serial)}"), opened=token)
        press(b, "in_nl")
        for _ in range(4):
            press(b, "safe")
        press(b, "join")
        press(a, "is_partner")
        kind_of_couple = "naming" if n % 4 < 2 else "impact"
        script = Script(kind_of_couple, language)
        steps = len(SCRIPTS[kind_of_couple])
        for _ in range(steps + free_messages):
            who, kind, value = script.next()
            sender = a if who == "a" else b
            if kind == "press":
                press(sender, value)
            elif kind == "command":
                act(sender, Command(sender, value))
            else:
                act(sender, Text(sender, value))
    return recorded


def measure(seconds: float = 3.0) -> EngineResult:
    from bot.render import to_calls

    recorded = record()
    texts = Texts(bot_username="HerstelBot")
    for world, event, now in recorded:  # warm: templates compiled, caches filled
        _, effects = step(world, event, now)
    # step only
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for world, event, now in recorded:
            step(world, event, now)
        done += len(recorded)
    step_rate = done / (time.perf_counter() - started)
    # step, then render what it says into calls
    rendered, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for world, event, now in recorded:
            after, effects = step(world, event, now)
            query = "q" if isinstance(event, Press) else None
            to_calls(effects, after, event.sender.user_id, event.sender.language, texts, query)
        rendered += len(recorded)
    render_rate = rendered / (time.perf_counter() - started)
    return EngineResult(len(recorded), step_rate, render_rate)


if __name__ == "__main__":
    result = measure()
    print(
        f"{result.steps} recorded steps; step: {result.step_per_s:,.0f}/s; step + render: {result.step_render_per_s:,.0f}/s"
    )
