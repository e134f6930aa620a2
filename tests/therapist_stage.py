"""The pure engine on a stage with couples and their therapist, and an in-memory store.

Like tests/stage.py, but for any number of people: it loads and saves worlds the way
storage.repo does (a partner's world with the couple's care and therapist; a therapist's world
with the couple they talk to, its partners and the couples they follow), renders every effect
in its reader's language, and writes a transcript.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from dialogues.engine import step
from dialogues.model import (
    Care,
    CareStatus,
    Command,
    Couple,
    Event,
    Followed,
    Invite,
    Person,
    Phase,
    Press,
    Role,
    Say,
    Sender,
    ShareHistory,
    Start,
    Text,
    Toast,
    World,
)
from dialogues.therapist import LINK_PREFIX, label
from tests.stage import JOURNAL_EFFECTS, START, TEXTS, Journal, Message


@dataclass
class CareStage:
    language: str = "en"
    now: datetime = START
    people: dict[int, Person] = field(default_factory=dict)
    couples: dict[str, Couple] = field(default_factory=dict)
    cares: dict[str, Care] = field(default_factory=dict)
    invites: dict[str, Invite] = field(default_factory=dict)
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> Telegram (last name, username)
    names: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (id, language)
    inbox: dict[str, list[Message]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    journal: Journal = field(default_factory=Journal)
    files: dict[str, list[str]] = field(default_factory=dict)  # what a therapist got as a file
    effects: list = field(default_factory=list)  # of the last step
    nonces: int = 0

    @classmethod
    def with_couples(cls, language: str = "en", *pairs: tuple[str, str]) -> CareStage:
        """Linked couples, each (hurt, damaged); by default Anna and Ben."""
        stage = cls(language=language)
        for number, (hurt, damaged) in enumerate(pairs or (("Anna", "Ben"),), start=1):
            stage.link(f"c{number}", hurt, damaged)
        return stage

    def link(self, couple_id: str, hurt: str, damaged: str) -> None:
        ids = []
        for name, role in ((hurt, Role.HURT), (damaged, Role.DAMAGED)):
            user_id = self.join(name)
            self.people[user_id] = Person(user_id, name, self.language, Phase.LINKED, role, couple_id)
            ids.append(user_id)
        self.couples[couple_id] = Couple(id=couple_id, member_ids=tuple(ids), started_at=self.now)

    def join(self, name: str, language: str | None = None, last_name: str = "", username: str = "") -> int:
        """Someone with a Telegram account; they exist for the engine once they write."""
        user_id = len(self.names) + 1
        self.names[name] = (user_id, language or self.language)
        self.accounts[name] = (last_name, username)
        self.inbox[name] = []
        return user_id

    # Acting ------------------------------------------------------------------------

    def sender(self, name: str) -> Sender:
        user_id, language = self.names[name]
        person = self.people.get(user_id)
        return Sender(user_id, name, person.language if person else language, *self.accounts.get(name, ("", "")))

    def write(self, name: str, text: str) -> None:
        self.lines.append(f"{name}: {text}")
        self.act(Text(self.sender(name), text))

    def command(self, name: str, command: str) -> None:
        self.lines.append(f"{name}: /{command}")
        self.act(Command(self.sender(name), command))

    def start(self, name: str) -> None:
        self.lines.append(f"{name}: /start")
        self.act(Start(self.sender(name)))

    def open(self, name: str, link: str) -> None:
        payload = link.rsplit("start=", 1)[-1]
        self.lines.append(f"{name} opens the link")
        self.act(Start(self.sender(name), payload))

    def press(self, name: str, choice: str) -> None:
        """Press the button for `choice` in the newest message to `name` that offers it."""
        for message in reversed(self.inbox[name]):
            for label_, data in message.buttons:
                if data.rsplit(":", 1)[1] == choice:
                    self.lines.append(f"{name} presses [{label_}]")
                    self.act(Press(self.sender(name), data))
                    return
        raise LookupError(f"{name} has no button {choice!r}")

    def press_data(self, name: str, data: str) -> None:
        self.lines.append(f"{name} presses a button with {data!r}")
        self.act(Press(self.sender(name), data))

    def later(self, **delta) -> None:
        self.now += timedelta(**delta)
        self.lines.append("(" + ", ".join(f"{v} {k}" for k, v in delta.items()) + " later)")

    def act(self, event: Event) -> None:
        self.nonces += 1
        event = replace(event, nonce=f"nonce{self.nonces:04d}xxxxxxxxxxxx")
        opened = event.payload if isinstance(event, Start) else None
        world, effects = step(self.load(event.sender.user_id, opened), event, self.now)
        self.save(world)
        self.effects = effects
        me = world.me
        for effect in effects:
            if isinstance(effect, JOURNAL_EFFECTS) and world.couple:
                for said in self.journal.apply(world.couple.id, effect, self.now):
                    for reader in self._readers(world, said):
                        self._deliver(reader, said)
            elif isinstance(effect, Say):
                for reader in self._readers(world, effect):
                    self._deliver(reader, effect)
            elif isinstance(effect, Toast):
                self.lines.append(f"  ({TEXTS.render(me.language, effect.key)})")
            elif isinstance(effect, ShareHistory):
                self._share(world, effect)

    # The store, as storage.repo reads and writes it ---------------------------------

    def load(self, user_id: int, opened: str | None) -> World:
        me = self.people.get(user_id)
        if (opened or "").startswith(LINK_PREFIX) or (me and me.phase is Phase.THERAPIST):
            return self._therapist_world(user_id, me, opened)
        couple = self.couples.get(me.couple_id) if me and me.couple_id else None
        if couple is None:  # perhaps an invite: opened now, or the one this person made or opened
            invite = self.invites.get(opened or (me.invite_token if me else None) or "")
            other = None
            if invite is not None:
                other = invite.inviter_id if invite.inviter_id != user_id else invite.joiner_id
            return World(me=me, partner=self.people.get(other), invite=invite)
        other = next(m for m in couple.member_ids if m != user_id)
        live = [
            c
            for c in self.cares.values()
            if c.couple_id == couple.id and c.status in (CareStatus.REQUESTED, CareStatus.ACTIVE)
        ]
        care = max(live, key=lambda c: c.created_at) if live else None
        therapist = self.people.get(care.therapist_id) if care and care.therapist_id else None
        return World(me=me, partner=self.people.get(other), couple=couple, care=care, therapist=therapist)

    def _therapist_world(self, user_id: int, me: Person | None, opened: str | None) -> World:
        token = opened if (opened or "").startswith(LINK_PREFIX) else None
        if token is None and me and (me.invite_token or "").startswith(LINK_PREFIX):
            token = me.invite_token
        if token:
            care = next((c for c in self.cares.values() if LINK_PREFIX + c.token == token), None)
        elif me and me.couple_id:
            care = next(
                (
                    c
                    for c in self.cares.values()
                    if c.couple_id == me.couple_id and c.therapist_id == user_id and c.status is CareStatus.ACTIVE
                ),
                None,
            )
        else:
            care = None
        couple = self.couples.get(care.couple_id) if care else None
        members = (
            tuple(self.people[m] for m in couple.member_ids if m != user_id and m in self.people) if couple else ()
        )
        therapist = self.people.get(care.therapist_id) if care and care.therapist_id not in (None, user_id) else None
        followed = tuple(
            Followed(c.couple_id, tuple(self.people[m].first_name for m in self.couples[c.couple_id].member_ids))
            for c in sorted(self.cares.values(), key=lambda c: (c.joined_at or self.now, c.couple_id))
            if c.therapist_id == user_id
            and c.status is CareStatus.ACTIVE
            and self.couples[c.couple_id].ended_at is None
        )
        return World(me=me, couple=couple, care=care, members=members, therapist=therapist, followed=followed)

    def save(self, world: World) -> None:
        for person in (world.me, world.partner, world.therapist, *world.members):
            if person is not None:
                self.people[person.user_id] = person
        if world.couple:
            self.couples[world.couple.id] = world.couple
        if world.care:
            self.cares[world.care.id] = world.care
        for invite in (world.voided, world.invite):
            if invite:
                self.invites[invite.token] = invite

    # Delivering ----------------------------------------------------------------------

    def _readers(self, world: World, effect: Say) -> list[Person]:
        match effect.to:
            case "self":
                return [world.me]
            case "partner":
                return [world.partner]
            case "therapist":
                return [world.therapist]
            case "couple":
                return list(world.members)
        raise AssertionError(effect.to)

    def _deliver(self, reader: Person, effect: Say) -> None:
        text = TEXTS.render(reader.language, effect.key, **effect.vars)
        buttons = [(TEXTS.render(reader.language, b.label, **b.vars), b.data) for row in effect.buttons for b in row]
        self.inbox[reader.first_name].append(Message(reader.first_name, text, buttons))
        plain = html.unescape(re.sub(r"<[^>]+>", "", text))
        self.lines.append(f"  → {reader.first_name}: " + plain.replace("\n", "\n    "))
        if buttons:
            self.lines.append("    " + " ".join(f"[{label_}]" for label_, _ in buttons))

    def _share(self, world: World, share: ShareHistory) -> None:
        partners = set(world.couple.member_ids)
        texts = [
            w.record.text
            for w in self.journal.entries
            if w.couple_id == world.couple.id and w.at < share.until and partners <= w.readers
        ]
        self.files.setdefault(world.therapist.first_name, []).extend(texts)
        self.lines.append(
            f"  → {world.therapist.first_name}: (a file: what {share.couple} wrote before, {len(texts)} messages)"
        )

    # Reading -----------------------------------------------------------------------

    def person(self, name: str) -> Person:
        return self.people[self.names[name][0]]

    def care_of(self, couple_id: str = "c1") -> Care:
        return max((c for c in self.cares.values() if c.couple_id == couple_id), key=lambda c: c.created_at)

    def last(self, name: str) -> str:
        return self.inbox[name][-1].text

    def received(self, name: str) -> str:
        return "\n".join(m.text for m in self.inbox[name])

    def take(self, name: str) -> list[str]:
        """Messages to `name` since the previous take."""
        seen = getattr(self, "_seen", {})
        self._seen = seen
        new = self.inbox[name][seen.get(name, 0) :]
        seen[name] = len(self.inbox[name])
        return [m.text for m in new]

    def invite_of(self, name: str) -> str:
        text = next(m.text for m in reversed(self.inbox[name]) if "?start=" in m.text)
        return next(word for word in text.split() if "?start=" in word)

    def link_of(self, name: str) -> str:
        text = next(m.text for m in reversed(self.inbox[name]) if "?start=" + LINK_PREFIX in m.text)
        return next(word for word in text.split() if "?start=" + LINK_PREFIX in word)

    def couple_label(self, couple_id: str) -> str:
        return label(self.people[m].first_name for m in self.couples[couple_id].member_ids)

    def transcript(self) -> str:
        return "\n".join(self.lines) + "\n"


def with_therapist(
    stage: CareStage,
    therapist: str = "Marieke",
    couple_id: str = "c1",
    asker: str | None = None,
    details: tuple[str, str, str | None] = ("Marieke de Vries", "Praktijk De Linde", "BIG 12345678901"),
) -> None:
    """The whole way in: a link, the therapist's details, and both partners allowing it."""
    request(stage, therapist, couple_id, asker, details)
    for member in stage.couples[couple_id].member_ids:
        stage.press(stage.people[member].first_name, "allow")


def request(
    stage: CareStage,
    therapist: str = "Marieke",
    couple_id: str = "c1",
    asker: str | None = None,
    details: tuple[str, str, str | None] = ("Marieke de Vries", "Praktijk De Linde", "BIG 12345678901"),
) -> None:
    """A partner makes a link, the therapist opens it and gives their details: both are asked."""
    asker = asker or stage.people[stage.couples[couple_id].member_ids[0]].first_name
    if therapist not in stage.names:
        stage.join(therapist)
    stage.command(asker, "therapist")
    stage.open(therapist, stage.link_of(asker))
    name, practice, register = details
    stage.write(therapist, name)
    stage.write(therapist, practice)
    if register:
        stage.write(therapist, register)
    else:
        stage.press(therapist, "skip")
