"""The tables. Telegram ids need 64 bits; every text a person wrote is a SecretText."""

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
    phase: str = Field(max_length=32)
    role: str | None = Field(default=None, max_length=16)
    couple_id: str | None = Field(default=None, max_length=64, index=True)
    invite_token: str | None = Field(default=None, max_length=64)
    menu: int = 0
    asking: str | None = Field(default=None, max_length=32)
    time_zone: str = Field(default="Europe/Amsterdam", max_length=64)
    country: str | None = Field(default=None, max_length=8)
    screened: int = 0
    checkin_at: str = Field(default="20:00", max_length=5)
    paused_until: datetime | None = Field(default=None, sa_column=_when())
    awaiting: str | None = Field(default=None, max_length=32)
    nudged_on: date | None = None
    reachable: bool = True  # false after Telegram said the person blocked the bot
    created_at: datetime = Field(sa_column=_when(nullable=False))


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
    """The couple's journal: every text a partner wrote to the other, in order."""

    __tablename__ = "entries"

    id: int | None = Field(default=None, primary_key=True)
    couple_id: str = Field(max_length=64, index=True)
    author_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    exercise: str | None = Field(default=None, max_length=32)
    text: str = Field(sa_column=Column(SecretText, nullable=False))
    created_at: datetime = Field(sa_column=_when(nullable=False))


class CareRow(SQLModel, table=True):
    """A couple's therapist: the link, both partners' consent, and its status (dialogues.model.Care)."""

    __tablename__ = "cares"

    id: str = Field(primary_key=True, max_length=16)
    token: str = Field(max_length=64, unique=True)
    couple_id: str = Field(max_length=64, index=True)
    requested_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(sa_column=_when(nullable=False))
    status: str = Field(max_length=16)
    therapist_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, index=True))
    # As the therapist wrote them.
    name: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    practice: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    register_number: str | None = Field(default=None, sa_column=Column(SecretText, nullable=True))
    asked_at: datetime | None = Field(default=None, sa_column=_when())
    allowed_by: str = Field(default="[]", max_length=64)  # JSON list of partners' ids
    joined_at: datetime | None = Field(default=None, sa_column=_when())
    history_by: str = Field(default="[]", max_length=64)
    history: str | None = Field(default=None, max_length=8)
    ended_at: datetime | None = Field(default=None, sa_column=_when())


class InviteRow(SQLModel, table=True):
    __tablename__ = "invites"

    token: str = Field(primary_key=True, max_length=64)
    inviter_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    inviter_role: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=_when(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_when())


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
