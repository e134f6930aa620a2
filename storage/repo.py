"""Reading and writing what the bot keeps. Callers own the session and its transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, and_, bindparam, delete, exists, func, not_, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from dialogues.model import Couple, Invite, Person, Phase, Record, Role, World
from storage import codec
from dialogues.model import Care, CareStatus, Followed
from storage.models import CareRow
from storage.models import ScheduleRow, CoupleRow, EntryRow, InboxRow, InviteRow, MetaRow, OutboxRow, PersonRow

OFFSET_KEY = "polling_offset"


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


# Intake ------------------------------------------------------------------------------


def store_updates(engine: Engine, updates: list[dict], now: datetime, track_offset: bool = True) -> None:
    """Store fetched updates (and, for polling, the next offset) in one commit; an update seen
    twice is kept once. A webhook passes track_offset=False: it has no offset to keep."""
    if not updates:
        return
    rows = [
        {"update_id": u["update_id"], "payload": json.dumps(u), "user_id": _sender_id(u), "received_at": now, "attempts": 0}
        for u in updates
    ]
    offset = max(u["update_id"] for u in updates) + 1
    with Session(engine) as session:
        insert = _insert_ignoring_duplicates(engine, InboxRow)
        session.execute(insert, rows)
        if track_offset:
            row = session.get(MetaRow, OFFSET_KEY)
            if row is None:
                session.add(MetaRow(key=OFFSET_KEY, value=str(offset)))
            elif int(row.value) < offset:
                row.value = str(offset)
        session.commit()


def _sender_id(update: dict) -> int | None:
    for kind, value in update.items():
        if isinstance(value, dict) and isinstance(value.get("from"), dict):
            return value["from"].get("id")
    return None


def polling_offset(session: Session) -> int | None:
    value = session.get(MetaRow, OFFSET_KEY)
    return int(value.value) if value else None


def _insert_ignoring_duplicates(engine: Engine, model):
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing()


def pending_updates(session: Session, limit: int = 100) -> list[dict]:
    """Stored updates not yet handled, oldest first."""
    query = (
        select(InboxRow.payload)
        .where(InboxRow.processed_at.is_(None))
        .order_by(InboxRow.update_id)
        .limit(limit)
    )
    return [json.loads(payload) for payload in session.scalars(query)]


def claim_update(session: Session, update_id: int, now: datetime) -> bool:
    """Take an unprocessed update for this transaction and mark it done, in one statement: what it
    said and who sent it are forgotten, its id is kept against repeats. False if it was done already,
    or another process holds it (on PostgreSQL its row is locked, and SKIP LOCKED passes it by)."""
    unclaimed = (
        select(InboxRow.update_id)
        .where(InboxRow.update_id == update_id, InboxRow.processed_at.is_(None))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    query = update(InboxRow).where(InboxRow.update_id == unclaimed).values(processed_at=now, payload=None, user_id=None)
    return session.execute(query, execution_options={"synchronize_session": False}).rowcount > 0


def record_failure(engine: Engine, update_id: int, now: datetime, give_up_after: int) -> int:
    """Count a failed attempt; after too many the update is set aside (kept, not processed)."""
    with Session(engine) as session:
        row = session.get(InboxRow, update_id)
        row.attempts += 1
        if row.attempts >= give_up_after:
            row.processed_at = now
        session.commit()
        return row.attempts


# The world an event sees -------------------------------------------------------------


def load_world(session: Session, user_id: int, opened_token: str | None) -> World:
    """Everything one event may touch, locked for this transaction on PostgreSQL.

    Locks go couple first, then people in id order, so two processes serving the two
    partners of one couple wait for each other instead of deadlocking. A couple's care record
    (its therapist) is locked right after the couple, and the therapist with the people.
    """
    pointer = session.execute(select(PersonRow.phase, PersonRow.couple_id).where(PersonRow.user_id == user_id)).first()
    if (opened_token or "").startswith(THERAPIST_LINK) or (pointer and pointer.phase == Phase.THERAPIST.value):
        return _therapist_world(session, user_id, opened_token)
    couple_id = pointer.couple_id if pointer else None
    couple_row = session.scalars(select(CoupleRow).where(CoupleRow.id == couple_id).with_for_update()).first() if couple_id else None
    couple = _couple(couple_row) if couple_row else None
    invite = None
    if couple is None:
        token = opened_token or session.scalar(select(PersonRow.invite_token).where(PersonRow.user_id == user_id))
        invite_row = session.scalars(select(InviteRow).where(InviteRow.token == token).with_for_update()).first() if token else None
        invite = _invite(invite_row) if invite_row else None
    other = None
    if couple:
        other = couple.member_ids[1] if couple.member_ids[0] == user_id else couple.member_ids[0]
    elif invite and invite.inviter_id != user_id:
        other = invite.inviter_id
    care = _live_care(session, couple.id) if couple else None
    therapist_id = care.therapist_id if care else None
    ids = sorted({user_id, other, therapist_id} - {None})
    rows = session.scalars(select(PersonRow).where(PersonRow.user_id.in_(ids)).order_by(PersonRow.user_id).with_for_update()).all()
    _keep(session, couple_row, *rows)
    people = {row.user_id: _person(row) for row in rows}
    therapist = people.get(therapist_id) if therapist_id not in (None, user_id, other) else None
    return World(me=people.get(user_id), partner=people.get(other), couple=couple, invite=invite, therapist=therapist, care=care)


def _keep(session: Session, *rows) -> None:
    """Hold the rows an event loaded until its transaction ends. The session only keeps weak references,
    so without this, saving the world would read each of them again."""
    session.info.setdefault("loaded", []).extend(row for row in rows if row is not None)


def save_world(session: Session, world: World, now: datetime) -> None:
    for person in (world.me, world.partner, world.therapist, *world.members):
        if person:
            _save_person(session, person, now)
    if world.care:
        session.merge(_care_row(world.care))
    if world.couple:
        c = world.couple
        state = codec.dumps(c)
        row = session.get(CoupleRow, c.id)  # loaded with the world: no statement
        if row is None:
            row = CoupleRow(id=c.id, member_a=c.member_ids[0], member_b=c.member_ids[1], started_at=c.started_at)
            session.add(row)
        if row.state != state:  # unchanged, it is neither encrypted again nor written
            row.state = state
        if _utc(row.ended_at) != c.ended_at:
            row.ended_at = c.ended_at
    if world.invite:
        i = world.invite
        session.merge(
            InviteRow(token=i.token, inviter_id=i.inviter_id, inviter_role=i.inviter_role.value, created_at=i.created_at, used_at=i.used_at)
        )


# A couple's therapist (dialogues/therapist.py) -----------------------------------------------

THERAPIST_LINK = "th_"


def _therapist_world(session: Session, user_id: int, opened_token: str | None) -> World:
    """A therapist's own event, or anyone opening a therapist link.

    The couple is the one of the link being opened, else the one whose request the therapist is
    filling in, else the one they talk to now, as long as that couple still has them. Its
    partners (`members`) are loaded only then. Locks: couple, its care, then people in id order.
    """
    pointer = session.execute(select(PersonRow.invite_token, PersonRow.couple_id).where(PersonRow.user_id == user_id)).first()
    token = opened_token if opened_token and opened_token.startswith(THERAPIST_LINK) else None
    if token is None and pointer and (pointer.invite_token or "").startswith(THERAPIST_LINK):
        token = pointer.invite_token
    if token:
        found = session.execute(select(CareRow.id, CareRow.couple_id).where(CareRow.token == token.removeprefix(THERAPIST_LINK))).first()
    elif pointer and pointer.couple_id:
        found = session.execute(
            select(CareRow.id, CareRow.couple_id).where(
                CareRow.couple_id == pointer.couple_id,
                CareRow.therapist_id == user_id,
                CareRow.status == CareStatus.ACTIVE.value,
            )
        ).first()
    else:
        found = None
    couple_row = session.scalars(select(CoupleRow).where(CoupleRow.id == found.couple_id).with_for_update()).first() if found else None
    care_row = session.scalars(select(CareRow).where(CareRow.id == found.id).with_for_update()).first() if found else None
    couple = _couple(couple_row) if couple_row else None
    care = _care(care_row) if care_row else None
    members = [m for m in couple.member_ids if m != user_id] if couple and care else []
    therapist_id = care.therapist_id if care and care.therapist_id not in (None, user_id) else None
    ids = sorted({user_id, *members, therapist_id} - {None})
    rows = session.scalars(select(PersonRow).where(PersonRow.user_id.in_(ids)).order_by(PersonRow.user_id).with_for_update()).all()
    _keep(session, couple_row, care_row, *rows)
    people = {row.user_id: _person(row) for row in rows}
    return World(
        me=people.get(user_id),
        couple=couple,
        care=care,
        members=tuple(people[m] for m in members if m in people),
        therapist=people.get(therapist_id) if therapist_id else None,
        followed=_followed(session, user_id),
    )


def _live_care(session: Session, couple_id: str) -> Care | None:
    """The couple's open request or active therapist, locked; at most one is live at a time."""
    query = (
        select(CareRow)
        .where(CareRow.couple_id == couple_id, CareRow.status.in_([CareStatus.REQUESTED.value, CareStatus.ACTIVE.value]))
        .order_by(CareRow.created_at.desc())
        .limit(1)
        .with_for_update()
    )
    row = session.scalars(query).first()
    _keep(session, row)
    return _care(row) if row else None


def _followed(session: Session, therapist_id: int) -> tuple[Followed, ...]:
    """The couples a therapist follows now, with their partners' first names (read, not locked)."""
    couples = session.execute(
        select(CoupleRow.id, CoupleRow.member_a, CoupleRow.member_b)
        .join(CareRow, CareRow.couple_id == CoupleRow.id)
        .where(CareRow.therapist_id == therapist_id, CareRow.status == CareStatus.ACTIVE.value, CoupleRow.ended_at.is_(None))
        .order_by(CareRow.joined_at, CoupleRow.id)
    ).all()
    ids = {m for c in couples for m in (c.member_a, c.member_b)}
    names = dict(session.execute(select(PersonRow.user_id, PersonRow.first_name).where(PersonRow.user_id.in_(ids))).all()) if ids else {}
    return tuple(Followed(c.id, (names.get(c.member_a, ""), names.get(c.member_b, ""))) for c in couples)


def _care(row: CareRow) -> Care:
    return Care(
        id=row.id,
        token=row.token,
        couple_id=row.couple_id,
        requested_by=row.requested_by,
        created_at=_utc(row.created_at),
        status=CareStatus(row.status),
        therapist_id=row.therapist_id,
        name=row.name,
        practice=row.practice,
        register=row.register_number,
        asked_at=_utc(row.asked_at),
        allowed_by=tuple(json.loads(row.allowed_by)),
        joined_at=_utc(row.joined_at),
        history_by=tuple(json.loads(row.history_by)),
        history=row.history,
        ended_at=_utc(row.ended_at),
    )


def _care_row(c: Care) -> CareRow:
    return CareRow(
        id=c.id, token=c.token, couple_id=c.couple_id, requested_by=c.requested_by, created_at=c.created_at,
        status=c.status.value, therapist_id=c.therapist_id, name=c.name, practice=c.practice, register_number=c.register,
        asked_at=c.asked_at, allowed_by=json.dumps(list(c.allowed_by)), joined_at=c.joined_at,
        history_by=json.dumps(list(c.history_by)), history=c.history, ended_at=c.ended_at,
    )


def history(session: Session, couple_id: str, until: datetime) -> list[EntryRow]:
    """The couple's journal before `until` (when their therapist joined), oldest first."""
    query = select(EntryRow).where(EntryRow.couple_id == couple_id, EntryRow.created_at < until).order_by(EntryRow.id)
    return list(session.scalars(query))


def forget_cares(session: Session, user_id: int) -> None:
    """With /delete: a therapist's details go and their requests end; a partner's id leaves the
    consents (the couple's own record stays, naming nobody). Runs after the person's rows are erased."""
    for row in session.scalars(select(CareRow).where(CareRow.therapist_id == user_id)):
        row.name = row.practice = row.register_number = None
        row.therapist_id = 0
        if row.status in (CareStatus.REQUESTED.value, CareStatus.ACTIVE.value):
            row.status = CareStatus.LEFT.value
        session.add(row)
    for row in session.scalars(select(CareRow).where(CareRow.requested_by == user_id)):
        row.requested_by = 0
        session.add(row)
    for row in session.scalars(select(CareRow).where(or_(CareRow.allowed_by.contains(str(user_id)), CareRow.history_by.contains(str(user_id))))):
        row.allowed_by = json.dumps([m for m in json.loads(row.allowed_by) if m != user_id])
        row.history_by = json.dumps([m for m in json.loads(row.history_by) if m != user_id])
        session.add(row)


def _person(row: PersonRow) -> Person:
    return Person(
        user_id=row.user_id,
        first_name=row.first_name,
        language=row.language,
        phase=Phase(row.phase),
        role=Role(row.role) if row.role else None,
        couple_id=row.couple_id,
        invite_token=row.invite_token,
        menu=row.menu,
        asking=row.asking,
        time_zone=row.time_zone,
        country=row.country,
        screened=row.screened,
        checkin_at=row.checkin_at,
        paused_until=_utc(row.paused_until),
        awaiting=row.awaiting,
        nudged_on=row.nudged_on,
    )


def _save_person(session: Session, p: Person, now: datetime) -> None:
    row = session.get(PersonRow, p.user_id) or PersonRow(user_id=p.user_id, created_at=now)
    row.first_name, row.language, row.phase = p.first_name, p.language, p.phase.value
    row.role = p.role.value if p.role else None
    row.couple_id, row.invite_token, row.menu, row.asking = p.couple_id, p.invite_token, p.menu, p.asking
    row.time_zone, row.country, row.screened = p.time_zone, p.country, p.screened
    row.checkin_at, row.awaiting, row.nudged_on = p.checkin_at, p.awaiting, p.nudged_on
    if _utc(row.paused_until) != p.paused_until:  # SQLite reads it back naive: compared as UTC, not rewritten
        row.paused_until = p.paused_until
    session.add(row)


def record(session: Session, couple_id: str, entry: Record, now: datetime) -> None:
    session.add(EntryRow(couple_id=couple_id, author_id=entry.author_id, exercise=entry.exercise, text=entry.text, created_at=now))


def _couple(row: CoupleRow) -> Couple:
    return codec.loads(Couple, row.state)


def _invite(row: InviteRow) -> Invite:
    return Invite(
        token=row.token,
        inviter_id=row.inviter_id,
        inviter_role=Role(row.inviter_role),
        created_at=_utc(row.created_at),
        used_at=_utc(row.used_at),
    )


def set_reachable(session: Session, user_id: int, reachable: bool) -> bool:
    """True if this changed it (so a blocking is noticed once, however many messages bounce).

    A person loaded in this transaction (locked, by load_world) is changed on their row, so the
    usual case, someone writing who was reachable all along, costs no statement.
    """
    row = session.identity_map.get(session.identity_key(PersonRow, user_id))
    if row is not None:
        changed = row.reachable != reachable
        row.reachable = reachable
        return changed
    result = session.execute(
        update(PersonRow)
        .where(PersonRow.user_id == user_id, PersonRow.reachable == (not reachable))
        .values(reachable=reachable),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount > 0


# Outbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One Bot API call waiting in the outbox."""

    chat_id: int
    method: str
    params: dict


@dataclass(frozen=True)
class QueuedCall:
    id: int
    call: Call


def queue(session: Session, calls: list[Call], now: datetime) -> None:
    for call in calls:
        session.add(OutboxRow(chat_id=call.chat_id, method=call.method, payload=json.dumps(call.params), created_at=now))


def _due_calls_query():
    blocked = exists().where(and_(PersonRow.user_id == OutboxRow.chat_id, not_(PersonRow.reachable)))
    return (
        select(OutboxRow.id, OutboxRow.chat_id, OutboxRow.method, OutboxRow.payload)
        .where(OutboxRow.sent_at.is_(None), not_(blocked))
        .order_by(OutboxRow.id)
        .limit(bindparam("limit"))
    )


_DUE_CALLS = _due_calls_query()  # built once: building a statement costs more than running this one


def due_calls(session: Session, limit: int = 200) -> list[QueuedCall]:
    """Unsent calls in the order they were made, skipping people who blocked the bot.

    A chat's calls leave in this order: only a chat's first call here may be made (the courier
    keeps to that), so even with several processes delivering, the next becomes due only when
    this one is gone from the outbox.
    """
    rows = session.execute(_DUE_CALLS, {"limit": limit})
    return [QueuedCall(row.id, Call(row.chat_id, row.method, json.loads(row.payload))) for row in rows]


def lock_calls(session: Session, call_ids: list[int]) -> set[int]:
    """Claim unsent calls for this transaction: on PostgreSQL row locks that other processes skip
    (SKIP LOCKED), held while the calls are made and until they are marked sent. Returns the ids
    claimed; one already sent or in another process's hands is left out. (SQLite has one process;
    there it only checks.)"""
    query = (
        select(OutboxRow.id)
        .where(OutboxRow.id.in_(call_ids), OutboxRow.sent_at.is_(None))
        .with_for_update(skip_locked=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        # This transaction only records that calls went out. Its commit need not wait for the disk:
        # a crash of the bot loses nothing (the server has it), and a crash of the server itself can
        # only make a call go out again, which at-least-once allows. It narrows the window between
        # a send and its commit, the one place duplicates come from.
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    return set(session.scalars(query))


def replace_params(session: Session, call_id: int, params: dict) -> None:
    """What is left of a call that is sent in parts (a text Telegram found too long)."""
    session.execute(update(OutboxRow).where(OutboxRow.id == call_id).values(payload=json.dumps(params)))


def mark_sent(session: Session, call_ids: list[int]) -> None:
    """Delivered (or refused) calls leave the outbox: it is a queue, not a record. The journal
    (entries) keeps what people wrote; a rendered copy with names in it need not stay."""
    if call_ids:
        session.execute(delete(OutboxRow).where(OutboxRow.id.in_(call_ids)))


def count_unsent(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None))) or 0


def person_exists(session: Session, user_id: int) -> bool:
    return session.get(PersonRow, user_id) is not None


# Schedules ---------------------------------------------------------------------------


def schedule(session: Session, user_id: int, kind: str, key: str, at: datetime) -> None:
    """Set when to come back to someone; a later call for the same (person, kind, key) moves it."""
    row = session.scalars(
        select(ScheduleRow).where(ScheduleRow.user_id == user_id, ScheduleRow.kind == kind, ScheduleRow.key == key)
    ).first()
    if row:
        row.due_at = at
    else:
        row = ScheduleRow(user_id=user_id, kind=kind, key=key, due_at=at)
    session.add(row)


def due_schedule_ids(session: Session, now: datetime, limit: int = 200) -> list[int]:
    query = select(ScheduleRow.id).where(ScheduleRow.due_at <= now).order_by(ScheduleRow.due_at, ScheduleRow.id).limit(limit)
    return list(session.scalars(query))


def claim_schedule(session: Session, schedule_id: int, now: datetime) -> ScheduleRow | None:
    """Take one due row for this transaction: locked, so another process skips it; deleted on commit."""
    query = (
        select(ScheduleRow)
        .where(ScheduleRow.id == schedule_id, ScheduleRow.due_at <= now)
        .with_for_update(skip_locked=True)
    )
    row = session.scalars(query).first()
    if row is None:
        return None
    claimed = ScheduleRow(id=row.id, user_id=row.user_id, kind=row.kind, key=row.key, due_at=_utc(row.due_at))
    session.delete(row)
    session.flush()
    return claimed
