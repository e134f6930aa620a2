"""A person's data rights: a copy of everything about them, and erasing it; and key rotation."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

from sqlalchemy import Engine, Text, delete, or_, select, type_coerce, update
from sqlmodel import Session, SQLModel, col

from dialogues.model import Couple
from storage import codec, repo, secret
from storage.models import (
    CareRow,
    CoupleRow,
    EntryRow,
    InboxRow,
    InviteRow,
    OutboxRow,
    PersonRow,
    ReaderRow,
    ScheduleRow,
)
from storage.secret import SecretText

ERASED = 0  # stands in for an erased person's id where the partner's history needs a member


def export(session: Session, user_id: int) -> dict:
    """Everything stored about one person: settings, links, check-ins, pauses, schedules, consents,
    what they wrote, and what reached them (as the engine decided: storage.repo.readable_by)."""
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
        .where(or_(col(EntryRow.author_id) == user_id, repo.readable_by(user_id)))
        .order_by(col(EntryRow.id))
    ).all()
    reached = _reached_others(session, [e.id for e in entries if e.author_id == user_id and e.id is not None], user_id)
    schedules = session.scalars(
        select(ScheduleRow).where(col(ScheduleRow.user_id) == user_id).order_by(col(ScheduleRow.due_at))
    ).all()
    return {
        "settings": {
            "first_name": person.first_name if person else None,
            "language": person.language if person else None,
            "country": person.country if person else None,
            "time_zone": person.time_zone if person else None,
            "role": person.role if person else None,
            "phase": person.phase if person else None,
            "checkin_at": person.checkin_at if person else None,
            "paused_until": _when(person.paused_until) if person else None,
            "since": _when(person.created_at) if person else None,
        },
        "links": [{"started": _when(c.started_at), "ended": _when(c.ended_at)} for c in couples],
        "checkins": [c for row in couples for c in _checkins(row, user_id)],
        "schedules": [{"kind": row.kind, "due": _when(row.due_at)} for row in schedules],
        "consents": [_consent(care, user_id) for care in cares],
        "written": [_entry(e) | {"reached_others": e.id in reached} for e in entries if e.author_id == user_id],
        "shared_with_me": [_entry(e) for e in entries if e.author_id != user_id],
    }


def _reached_others(session: Session, entry_ids: list[int], user_id: int) -> set[int]:
    if not entry_ids:
        return set()
    query = select(col(ReaderRow.entry_id)).where(
        col(ReaderRow.entry_id).in_(entry_ids), col(ReaderRow.user_id) != user_id
    )
    return set(session.scalars(query))


def _checkins(row: CoupleRow, user_id: int) -> list[dict]:
    """This person's own answers, and the partner's where both had answered (then both saw both)."""
    checkins = codec.loads(Couple, row.state).checkins
    done = {(c.user_id, c.day) for c in checkins if c.word is not None}
    shown = []
    for c in sorted(checkins, key=lambda c: (c.day, c.user_id != user_id)):
        mine = c.user_id == user_id
        both = {(m, c.day) for m in (row.member_a, row.member_b)} <= done
        if mine or both:
            shown.append({"day": c.day.isoformat(), "mine": mine, "score": c.score, "word": c.word})
    return shown


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _consent(care: CareRow, user_id: int) -> dict:
    """This person's own choices about a therapist; the partner's choices are theirs, not listed."""
    return {
        "therapist": care.name,
        "practice": care.practice,
        "status": care.status,
        "you_allowed": user_id in json.loads(care.allowed_by),
        "you_shared_history": user_id in json.loads(care.history_by),
        "joined": _when(care.joined_at),
        "ended": _when(care.ended_at),
    }


def _entry(entry: EntryRow) -> dict:
    return {"at": _when(entry.created_at), "exercise": entry.exercise, "text": entry.text, "held": entry.held}


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
            choosing=(),
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
    written = select(col(EntryRow.id)).where(col(EntryRow.author_id) == user_id)
    session.execute(
        delete(ReaderRow).where(or_(col(ReaderRow.user_id) == user_id, col(ReaderRow.entry_id).in_(written)))
    )
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
        journal = select(col(EntryRow.id)).where(col(EntryRow.couple_id).in_(ended))
        session.execute(delete(ReaderRow).where(col(ReaderRow.entry_id).in_(journal)))
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
