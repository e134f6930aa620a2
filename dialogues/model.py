"""The dialogue engine's vocabulary: who is talking, what happened, what to say.

Everything here is plain data. The Telegram layer turns updates into events and effects
into API calls; storage turns rows into these records and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, TypeVar

T = TypeVar("T")


def known(value: T | None) -> T:
    """A value this state guarantees (a linked person has a couple; a started bot has a job queue): say so, and
    fail loudly if it is missing."""
    if value is None:
        raise AssertionError("expected a value this state guarantees")
    return value


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
    THERAPIST = "therapist"  # follows couples as their therapist (dialogues/therapist.py); never a partner


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
    checkin_at: str = "20:00"  # local time of the daily check-in
    paused_until: datetime | None = None  # no check-ins or nudges until then
    awaiting: str | None = None  # what the next text is: "zone", "word" (for a check-in)
    nudged_on: date | None = None  # local date of the last nudge: at most one a day
    flood_since: datetime | None = None  # when this minute of counting messages began (dialogues/flood.py)
    flood_count: int = 0  # messages since then


@dataclass(frozen=True)
class Invite:
    token: str
    inviter_id: int
    inviter_role: Role
    created_at: datetime
    used_at: datetime | None = None  # linked, or voided by the inviter
    # Whoever pressed "join": they wait until the inviter says this is their partner. Their Telegram
    # account as the inviter is shown it (names anyone can set; the username is unique).
    joiner_id: int | None = None
    joiner_name: str = ""
    joiner_username: str = ""


@dataclass(frozen=True)
class Held:
    """A text with crisis signals, kept until its writer chooses whether it goes on."""

    author_id: int
    text: str
    entry: str = ""  # its journal entry (Record.entry)


@dataclass(frozen=True)
class Entry:
    author_id: int
    text: str
    entry: str = ""  # the journal entry holding this text, if it is one (Record.entry)


@dataclass(frozen=True)
class Run:
    """One exercise in progress: where it stands and what it holds."""

    name: str
    step: str
    starter_id: int
    round: int = 1
    text: str | None = None  # what this step is about: a draft, a mirror, an open question
    entry: str = ""  # the journal entry `text` is, when a person wrote it
    answers: tuple[Entry, ...] = ()  # private answers, shown when both have answered
    choices: tuple[Entry, ...] = ()  # each partner's pick of a proposal
    paused: bool = False
    since: datetime | None = None  # when this step began: a turn waiting 24 hours gets a nudge


@dataclass(frozen=True)
class Promise:
    """ "I need until tomorrow": the question comes back to the one who asked for time."""

    question: str
    due: datetime
    entry: str = ""  # the question's journal entry


@dataclass(frozen=True)
class CheckIn:
    """One partner's answer to one day's check-in; private until both have answered that day."""

    user_id: int
    day: date  # the partner's own local date
    score: int | None = None
    word: str | None = None


@dataclass(frozen=True)
class Finished:
    name: str
    on: date


@dataclass(frozen=True)
class Couple:
    id: str
    member_ids: tuple[int, int]
    started_at: datetime
    ended_at: datetime | None = None
    run: Run | None = None
    # Writers with texts held out of turn in this exercise; the texts are journal rows (Record.held).
    held: tuple[int, ...] = ()
    # Writers asked what becomes of their held texts, after an exercise ended (or kept for tomorrow).
    choosing: tuple[int, ...] = ()
    done: tuple[str, ...] = ()  # finished exercises, in order
    heavy_on: date | None = None  # the evening (local date) a heavy exercise last started
    questions_per_day: int = 3
    asked_on: date | None = None
    asked_today: int = 0
    saved_questions: tuple[str, ...] = ()  # asked beyond the day's limit: asked first next time
    saved_entries: tuple[str, ...] = ()  # their journal entries, in the same order
    promises: tuple[Promise, ...] = ()
    trust_follow_up: datetime | None = None  # when to ask how giving trust went
    plan: str | None = None  # the activity they agreed on
    unsent: tuple[Held, ...] = ()  # texts with crisis signals, waiting for their writer's choice
    checkins: tuple[CheckIn, ...] = ()
    finished: tuple[Finished, ...] = ()  # exercises finished, with the day: for the progress picture
    opened: tuple[str, ...] = ()  # later exercises opened early for the partner who damaged the trust


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
    voided: Invite | None = None  # an invite the inviter just refused; saved beside the fresh one
    # The couple's therapist (dialogues/therapist.py). For a partner's event: `care` is the
    # couple's open request or active therapist, `therapist` that therapist. For a therapist's
    # own event (or a therapist link being opened): `care` and `couple` are the couple they talk
    # to, `members` its two partners, `followed` every couple they follow. Nobody appears twice.
    therapist: Person | None = None
    care: Care | None = None
    members: tuple[Person, ...] = ()
    followed: tuple[Followed, ...] = ()


# Events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    user_id: int
    first_name: str
    language: str  # "en" or "nl", already chosen from Telegram's language_code
    last_name: str = ""
    username: str = ""  # without the @; empty when the account has none

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


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
class Due:
    """A scheduled moment has come for this person: a check-in, a nudge, a reminder."""

    sender: Sender
    kind: str
    key: str = ""
    due_at: datetime | None = None
    nonce: str = ""


@dataclass(frozen=True)
class Located:
    """A shared location, turned into a time zone by the shell (None when it found none)."""

    sender: Sender
    time_zone: str | None
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


Event = Start | Command | Text | Edited | Press | Unsupported | GroupChat | Unreachable | Due | Located


# Effects -----------------------------------------------------------------------------

# "couple" is both partners of world.members, each in their own language: a therapist's events only.
Recipient = Literal["self", "partner", "therapist", "couple"]


@dataclass(frozen=True)
class Button:
    label: str  # template key of the label
    data: str  # opaque callback data, at most 64 bytes
    vars: Mapping[str, object] = field(default_factory=dict)  # for labels such as a city name


@dataclass(frozen=True)
class Say:
    to: Recipient
    key: str  # template key
    vars: Mapping[str, object] = field(default_factory=dict)
    buttons: tuple[tuple[Button, ...], ...] = ()
    entries: tuple[str, ...] = ()  # the journal entries whose text this passes on: its reader may read them


@dataclass(frozen=True)
class Toast:
    """The short answer to a button press, shown at the top of the chat."""

    key: str


@dataclass(frozen=True)
class LeaveChat:
    """Leave the group or channel the event came from."""


@dataclass(frozen=True)
class Record:
    """Keep what someone wrote in the couple's journal (encrypted at rest).

    Its readers are its writer alone; they widen only by `Widen` (the engine passes the text on).
    `entry` names it within the couple (from the event's nonce); `held` marks a text written out
    of turn: "turn" until its writer's turn comes, "asked" once its writer is asked what becomes of it.
    """

    author_id: int
    text: str
    exercise: str | None = None
    entry: str = ""
    held: str | None = None


@dataclass(frozen=True)
class Widen:
    """The engine passed an entry's text on: these people may read it now (dialogues.engine.audience)."""

    entry: str
    readers: tuple[int, ...]


@dataclass(frozen=True)
class PassOnHeld:
    """Pass on, in order, every text `author_id` wrote that is held with this mark, each as one
    `Say(to, key, vars | {"text": its text})`; its readers widen by `readers` (filled in by
    dialogues.engine.audience), and it is held no more."""

    author_id: int
    held: str
    to: Recipient
    readers: tuple[int, ...]
    key: str
    vars: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Settle:
    """Change the mark of `author_id`'s held texts from `held` to `becomes` (None: not held, the writer's own)."""

    author_id: int
    held: str
    becomes: str | None


@dataclass(frozen=True)
class Export:
    """Send the person a copy of everything stored about them."""


@dataclass(frozen=True)
class Erase:
    """Erase every row about the person (after they confirmed /delete)."""


@dataclass(frozen=True)
class Schedule:
    """Come back to `to` at `at` with a Due event of this kind; one row per (person, kind, key)."""

    to: Recipient
    kind: str
    at: datetime
    key: str = ""


@dataclass(frozen=True)
class Progress:
    """Send the couple's progress picture."""


# A couple's therapist (dialogues/therapist.py) ---------------------------------------------


class CareStatus(StrEnum):
    REQUESTED = "requested"  # a partner made a link; the therapist may have opened it; consent asked
    ACTIVE = "active"  # both partners allowed it: the therapist follows the thread
    DECLINED = "declined"  # a partner did not allow it
    EXPIRED = "expired"  # not opened, or not answered by both, within 7 days
    REMOVED = "removed"  # a partner removed the therapist, or withdrew the request
    LEFT = "left"  # the therapist stopped following the couple
    ENDED = "ended"  # the couple's link ended


@dataclass(frozen=True)
class Care:
    """One therapist for one couple: the link, both partners' consent, and what follows from it."""

    id: str  # short, for consent buttons; not the link
    token: str  # the link's secret: t.me/<bot>?start=th_<token>
    couple_id: str
    requested_by: int  # the partner who asked for the link
    created_at: datetime
    status: CareStatus = CareStatus.REQUESTED
    therapist_id: int | None = None  # whoever opened the link first; nobody else can use it
    name: str | None = None  # as the therapist gave it
    practice: str | None = None
    register: str | None = None  # professional register number, as given; not verified
    # The Telegram account that opened the link, as the partners are shown it.
    account_name: str = ""
    account_username: str = ""
    asked_at: datetime | None = None  # when both partners were asked for consent
    allowed_by: tuple[int, ...] = ()  # partners who allowed the therapist to join
    joined_at: datetime | None = None
    history_by: tuple[int, ...] = ()  # partners who agreed to share what was written before joined_at
    history: str | None = None  # "shared" or "kept", once decided
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Followed:
    """A couple a therapist follows, as their /couples list names it (read only)."""

    couple_id: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class ShareHistory:
    """Send the therapist (world.therapist) the couple's journal from before `until`, as a file."""

    until: datetime
    couple: str  # the couple's name for the caption, e.g. "Anna & Ben"


Effect = (
    Say | Toast | LeaveChat | Record | Widen | PassOnHeld | Settle | Export | Erase | Schedule | Progress | ShareHistory
)
