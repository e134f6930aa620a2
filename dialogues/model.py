"""The dialogue engine's vocabulary: who is talking, what happened, what to say.

Everything here is plain data. The Telegram layer turns updates into events and effects
into API calls; storage turns rows into these records and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, Mapping


class Role(StrEnum):
    DAMAGED = "damaged"  # the partner who damaged the trust
    HURT = "hurt"  # the partner whose trust was damaged

    @property
    def other(self) -> Role:
        return Role.HURT if self is Role.DAMAGED else Role.DAMAGED


class Phase(StrEnum):
    NEW = "new"  # wrote to the bot, not greeted yet
    SCREENING = "screening"  # asked the private safety question
    NOT_SAFE = "not_safe"  # said there is violence or fear: help lines, no pairing
    CHOOSING_ROLE = "choosing_role"
    INVITING = "inviting"  # has an invite link out, waits for the partner
    JOINING = "joining"  # opened a partner's link, confirms joining
    LINKED = "linked"


@dataclass(frozen=True)
class Person:
    user_id: int
    first_name: str
    language: str
    phase: Phase = Phase.NEW
    role: Role | None = None
    couple_id: str | None = None
    invite_token: str | None = None  # the invite this person made (inviting) or opened
    menu: int = 0  # number of the newest button menu sent; older menus are stale
    asking: str | None = None  # the question that menu asks
    time_zone: str = "Europe/Amsterdam"
    country: str | None = None  # for help lines; None until asked
    screened: int = 0  # safety questions answered "no" so far


@dataclass(frozen=True)
class Invite:
    token: str
    inviter_id: int
    inviter_role: Role
    created_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True)
class Held:
    """A text written out of turn: kept, and delivered when its writer's turn comes."""

    author_id: int
    text: str


@dataclass(frozen=True)
class Entry:
    author_id: int
    text: str


@dataclass(frozen=True)
class Run:
    """One exercise in progress: where it stands and what it holds."""

    name: str
    step: str
    starter_id: int
    round: int = 1
    text: str | None = None  # what this step is about: a draft, a mirror, an open question
    answers: tuple[Entry, ...] = ()  # private answers, shown when both have answered
    choices: tuple[Entry, ...] = ()  # each partner's pick of a proposal
    paused: bool = False


@dataclass(frozen=True)
class Promise:
    """"I need until tomorrow": the question comes back to the one who asked for time."""

    question: str
    due: datetime


@dataclass(frozen=True)
class Couple:
    id: str
    member_ids: tuple[int, int]
    started_at: datetime
    ended_at: datetime | None = None
    run: Run | None = None
    held: tuple[Held, ...] = ()
    done: tuple[str, ...] = ()  # finished exercises, in order
    heavy_on: date | None = None  # the evening (local date) a heavy exercise last started
    questions_per_day: int = 3
    asked_on: date | None = None
    asked_today: int = 0
    saved_questions: tuple[str, ...] = ()  # asked beyond the day's limit: asked first next time
    promises: tuple[Promise, ...] = ()
    trust_follow_up: datetime | None = None  # when to ask how giving trust went
    plan: str | None = None  # the activity they agreed on
    unsent: tuple[Held, ...] = ()  # texts with crisis signals, waiting for their writer's choice


@dataclass(frozen=True)
class World:
    """What one event may read and change.

    `partner` is the other person this event concerns: the linked partner, or, for someone
    who opened a link, the person who made it. It stays filled after a link ends, so the
    engine can still tell them.
    """

    me: Person | None = None
    partner: Person | None = None
    couple: Couple | None = None
    invite: Invite | None = None


# Events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    user_id: int
    first_name: str
    language: str  # "en" or "nl", already chosen from Telegram's language_code


@dataclass(frozen=True)
class Start:
    sender: Sender
    payload: str | None = None
    nonce: str = ""  # fresh randomness from the shell, for new tokens and ids


@dataclass(frozen=True)
class Command:
    sender: Sender
    name: str
    nonce: str = ""


@dataclass(frozen=True)
class Text:
    sender: Sender
    text: str
    nonce: str = ""


@dataclass(frozen=True)
class Edited:
    sender: Sender
    text: str
    nonce: str = ""


@dataclass(frozen=True)
class Press:
    sender: Sender
    data: str
    nonce: str = ""


@dataclass(frozen=True)
class Unsupported:
    """A sticker, voice note, photo, video, document, location, contact, …"""

    sender: Sender
    kind: str
    nonce: str = ""


@dataclass(frozen=True)
class GroupChat:
    """Anything from a group or channel: the bot only works in private chats."""

    sender: Sender
    nonce: str = ""
    announce: bool = True  # say why before leaving; only when the bot was just added


@dataclass(frozen=True)
class Unreachable:
    """Telegram refused a message to `sender`: they blocked the bot, or their account is gone."""

    sender: Sender
    nonce: str = ""


Event = Start | Command | Text | Edited | Press | Unsupported | GroupChat | Unreachable


# Effects -----------------------------------------------------------------------------

Recipient = Literal["self", "partner", "therapist"]


@dataclass(frozen=True)
class Button:
    label: str  # template key of the label
    data: str  # opaque callback data, at most 64 bytes


@dataclass(frozen=True)
class Say:
    to: Recipient
    key: str  # template key
    vars: Mapping[str, object] = field(default_factory=dict)
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass(frozen=True)
class Toast:
    """The short answer to a button press, shown at the top of the chat."""

    key: str


@dataclass(frozen=True)
class LeaveChat:
    """Leave the group or channel the event came from."""


@dataclass(frozen=True)
class Record:
    """Keep what someone wrote in the couple's journal (encrypted at rest)."""

    author_id: int
    text: str
    exercise: str | None = None


@dataclass(frozen=True)
class Export:
    """Send the person a copy of everything stored about them."""


@dataclass(frozen=True)
class Erase:
    """Erase every row about the person (after they confirmed /delete)."""


Effect = Say | Toast | LeaveChat | Record | Export | Erase
