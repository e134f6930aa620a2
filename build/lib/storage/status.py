"""An operator's view of a running Herstel: how much is waiting and how old it is, never whose or what.

Every figure is a count, an age or a kind: no name, id or text leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, Select, func, inspect, select, update
from sqlmodel import Session, col

from storage.db import current_revision
from storage.models import CoupleRow, InboxRow, MetaRow, OutboxRow, PersonRow, ScheduleRow

CONTACT_KEY = "last_contact"  # when Telegram last answered getUpdates or delivered to the webhook
FAILURE_COLUMN = "failure"  # the short reason kind an update was set aside for, once the inbox has it


@dataclass(frozen=True)
class Status:
    people: int
    couples: int  # linked now (not ended)
    therapists: int
    pending_updates: int
    oldest_pending_seconds: float | None
    set_aside: dict[str, int]  # reason kind -> updates
    outbox: int  # calls waiting to be made
    held_calls: int  # of those, held for people who blocked the bot
    oldest_call_seconds: float | None
    overdue_schedules: int
    oldest_overdue_seconds: float | None
    last_contact: datetime | None
    database: str  # "sqlite" or "postgresql"
    revision: str | None


def _set_aside() -> ColumnElement[bool]:
    # record_failure marks a given-up update processed but leaves its payload; a handled one has none.
    return col(InboxRow.processed_at).is_not(None) & col(InboxRow.payload).is_not(None)


def _age(now: datetime, moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (now - moment).total_seconds())


def has_failure_column(engine: Engine) -> bool:
    return FAILURE_COLUMN in {c["name"] for c in inspect(engine).get_columns("inbox")}


def read(engine: Engine, now: datetime) -> Status:
    with Session(engine) as session:

        def one(query: Select[*tuple[Any, ...]]) -> Row[*tuple[Any, ...]]:
            return session.execute(query).one()

        people, therapists = one(
            select(func.count(), func.count().filter(col(PersonRow.phase) == "therapist")).select_from(PersonRow)
        )
        couples = (
            session.scalar(select(func.count()).select_from(CoupleRow).where(col(CoupleRow.ended_at).is_(None))) or 0
        )
        pending, oldest_pending = one(
            select(func.count(), func.min(InboxRow.received_at)).where(col(InboxRow.processed_at).is_(None))
        )
        if has_failure_column(engine):
            reason = InboxRow.__table__.c[FAILURE_COLUMN]  # type: ignore[attr-defined]
            rows = session.execute(
                select(func.coalesce(reason, "unknown"), func.count()).where(_set_aside()).group_by(reason)
            )
            set_aside = {str(kind): count for kind, count in rows}
        else:
            count = session.scalar(select(func.count()).select_from(InboxRow).where(_set_aside())) or 0
            set_aside = {"unknown": count} if count else {}
        outbox, held, oldest_call = one(
            select(func.count(), func.count().filter(col(OutboxRow.held)), func.min(OutboxRow.created_at)).select_from(
                OutboxRow
            )
        )
        overdue, oldest_due = one(
            select(func.count(), func.min(ScheduleRow.due_at)).where(col(ScheduleRow.due_at) <= now)
        )
        contact = session.get(MetaRow, CONTACT_KEY)
    return Status(
        people=people,
        couples=couples,
        therapists=therapists,
        pending_updates=pending,
        oldest_pending_seconds=_age(now, oldest_pending),
        set_aside=set_aside,
        outbox=outbox,
        held_calls=held,
        oldest_call_seconds=_age(now, oldest_call),
        overdue_schedules=overdue,
        oldest_overdue_seconds=_age(now, oldest_due),
        last_contact=datetime.fromisoformat(contact.value) if contact else None,
        database=engine.dialect.name,
        revision=current_revision(engine),
    )


def retry(engine: Engine) -> int:
    """Put every set-aside update back in line (after a fix, or a key brought back); returns how many."""
    values: dict[str, object] = {"processed_at": None, "attempts": 0}
    if has_failure_column(engine):
        values[FAILURE_COLUMN] = None
    with Session(engine) as session:
        done = session.connection().execute(update(InboxRow).where(_set_aside()).values(**values)).rowcount
        session.commit()
    return int(done)


def note_contact(engine: Engine, at: datetime) -> None:
    """Keep when Telegram was last heard from, for `herstel status` in another process."""
    with Session(engine) as session:
        row = session.get(MetaRow, CONTACT_KEY)
        if row is None:
            session.add(MetaRow(key=CONTACT_KEY, value=at.isoformat()))
        else:
            row.value = at.isoformat()
        session.commit()


def describe(status: Status, now: datetime) -> str:
    """The lines `herstel status` prints."""

    def age(seconds: float | None) -> str:
        if seconds is None:
            return "-"
        if seconds < 120:
            return f"{seconds:.0f} s"
        if seconds < 7200:
            return f"{seconds / 60:.0f} min"
        return f"{seconds / 3600:.1f} h"

    aside = ", ".join(f"{count} {kind}" for kind, count in sorted(status.set_aside.items())) or "none"
    contact = "never" if status.last_contact is None else f"{age(_age(now, status.last_contact))} ago"
    return "\n".join(
        [
            f"database        {status.database}, migration {status.revision or 'none'}",
            f"people          {status.people} ({status.therapists} therapists), {status.couples} couples linked",
            f"updates         {status.pending_updates} pending, oldest {age(status.oldest_pending_seconds)}",
            f"set aside       {aside}" + ("  (herstel retry puts them back in line)" if status.set_aside else ""),
            f"outbox          {status.outbox} calls, {status.held_calls} held for unreachable people, "
            f"oldest {age(status.oldest_call_seconds)}",
            f"schedules       {status.overdue_schedules} overdue, oldest {age(status.oldest_overdue_seconds)}",
            f"telegram        last heard from {contact}",
        ]
    )
