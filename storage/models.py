"""The tables. Telegram ids need 64 bits; every text a person wrote is a SecretText, and so is every fact
that tells who damaged the trust or who said they are not safe. Link tokens are stored as keyed hashes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from storage.secret import SecretText


def _when(nullable: bool = True) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable)


class PersonRow(SQLModel, table=True):
    __tablename__ = "people"

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    first_name: str
    language: str = Field(max_length=8)
    # Encrypted: the phase can say "not safe" (a disclosure of violence or fear), the role who damaged
    # the trust, `asking` the question a menu asks ("rescreen"), the token a live link.
    phase: str = Field(sa_column=Column(SecretText, nullable=False))
    role: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    couple_id: str | None = Field(default=None, max_length=64, index=True)
    invite_token: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    menu: int = 0
    asking: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    time_zone: str = Field(default="Europe/Amsterdam", max_length=64)
    country: str | None = Field(default=None, max_length=8)
    screened: int = 0
    checkin_at: str = Field(default="20:00", max_length=5)
    paused_until: datetime | None = Field(default=None, sa_column=_when())
    awaiting: str | None = Field(default=None, max_length=32)
    nudged_on: date | None = None
    flood_since: datetime | None = Field(default=None, sa_column=_when())
    flood_count: int = 0
    reachable: bool = True  # false after Telegram said the person blocked the bot
    created_at: datetime = Field(sa_column=_when(nullable=False))
    active_on: date = Field(default_factory=date.today)  # the last day they wrote or pressed: for retention


class CoupleRow(SQLModel, table=True):
    __tablename__ = "couples"

    id: str = Field(primary_key=True, max_length=64)
    member_a: int = Field(sa_column=Column(BigInteger, nullable=False))
    member_b: int = Field(sa_column=Column(BigInteger, nullable=False))
    started_at: datetime = Field(sa_column=_when(nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=_when())
    # The programme's state (exercise in progress, held texts, questions): JSON, encrypted.
    state: str = Field(sa_column=Column(SecretText, nullable=False))


class EntryRow(SQLModel, table=True):
    """The couple's journal: every text a partner (or their therapist) wrote, in order. Who may
    read each is in `entry_readers`, as the engine decided (dialogues.engine.audience)."""

    __tablename__ = "entries"
    __table_args__ = (Index("ix_entries_entry", "couple_id", "entry"),)

    id: int | None = Field(default=None, primary_key=True)
    couple_id: str = Field(max_length=64, index=True)
    author_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    exercise: str | None = Field(default=None, max_length=32)
    text: str = Field(sa_column=Column(SecretText, nullable=False))
    created_at: datetime = Field(sa_column=_when(nullable=False))
    entry: str = Field(default="", max_length=64)  # its name for the engine (Record.entry)
    held: str | None = Field(default=None, max_length=8)  # written out of turn: "turn" or "asked" (Record.held)


class ReaderRow(SQLModel, table=True):
    """Who may read a journal entry: its writer, and whoever the engine passed its text on to."""

    __tablename__ = "entry_readers"

    entry_id: int = Field(primary_key=True)  # entries.id; deleted with its entry (storage.privacy)
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False, index=True))


class CareRow(SQLModel, table=True):
    """A couple's therapist: the link, both partners' consent, and its status (dialogues.model.Care)."""

    __tablename__ = "cares"

    id: str = Field(primary_key=True, max_length=16)
    token: str = Field(max_length=64, unique=True)  # the link's keyed hash (storage.secret.link_hash)
    link: str = Field(sa_column=Column(SecretText, nullable=False))  # the link's token, to show it again
    couple_id: str = Field(max_length=64, index=True)
    requested_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=_when(nullable=False))
    status: str = Field(max_length=16)
    therapist_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, index=True))
    # As the therapist wrote them.
    name: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    practice: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    register_number: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    # The Telegram account that opened the link, as the partners are shown it.
    account_name: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    account_username: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    asked_at: datetime | None = Field(default=None, sa_column=_when())
    allowed_by: str = Field(default="[]", max_length=64)  # JSON list of partners' ids
    joined_at: datetime | None = Field(default=None, sa_column=_when())
    history_by: str = Field(default="[]", max_length=64)
    history: str | None = Field(default=None, max_length=8)
    ended_at: datetime | None = Field(default=None, sa_column=_when())


class InviteRow(SQLModel, table=True):
    __tablename__ = "invites"

    token: str = Field(primary_key=True, max_length=64)  # the link's keyed hash (storage.secret.link_hash)
    inviter_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    inviter_role: str = Field(sa_column=Column(SecretText, nullable=False))
    created_at: datetime = Field(sa_column=_when(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_when())
    # Who pressed "join" and waits for the inviter's yes, and their Telegram account as the inviter sees it.
    joiner_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    joiner_name: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    joiner_username: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))


class InboxRow(SQLModel, table=True):
    """Every update from Telegram, stored before Telegram is told it arrived."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_pending", "processed_at", "update_id"),)

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # The update as JSON, and who sent it; both are cleared once it is handled (the id stays, to
    # recognise a repeat delivery).
    payload: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, index=True))
    received_at: datetime = Field(sa_column=_when(nullable=False))
    processed_at: datetime | None = Field(default=None, sa_column=_when())
    attempts: int = 0
    # Why its last attempt failed, as a short kind ("unparseable", "failed: KeyError"), never content;
    # an update set aside after too many failures keeps it.
    failure: str | None = Field(default=None, max_length=64)


DUE = "held = false"  # written as storage.repo's query says it, so the database sees it implies this


class OutboxRow(SQLModel, table=True):
    """One Bot API call to make, written in the same transaction as the state it follows from. A queue,
    not a record: a call leaves it once Telegram accepted it, or refused it for good."""

    __tablename__ = "outbox"
    # The courier's query, "the oldest calls not held", finds them in this index, in order.
    __table_args__ = (
        Index("ix_outbox_due", "id", postgresql_where=text(DUE), sqlite_where=text(DUE.replace("false", "0"))),
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    method: str = Field(max_length=32)
    payload: str = Field(sa_column=Column(SecretText, nullable=False))  # the call's parameters as JSON
    created_at: datetime = Field(sa_column=_when(nullable=False))
    held: bool = Field(default=False, sa_column_kwargs={"server_default": false()})  # its reader blocked the bot


class ScheduleRow(SQLModel, table=True):
    """A moment to come back to someone: its next due time in UTC. One per (person, kind, key)."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("user_id", "kind", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=16)
    key: str = Field(default="", max_length=128)
    due_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False, index=True))


class MetaRow(SQLModel, table=True):
    """Small facts the bot keeps between runs, such as the getUpdates offset."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str
