"""A person's data rights: a copy of everything about them, and erasing it; and key rotation."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

from sqlalchemy import Engine, Text, delete, or_, select, type_coerce, update
from sqlmodel import Session, SQLModel, col

from dialogues.model import Couple
from storage import codec, secret
from storage.models import CareRow, CoupleRow, EntryRow, InboxRow, InviteRow, OutboxRow, PersonRow, ScheduleRow
from storage.secret import SecretText

ERASED = 0  # stands in for an erased person's id where the partner's history needs a member


def export(session: Session, user_id: int) -> dict:
    """Everything stored about one person: settings, links, what they wrote, what was shared with them."""
    person = session.get(PersonRow, user_id)
    couples = session.scalars(
        select(CoupleRow).where(or_(col(CoupleRow.member_a) == user_id, col(CoupleRow.member_b) == user_id))
    ).all()
    couple_ids = [c.id for c in couples]
    cares = session.scalars(
        select(CareRow).where(col(CareRow.couple_id).in_(couple_ids)).order_by(col(CareRow.created_at))
    ).all()
    entries = session.scalars(
        select(EntryRow)
        .where(or_(col(EntryRow.author_id) == user_id, col(EntryRow.couple_id).in_(couple_ids)))
        .order_by(col(EntryRow.id))
    ).all()
    return {
        "settings": {
            "first_name": person.first_name if person else None,
            "language": person.language if person else None,
            "country": person.country if person else None,
            "time_zone": person.time_zone if person else None,
            "role": person.role if person else None,
            "phase": person.phase if person else None,
            "since": person.created_at.isoformat() if person else None,
        },
        "links": [
            {"started": c.started_at.isoformat(), "ended": c.ended_at.isoformat() if c.ended_at else None}
            for c in couples
        ],
        "consents": [_consent(care, user_id) for care in cares],
        "written": [_entry(e) for e in entries if e.author_id == user_id],
        "shared_with_me": [_entry(e) for e in entries if e.author_id != user_id],
    }


def _consent(care: CareRow, user_id: int) -> dict:
    """This person's own choices about a therapist; the partner's choices are theirs, not listed."""
    return {
        "therapist": care.name,
        "practice": care.practice,
        "status": care.status,
        "you_allowed": user_id in json.loads(care.allowed_by),
        "you_shared_history": user_id in json.loads(care.history_by),
        "joined": care.joined_at.isoformat() if care.joined_at else None,
        "ended": care.ended_at.isoformat() if care.ended_at else None,
    }


def _entry(entry: EntryRow) -> dict:
    return {"at": entry.created_at.isoformat(), "exercise": entry.exercise, "text": entry.text}


def erase(session: Session, user_id: int) -> None:
    """Delete every row about a person. A partner's own history stays, naming nobody."""
    couples = session.scalars(
        select(CoupleRow).where(or_(col(CoupleRow.member_a) == user_id, col(CoupleRow.member_b) == user_id))
    ).all()
    partners = {c.member_b if c.member_a == user_id else c.member_a for c in couples}
    for row in couples:
        couple = codec.loads(Couple, row.state)
        members = tuple(ERASED if m == user_id else m for m in couple.member_ids)
        # The couple is over: drop what was in progress, which may hold this person's words.
        couple = dataclasses.replace(
            couple,
            member_ids=members,
            run=None,
            held=(),
            unsent=(),
            saved_questions=(),
            promises=(),
            plan=None,
            ended_at=couple.ended_at or row.ended_at or row.started_at,
        )
        row.member_a, row.member_b, row.state, row.ended_at = (
            members[0],
            members[1],
            codec.dumps(couple),
            couple.ended_at,
        )
        session.add(row)
    session.execute(delete(EntryRow).where(col(EntryRow.author_id) == user_id))
    session.execute(delete(InviteRow).where(col(InviteRow.inviter_id) == user_id))
    session.execute(delete(InboxRow).where(col(InboxRow.user_id) == user_id))
    session.execute(delete(ScheduleRow).where(col(ScheduleRow.user_id) == user_id))
    # Calls to this person, and calls to former partners that may quote them (rendered copies).
    session.execute(delete(OutboxRow).where(col(OutboxRow.chat_id).in_({user_id, *partners})))
    session.execute(delete(PersonRow).where(col(PersonRow.user_id) == user_id))


def purge(session: Session, now: datetime, ended_days: int) -> int:
    """Retention: couples that ended more than `ended_days` ago go, with their journal."""
    cutoff = now - timedelta(days=ended_days)
    ended = session.scalars(
        select(col(CoupleRow.id)).where(col(CoupleRow.ended_at).is_not(None), col(CoupleRow.ended_at) < cutoff)
    ).all()
    if ended:
        session.execute(delete(EntryRow).where(col(EntryRow.couple_id).in_(ended)))
        session.execute(delete(CoupleRow).where(col(CoupleRow.id).in_(ended)))
    session.execute(
        delete(InboxRow).where(
            col(InboxRow.processed_at).is_not(None), col(InboxRow.processed_at) < now - timedelta(days=2)
        )
    )
    return len(ended)


def rotate_keys(engine: Engine) -> int:
    """Re-encrypt every stored text under the first key; returns how many values changed."""
    changed = 0
    with Session(engine) as session:
        for table in SQLModel.metadata.sorted_tables:
            key = list(table.primary_key.columns)[0]
            for column in table.columns:
                if not isinstance(column.type, SecretText):
                    continue
                rows = session.execute(select(key, type_coerce(column, Text)).where(column.is_not(None))).all()
                for pk, token in rows:
                    session.execute(
                        update(table).where(key == pk).values({column.name: type_coerce(secret.rotate(token), Text)})
                    )
                    changed += 1
        session.commit()
    return changed
