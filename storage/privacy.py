"""A person's data rights: a copy of everything about them, and erasing it; and key rotation."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

from sqlalchemy import Engine, Text, delete, or_, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col

from dialogues.model import Couple
from storage import codec, repo, secret
from storage.models import (
    CareRow,
    CoupleRow,
    EntryRow,
    InboxRow,
    InviteRow,
    MetaRow,
    OutboxRow,
    PersonRow,
    ReaderRow,
    ScheduleRow,
)
from storage.secret import SecretText

ERASED = 0  # stands in for an erased person's id where the partner's history needs a member
# A handled update's id (its content is gone) is kept this long, so a replay is recognised: Telegram
# keeps an unconfirmed update for up to 24 hours and may send it again meanwhile; a week is ample.
HANDLED_IDS_KEPT = timedelta(days=7)


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
            checkins=tuple(c for c in couple.checkins if c.user_id != user_id),  # the partner's own stay
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
    session.execute(  # an invite they opened and waited on: its inviter is told they left, when they answer
        update(InviteRow)
        .where(col(InviteRow.joiner_id) == user_id)
        .values(joiner_id=None, joiner_name=None, joiner_username=None)
    )
    session.execute(delete(InboxRow).where(col(InboxRow.user_id) == user_id))
    session.execute(delete(ScheduleRow).where(col(ScheduleRow.user_id) == user_id))
    # Calls to this person, and calls to former partners and their therapists that may quote them.
    therapists = set(
        session.scalars(
            select(col(CareRow.therapist_id)).where(
                col(CareRow.couple_id).in_([c.id for c in couples]), col(CareRow.therapist_id).is_not(None)
            )
        )
    )
    session.execute(delete(OutboxRow).where(col(OutboxRow.chat_id).in_({user_id, *partners, *therapists})))
    session.execute(delete(PersonRow).where(col(PersonRow.user_id) == user_id))


def purge(session: Session, now: datetime, retention_days: int) -> int:
    """Retention, table by table, `retention_days` after the last thing that needed a row:

    - couples that ended, with their journal and their consents (cares);
    - people who came last that long ago and are in no couple and follow none (never linked, screened
      "not safe", left): their person row, schedules, calls, updates and invites; no way back to them;
    - calls held for someone who blocked the bot;
    - invites used that long ago, or made that long ago and no longer live;
    - updates set aside; handled updates (only their id is left) after HANDLED_IDS_KEPT.
    Returns how many couples went."""
    cutoff = now - timedelta(days=retention_days)
    ended = session.scalars(
        select(col(CoupleRow.id)).where(col(CoupleRow.ended_at).is_not(None), col(CoupleRow.ended_at) < cutoff)
    ).all()
    if ended:
        journal = select(col(EntryRow.id)).where(col(EntryRow.couple_id).in_(ended))
        session.execute(delete(ReaderRow).where(col(ReaderRow.entry_id).in_(journal)))
        session.execute(delete(EntryRow).where(col(EntryRow.couple_id).in_(ended)))
        session.execute(delete(CareRow).where(col(CareRow.couple_id).in_(ended)))
        session.execute(delete(CoupleRow).where(col(CoupleRow.id).in_(ended)))
    member = select(col(CoupleRow.id)).where(
        or_(col(CoupleRow.member_a) == col(PersonRow.user_id), col(CoupleRow.member_b) == col(PersonRow.user_id))
    )
    following = select(col(CareRow.id)).where(col(CareRow.therapist_id) == col(PersonRow.user_id))
    gone = session.scalars(
        select(col(PersonRow.user_id)).where(
            col(PersonRow.active_on) < cutoff.date(), ~member.exists(), ~following.exists()
        )
    ).all()
    if gone:
        session.execute(delete(ScheduleRow).where(col(ScheduleRow.user_id).in_(gone)))
        session.execute(delete(OutboxRow).where(col(OutboxRow.chat_id).in_(gone)))
        session.execute(delete(InboxRow).where(col(InboxRow.user_id).in_(gone)))
        session.execute(delete(InviteRow).where(col(InviteRow.inviter_id).in_(gone)))
        session.execute(delete(PersonRow).where(col(PersonRow.user_id).in_(gone)))
    session.execute(delete(OutboxRow).where(col(OutboxRow.held), col(OutboxRow.created_at) < cutoff))
    session.execute(delete(InviteRow).where(col(InviteRow.used_at).is_not(None), col(InviteRow.used_at) < cutoff))
    _purge_dead_invites(session, cutoff)
    session.execute(
        delete(InboxRow).where(
            col(InboxRow.processed_at).is_not(None),
            col(InboxRow.processed_at) < now - HANDLED_IDS_KEPT,
            or_(col(InboxRow.payload).is_(None), col(InboxRow.processed_at) < cutoff),
        )
    )
    return len(ended)


def _purge_dead_invites(session: Session, cutoff: datetime) -> None:
    """Old unused invites whose maker no longer holds them (they made another, or stopped inviting):
    only these few makers' links are decrypted, to compare."""
    old = session.execute(
        select(col(InviteRow.token), col(PersonRow.invite_token))
        .outerjoin(PersonRow, col(PersonRow.user_id) == col(InviteRow.inviter_id))
        .where(col(InviteRow.used_at).is_(None), col(InviteRow.created_at) < cutoff)
    ).all()
    dead = [stored for stored, held in old if not held or stored not in secret.link_hashes(held)]
    if dead:
        session.execute(delete(InviteRow).where(col(InviteRow.token).in_(dead)))


CANARY_KEY = "key_canary"
CANARY = "Herstel keys fit"


def check_keys(engine: Engine) -> None:
    """At start, before any update is taken: the keys must decrypt what is stored. The proof is a known
    value stored encrypted in `meta` (written at the first start), or, in a database from before it, the
    newest stored text. Raises secret.KeysDoNotFit."""
    with Session(engine) as session:
        row = session.get(MetaRow, CANARY_KEY)
        sample = row.value if row else _newest_ciphertext(session)
        if sample is not None:
            try:
                secret.decrypt(sample)
            except secret.Undecryptable:
                raise secret.KeysDoNotFit(
                    "HERSTEL_ENCRYPTION_KEYS cannot decrypt what the database holds: start with the key it was "
                    "written with (first or among the others); nothing was taken in."
                ) from None
        if row is None:  # processes starting together may both write it: the first one stays
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            canary = {"key": CANARY_KEY, "value": secret.encrypt(CANARY)}
            session.execute(dialect.insert(MetaRow).values(canary).on_conflict_do_nothing())
            session.commit()


def _newest_ciphertext(session: Session) -> str | None:
    for column, order in (
        (col(CoupleRow.state), col(CoupleRow.started_at)),
        (col(OutboxRow.payload), col(OutboxRow.id)),
        (col(InboxRow.payload), col(InboxRow.update_id)),
    ):
        found = session.scalar(select(type_coerce(column, Text)).where(column.is_not(None)).order_by(order.desc()))
        if found is not None:
            return found
    return None


def _rehash_links(session: Session) -> None:
    """Link hashes follow the first key too (lookups try every key meanwhile): a care's from its sealed
    link, a live invite's from the people who hold it. One nobody holds is dead already."""
    for care_id, link in session.execute(select(col(CareRow.id), col(CareRow.link))).all():
        session.execute(update(CareRow).where(col(CareRow.id) == care_id).values(token=secret.link_hash(link)))
    held = session.scalars(select(col(PersonRow.invite_token)).where(col(PersonRow.invite_token).is_not(None))).all()
    for token in {t for t in held if t}:
        session.execute(
            update(InviteRow)
            .where(col(InviteRow.token).in_(secret.link_hashes(token)))
            .values(token=secret.link_hash(token))
        )


def rotate_keys(engine: Engine) -> int:
    """Re-encrypt every stored text (and the key canary) under the first key; returns how many texts changed."""
    changed = 0
    with Session(engine) as session:
        canary = session.get(MetaRow, CANARY_KEY)
        if canary is not None:
            canary.value = secret.rotate(canary.value)
        _rehash_links(session)
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
