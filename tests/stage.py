"""The pure engine on a stage: two linked partners, an in-memory store, and a written transcript.

It loads and saves worlds the way storage.repo does, and renders every effect in its
reader's language, so a transcript reads as the conversation both partners had.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from dialogues.engine import step
from dialogues.model import (
    Command,
    Couple,
    Due,
    Event,
    PassOnHeld,
    Person,
    Phase,
    Press,
    Record,
    Role,
    Say,
    Sender,
    Settle,
    Text,
    Toast,
    Widen,
    World,
)
from dialogues.texts import Texts

START = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # 20:00 in Amsterdam, a Monday
TEXTS = Texts(bot_username="HerstelBot")


@dataclass
class Message:
    to: str
    text: str
    buttons: list[tuple[str, str]]  # (label, callback data)


@dataclass
class Written:
    couple_id: str
    record: Record
    at: datetime
    readers: set[int]
    held: str | None


@dataclass
class Journal:
    """The journal as storage.repo keeps it: entries, their readers and held marks."""

    entries: list[Written] = field(default_factory=list)

    def apply(self, couple_id: str, effect, now: datetime) -> list[Say]:
        """Follow one journal effect; held texts passed on come back as the messages they become."""
        match effect:
            case Record():
                same = [w for w in self._named(couple_id, effect.entry)] if effect.entry else []
                for written in same:
                    written.held = effect.held
                if not same:
                    self.entries.append(Written(couple_id, effect, now, {effect.author_id}, effect.held))
            case Widen():
                for written in self._named(couple_id, effect.entry):
                    written.readers |= set(effect.readers)
            case Settle():
                for written in self._held(couple_id, effect.author_id, effect.held):
                    written.held = effect.becomes
            case PassOnHeld():
                said = []
                for written in self._held(couple_id, effect.author_id, effect.held):
                    written.held = None
                    written.readers |= set(effect.readers)
                    said.append(Say(effect.to, effect.key, {**effect.vars, "text": written.record.text}))
                return said
        return []

    def readable_by(self, user_id: int) -> list[Written]:
        return [w for w in self.entries if user_id in w.readers]

    def _named(self, couple_id: str, entry: str) -> list[Written]:
        return [w for w in self.entries if w.couple_id == couple_id and entry and w.record.entry == entry]

    def _held(self, couple_id: str, author_id: int, held: str) -> list[Written]:
        return [w for w in self.entries if (w.couple_id, w.record.author_id, w.held) == (couple_id, author_id, held)]


JOURNAL_EFFECTS = (Record, Widen, Settle, PassOnHeld)


@dataclass
class Stage:
    language: str = "en"
    now: datetime = START
    people: dict[int, Person] = field(default_factory=dict)
    couple: Couple | None = None
    inbox: dict[str, list[Message]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    journal: Journal = field(default_factory=Journal)
    effects: list = field(default_factory=list)  # of the last step
    nonces: int = 0

    @classmethod
    def linked(cls, language: str = "en", hurt: str = "Anna", damaged: str = "Ben") -> Stage:
        stage = cls(language=language)
        couple = Couple(id="c1", member_ids=(1, 2), started_at=START)
        stage.couple = couple
        for user_id, name, role in ((1, hurt, Role.HURT), (2, damaged, Role.DAMAGED)):
            stage.people[user_id] = Person(user_id, name, language, Phase.LINKED, role, couple.id)
            stage.inbox[name] = []
        return stage

    # Acting ------------------------------------------------------------------------

    def id_of(self, name: str) -> int:
        return next(p.user_id for p in self.people.values() if p.first_name == name)

    def sender(self, name: str) -> Sender:
        person = self.people[self.id_of(name)]
        return Sender(person.user_id, person.first_name, person.language)

    def write(self, name: str, text: str) -> None:
        self.lines.append(f"{name}: {text}")
        self.act(Text(self.sender(name), text))

    def command(self, name: str, command: str) -> None:
        self.lines.append(f"{name}: /{command}")
        self.act(Command(self.sender(name), command))

    def press(self, name: str, choice: str) -> None:
        """Press the button for `choice` in the newest message to `name` that offers it."""
        for message in reversed(self.inbox[name]):
            for label, data in message.buttons:
                if data.split(":", 1)[1] == choice:
                    self.lines.append(f"{name} presses [{label}]")
                    self.act(Press(self.sender(name), data))
                    return
        raise LookupError(f"{name} has no button {choice!r}")

    def due(self, name: str, kind: str) -> None:
        """A moment scheduled for `name` has come (the shell's schedules, on a stage)."""
        self.lines.append(f"(for {name}: {kind})")
        self.act(Due(self.sender(name), kind, due_at=self.now))

    def later(self, **delta) -> None:
        self.now += timedelta(**delta)
        self.lines.append(f"({_describe(delta)} later)")

    def act(self, event: Event) -> None:
        if not event.nonce:  # the shell gives every update a fresh nonce
            self.nonces += 1
            event = replace(event, nonce=f"nonce{self.nonces:04d}")
        me = self.people[event.sender.user_id]
        partner = next(p for uid, p in self.people.items() if uid != me.user_id)
        world, effects = step(World(me=me, partner=partner, couple=self.couple), event, self.now)
        self.people[world.me.user_id] = world.me
        self.people[world.partner.user_id] = world.partner
        self.couple = world.couple
        self.effects = effects
        for effect in effects:
            journal = isinstance(effect, JOURNAL_EFFECTS) and world.couple
            for said in self.journal.apply(world.couple.id, effect, self.now) if journal else [effect]:
                if isinstance(said, Say):
                    reader = world.me if said.to == "self" else world.partner
                    self._deliver(reader, said)
                elif isinstance(said, Toast):
                    self.lines.append(f"  ({TEXTS.render(me.language, said.key)})")

    def _deliver(self, reader: Person, effect: Say) -> None:
        text = TEXTS.render(reader.language, effect.key, **effect.vars)
        buttons = [(TEXTS.render(reader.language, b.label, **b.vars), b.data) for row in effect.buttons for b in row]
        self.inbox[reader.first_name].append(Message(reader.first_name, text, buttons))
        plain = html.unescape(re.sub(r"<[^>]+>", "", text))
        self.lines.append(f"  → {reader.first_name}: " + plain.replace("\n", "\n    "))
        if buttons:
            self.lines.append("    " + " ".join(f"[{label}]" for label, _ in buttons))

    # Reading -----------------------------------------------------------------------

    def last(self, name: str) -> str:
        return self.inbox[name][-1].text

    def received(self, name: str) -> str:
        return "\n".join(m.text for m in self.inbox[name])

    def transcript(self) -> str:
        return "\n".join(self.lines) + "\n"


def _describe(delta: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in delta.items())


def person(stage: Stage, name: str) -> Person:
    return stage.people[stage.id_of(name)]


def with_time_zone(stage: Stage, name: str, zone: str) -> None:
    p = person(stage, name)
    stage.people[p.user_id] = replace(p, time_zone=zone)
