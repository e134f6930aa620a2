"""Reading and writing what the bot keeps. Callers own the session and its transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import overload

from sqlalchemy import (
    Engine,
    Row,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col

from dialogues.model import Care, CareStatus, Couple, Followed, Invite, Person, Phase, Record, Role, World
from storage import codec, secret
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

OFFSET_KEY = "polling_offset"


@overload
def _utc(moment: datetime) -> datetime: ...
@overload
def _utc(moment: datetime | None) -> datetime | None: ...
def _utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


# Intake ------------------------------------------------------------------------------


def store_updates(engine: Engine, updates: list[dict], now: datetime, track_offset: bool = True) -> None:
    """Store fetched updates (and, for polling, the next offset) in one commit; an update seen
    twice is kept once. A webhook passes track_offset=False: it has no offset to keep."""
    if not updates:
        return
    rows = [
        {
            "update_id": u["update_id"],
            "payload": json.dumps(u),
            "user_id": sender_id(u),
            "received_at": now,
            "attempts": 0,
        }
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


def sender_id(update: dict) -> int | None:
    for value in update.values():
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
    """Stored updates not yet handled, oldest first (to look at; the worker takes `next_updates`)."""
    query = (
        select(col(InboxRow.payload))
        .where(col(InboxRow.processed_at).is_(None))
        .order_by(col(InboxRow.update_id))
        .limit(limit)
    )
    return [json.loads(payload) for payload in session.scalars(query) if payload is not None]


@dataclass(frozen=True)
class Pending:
    update_id: int
    user_id: int | None
    payload: str  # the update as stored (JSON): parsing it is the worker's, and may fail


def next_updates(session: Session, limit: int = 500) -> list[Pending]:
    """The oldest pending update of each sender, oldest first: one turn each, however many one
    person has waiting (their next becomes theirs once this one is done). An update without a
    sender stands alone."""
    rows = session.connection().execute(_NEXT_UPDATES, {"limit": limit})
    return [Pending(row.update_id, row.user_id, row.payload) for row in rows]


def claim_update(session: Session, update_id: int, now: datetime) -> bool:
    """Take an unprocessed update for this transaction and mark it done, in one statement: what it
    said and who sent it are forgotten, its id is kept against repeats. False if it was done already,
    or another process holds it (on PostgreSQL its row is locked, and SKIP LOCKED passes it by)."""
    return session.connection().execute(_CLAIM_UPDATE, {"claimed": update_id, "now": now}).rowcount > 0


def record_failure(engine: Engine, update_id: int, now: datetime, give_up_after: int, kind: str) -> int:
    """Count a failed attempt and its kind (never content); after too many the update is set aside
    (kept, not processed). Returns the attempts so far (0: the update was done meanwhile)."""
    with Session(engine) as session:
        row = session.get(InboxRow, update_id)
        if row is None or row.processed_at is not None:
            return 0
        row.attempts += 1
        row.failure = kind[:64]
        if row.attempts >= give_up_after:
            row.processed_at = now
        session.commit()
        return row.attempts


def set_aside(session: Session) -> list[tuple[int, str | None]]:
    """Updates given up on after failing: (update_id, why), oldest first."""
    query = (
        select(col(InboxRow.update_id), col(InboxRow.failure))
        .where(col(InboxRow.processed_at).is_not(None), col(InboxRow.payload).is_not(None))
        .order_by(col(InboxRow.update_id))
    )
    return [(row.update_id, row.failure) for row in session.execute(query)]


# The world an event sees -------------------------------------------------------------


def load_world(session: Session, user_id: int, opened_token: str | None) -> World:
    """Everything one event may touch, locked for this transaction on PostgreSQL.

    Locks go couple first, then people in id order, so two processes serving the two
    partners of one couple wait for each other instead of deadlocking. A couple's care record
    (its therapist) is locked right after the couple, and the therapist with the people.
    """
    db = session.connection()
    pointer = db.execute(_POINTER, {"user_id": user_id}).first()
    if (opened_token or "").startswith(THERAPIST_LINK) or (pointer and pointer.phase == Phase.THERAPIST.value):
        return _therapist_world(session, user_id, opened_token, pointer)
    couple = _load_couple(session, pointer.couple_id) if pointer and pointer.couple_id else None
    invite = None
    if couple is None:
        token = opened_token or (pointer.invite_token if pointer else None)
        invite_row = db.execute(_INVITE, {"tokens": secret.link_hashes(token)}).first() if token else None
        if token and invite_row:
            invite = _invite(invite_row, token)
            loaded = _loaded(session)
            loaded[("invites", invite_row.token)] = _invite_values(invite, invite_row.token)
            loaded[("invite_hash", invite.token)] = invite_row.token  # as stored: under the first key, or an older one
    other = None
    if couple:
        other = couple.member_ids[1] if couple.member_ids[0] == user_id else couple.member_ids[0]
    elif invite and invite.inviter_id != user_id:
        other = invite.inviter_id
    elif invite:  # the inviter: whoever opened their link and waits for their answer
        other = invite.joiner_id
    care = _live_care(session, couple.id) if couple else None
    therapist_id = care.therapist_id if care else None
    people = _load_people(session, {user_id, other, therapist_id})
    therapist = None if therapist_id is None or therapist_id in (user_id, other) else people.get(therapist_id)
    return World(
        me=people.get(user_id),
        partner=None if other is None else people.get(other),
        couple=couple,
        invite=invite,
        therapist=therapist,
        care=care,
    )


# What a transaction loaded, as it would be written back: saving the world writes only what changed
# (and nothing at all for a row unchanged), and inserts only what it did not load.


def _loaded(session: Session) -> dict:
    """Values as this transaction loaded or wrote them; a new transaction starts with none."""
    session.connection()  # begins the transaction if none has begun
    transaction = session.get_transaction()
    kept = session.info.get("loaded")
    if kept is None or kept[0] is not transaction:
        kept = session.info["loaded"] = (transaction, {})
    return kept[1]


def _load_couple(session: Session, couple_id: str) -> Couple | None:
    row = session.connection().execute(_COUPLE, {"id": couple_id}).first()
    if row is None:
        return None
    _loaded(session)[("couples", row.id)] = {"id": row.id, "state": row.state, "ended_at": _utc(row.ended_at)}
    return _couple(row)


def _load_people(session: Session, ids: set) -> dict[int, Person]:
    rows = session.connection().execute(_PEOPLE, {"ids": sorted(ids - {None})}).all()
    loaded = _loaded(session)
    people = {}
    for row in rows:
        person = people[row.user_id] = _person(row)
        loaded[("people", row.user_id)] = _person_values(person)
        loaded[("reachable", row.user_id)] = row.reachable
        loaded[("active", row.user_id)] = row.active_on
    return people


def _load_care(session: Session, statement, params: dict) -> Care | None:
    row = session.connection().execute(statement, params).first()
    if row is None:
        return None
    care = _care(row)
    _loaded(session)[("cares", care.id)] = _care_values(care)
    return care


def save_world(session: Session, world: World, now: datetime) -> None:
    for person in (world.me, world.partner, world.therapist, *world.members):
        if person:
            _write(
                session,
                _people,
                "user_id",
                _person_values(person),
                {"created_at": now, "reachable": True, "active_on": now.date()},
            )
    if world.care:
        _write(session, _cares, "id", _care_values(world.care))
    if world.couple:
        c = world.couple
        values = {"id": c.id, "state": codec.dumps(c), "ended_at": c.ended_at}
        _write(
            session,
            _couples,
            "id",
            values,
            {"member_a": c.member_ids[0], "member_b": c.member_ids[1], "started_at": c.started_at},
        )
    for invite in (world.voided, world.invite):  # a link the inviter refused, beside their fresh one
        if invite:
            stored = _loaded(session).get(("invite_hash", invite.token)) or secret.link_hash(invite.token)
            _write(session, _invites, "token", _invite_values(invite, stored))


def mark_active(session: Session, user_id: int, now: datetime) -> None:
    """The person wrote or pressed today: retention counts from their last active day. One statement a
    day at most (a person loaded in this transaction has their day known)."""
    loaded = _loaded(session)
    if loaded.get(("active", user_id)) == now.date():
        return
    session.connection().execute(_MARK_ACTIVE, {"person": user_id, "today": now.date()})
    loaded[("active", user_id)] = now.date()


def _write(session: Session, table, key: str, values: dict, on_insert: dict | None = None) -> None:
    """A row as `values` says: nothing if it is what was loaded, an update if it was loaded, else an
    insert (or, if it is there after all, an update). `on_insert` holds what only a new row gets."""
    loaded = _loaded(session)
    known = loaded.get((table.name, values[key]))
    if known == values:
        return
    db = session.connection()
    if known is not None:
        params = {k: v for k, v in values.items() if k != key}
        db.execute(_statement(db, "update", table, key), {**params, f"_{key}": values[key]})
    else:
        db.execute(_statement(db, "upsert", table, key), {**(on_insert or {}), **values})
    loaded[(table.name, values[key])] = values


# A couple's therapist (dialogues/therapist.py) -----------------------------------------------

THERAPIST_LINK = "th_"


def _therapist_world(session: Session, user_id: int, opened_token: str | None, pointer) -> World:
    """A therapist's own event, or anyone opening a therapist link.

    The couple is the one of the link being opened, else the one whose request the therapist is
    filling in, else the one they talk to now, as long as that couple still has them. Its
    partners (`members`) are loaded only then. Locks: couple, its care, then people in id order.
    """
    token = opened_token if opened_token and opened_token.startswith(THERAPIST_LINK) else None
    if token is None and pointer and (pointer.invite_token or "").startswith(THERAPIST_LINK):
        token = pointer.invite_token
    if token:
        found = session.execute(
            select(col(CareRow.id), col(CareRow.couple_id)).where(
                col(CareRow.token).in_(secret.link_hashes(token.removeprefix(THERAPIST_LINK)))
            )
        ).first()
    elif pointer and pointer.couple_id:
        found = session.execute(
            select(col(CareRow.id), col(CareRow.couple_id)).where(
                CareRow.couple_id == pointer.couple_id,
                col(CareRow.therapist_id) == user_id,
                col(CareRow.status) == CareStatus.ACTIVE.value,
            )
        ).first()
    else:
        found = None
    couple = _load_couple(session, found.couple_id) if found else None
    care = _load_care(session, _CARE, {"id": found.id}) if found else None
    members = [m for m in couple.member_ids if m != user_id] if couple and care else []
    therapist_id = care.therapist_id if care and care.therapist_id not in (None, user_id) else None
    people = _load_people(session, {user_id, *members, therapist_id})
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
    return _load_care(session, _LIVE_CARE, {"couple_id": couple_id})


def _followed(session: Session, therapist_id: int) -> tuple[Followed, ...]:
    """The couples a therapist follows now, with their partners' first names (read, not locked)."""
    couples = session.execute(
        select(col(CoupleRow.id), col(CoupleRow.member_a), col(CoupleRow.member_b))
        .join(CareRow, col(CareRow.couple_id) == col(CoupleRow.id))
        .where(
            col(CareRow.therapist_id) == therapist_id,
            col(CareRow.status) == CareStatus.ACTIVE.value,
            col(CoupleRow.ended_at).is_(None),
        )
        .order_by(col(CareRow.joined_at), col(CoupleRow.id))
    ).all()
    ids = {m for c in couples for m in (c.member_a, c.member_b)}
    names = (
        dict(
            session.execute(
                select(col(PersonRow.user_id), col(PersonRow.first_name)).where(col(PersonRow.user_id).in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    return tuple(Followed(c.id, (names.get(c.member_a, ""), names.get(c.member_b, ""))) for c in couples)


def _care(row: CareRow | Row) -> Care:
    return Care(
        id=row.id,
        token=row.link,
        couple_id=row.couple_id,
        requested_by=row.requested_by,
        created_at=_utc(row.created_at),
        status=CareStatus(row.status),
        therapist_id=row.therapist_id,
        name=row.name,
        practice=row.practice,
        register=row.register_number,
        account_name=row.account_name or "",
        account_username=row.account_username or "",
        asked_at=_utc(row.asked_at),
        allowed_by=tuple(json.loads(row.allowed_by)),
        joined_at=_utc(row.joined_at),
        history_by=tuple(json.loads(row.history_by)),
        history=row.history,
        ended_at=_utc(row.ended_at),
    )


def _care_values(c: Care) -> dict:
    return {
        "id": c.id,
        "token": secret.link_hash(c.token),
        "link": c.token,
        "couple_id": c.couple_id,
        "requested_by": c.requested_by,
        "created_at": c.created_at,
        "status": c.status.value,
        "therapist_id": c.therapist_id,
        "name": c.name,
        "practice": c.practice,
        "register_number": c.register,
        "account_name": c.account_name or None,
        "account_username": c.account_username or None,
        "asked_at": c.asked_at,
        "allowed_by": json.dumps(list(c.allowed_by)),
        "joined_at": c.joined_at,
        "history_by": json.dumps(list(c.history_by)),
        "history": c.history,
        "ended_at": c.ended_at,
    }


def history(session: Session, couple_id: str, until: datetime, partners: tuple[int, ...]) -> list[EntryRow]:
    """What reached both partners before `until` (when their therapist joined), oldest first."""
    query = select(EntryRow).where(col(EntryRow.couple_id) == couple_id, col(EntryRow.created_at) < until)
    for partner in partners:
        query = query.where(readable_by(partner))
    return list(session.scalars(query.order_by(col(EntryRow.id))))


def readable_by(user_id: int):
    """The journal entries this person may read, as the engine decided: a condition on EntryRow."""
    return exists().where(col(ReaderRow.entry_id) == col(EntryRow.id), col(ReaderRow.user_id) == user_id)


def forget_cares(session: Session, user_id: int) -> None:
    """With /delete: a therapist's details go and their requests end; a partner's id leaves the
    consents (the couple's own record stays, naming nobody). Runs after the person's rows are erased."""
    for row in session.scalars(select(CareRow).where(col(CareRow.therapist_id) == user_id)):
        row.name = row.practice = row.register_number = row.account_name = row.account_username = None
        row.therapist_id = 0
        if row.status in (CareStatus.REQUESTED.value, CareStatus.ACTIVE.value):
            row.status = CareStatus.LEFT.value
        session.add(row)
    for row in session.scalars(select(CareRow).where(col(CareRow.requested_by) == user_id)):
        row.requested_by = 0
        session.add(row)
    for row in session.scalars(
        select(CareRow).where(
            or_(col(CareRow.allowed_by).contains(str(user_id)), col(CareRow.history_by).contains(str(user_id)))
        )
    ):
        row.allowed_by = json.dumps([m for m in json.loads(row.allowed_by) if m != user_id])
        row.history_by = json.dumps([m for m in json.loads(row.history_by) if m != user_id])
        session.add(row)


def _person(row: PersonRow | Row) -> Person:
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
        flood_since=_utc(row.flood_since),
        flood_count=row.flood_count,
    )


def _person_values(p: Person) -> dict:
    return {
        "user_id": p.user_id,
        "first_name": p.first_name,
        "language": p.language,
        "phase": p.phase.value,
        "role": p.role.value if p.role else None,
        "couple_id": p.couple_id,
        "invite_token": p.invite_token,
        "menu": p.menu,
        "asking": p.asking,
        "time_zone": p.time_zone,
        "country": p.country,
        "screened": p.screened,
        "checkin_at": p.checkin_at,
        "paused_until": p.paused_until,
        "awaiting": p.awaiting,
        "nudged_on": p.nudged_on,
        "flood_since": p.flood_since,
        "flood_count": p.flood_count,
    }


def record(session: Session, couple_id: str, entry: Record, now: datetime) -> None:
    """A new journal entry, readable by its writer alone; an entry already there (the engine names
    it again) only takes the new held mark."""
    connection = session.connection()
    if entry.entry:
        found = connection.execute(_ENTRY_IDS, {"couple": couple_id, "entry": entry.entry}).scalars().all()
        if found:
            connection.execute(update(_entries).where(_entries.c.id.in_(found)).values(held=entry.held))
            return
    values = {
        "couple_id": couple_id,
        "author_id": entry.author_id,
        "exercise": entry.exercise,
        "text": entry.text,
        "created_at": now,
        "entry": entry.entry,
        "held": entry.held,
    }
    inserted = connection.execute(_INSERT_ENTRY, values).inserted_primary_key
    assert inserted is not None
    entry_id = inserted[0]
    connection.execute(_INSERT_READER, {"entry_id": entry_id, "user_id": entry.author_id})


def widen(session: Session, couple_id: str, entry: str, readers: tuple[int, ...]) -> None:
    """The engine passed this entry on to `readers` (dialogues.model.Widen)."""
    ids = session.connection().execute(_ENTRY_IDS, {"couple": couple_id, "entry": entry}).scalars().all()
    _add_readers(session, ids, readers)


def _add_readers(session: Session, entry_ids, readers) -> None:
    if not entry_ids or not readers:
        return
    connection = session.connection()
    there = set(
        connection.execute(
            select(_readers.c.entry_id, _readers.c.user_id).where(
                _readers.c.entry_id.in_(entry_ids), _readers.c.user_id.in_(readers)
            )
        ).all()
    )
    missing = [{"entry_id": e, "user_id": r} for e in entry_ids for r in readers if (e, r) not in there]
    if missing:
        connection.execute(_INSERT_READER, missing)


def pass_on_held(session: Session, couple_id: str, author_id: int, held: str, readers: tuple[int, ...]) -> list[str]:
    """The texts `author_id` wrote out of turn with this mark, in order: readable by `readers` now, held no more."""
    rows = session.execute(
        select(col(EntryRow.id), col(EntryRow.text))
        .where(col(EntryRow.couple_id) == couple_id, col(EntryRow.author_id) == author_id, col(EntryRow.held) == held)
        .order_by(col(EntryRow.id))
    ).all()
    ids = [row.id for row in rows]
    if ids:
        session.connection().execute(update(_entries).where(_entries.c.id.in_(ids)).values(held=None))
        _add_readers(session, ids, readers)
    return [row.text for row in rows]


def settle(session: Session, couple_id: str, author_id: int, held: str, becomes: str | None) -> None:
    session.connection().execute(
        update(_entries)
        .where(_entries.c.couple_id == couple_id, _entries.c.author_id == author_id, _entries.c.held == held)
        .values(held=becomes)
    )


def _couple(row: CoupleRow | Row) -> Couple:
    return codec.loads(Couple, row.state)


def _invite(row, token: str) -> Invite:
    """The invite found by the hash of `token`, the link that was opened (only its hash is stored)."""
    return Invite(
        token=token,
        inviter_id=row.inviter_id,
        inviter_role=Role(row.inviter_role),
        created_at=_utc(row.created_at),
        used_at=_utc(row.used_at),
        joiner_id=row.joiner_id,
        joiner_name=row.joiner_name or "",
        joiner_username=row.joiner_username or "",
    )


def _invite_values(i: Invite, stored_hash: str) -> dict:
    return {
        "token": stored_hash,
        "inviter_id": i.inviter_id,
        "inviter_role": i.inviter_role.value,
        "created_at": i.created_at,
        "used_at": i.used_at,
        "joiner_id": i.joiner_id,
        "joiner_name": i.joiner_name or None,
        "joiner_username": i.joiner_username or None,
    }


def set_reachable(session: Session, user_id: int, reachable: bool) -> bool:
    """True if this changed it (so a blocking is noticed once, however many messages bounce).

    For a person loaded in this transaction (locked, by load_world) the loaded value is known, so
    the usual case, someone writing who was reachable all along, costs no statement.
    """
    loaded = _loaded(session)
    if loaded.get(("reachable", user_id)) == reachable:
        return False
    db = session.connection()
    changed = db.execute(_SET_REACHABLE, {"person": user_id, "was": not reachable, "to": reachable}).rowcount > 0
    if changed:  # their calls wait, or go on
        db.execute(_HOLD_CALLS, {"chat": user_id, "hold": not reachable})
    if changed or ("reachable", user_id) in loaded:
        loaded[("reachable", user_id)] = reachable
    return changed


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
    if calls:
        loaded = _loaded(session)
        rows = [
            {
                "chat_id": c.chat_id,
                "method": c.method,
                "payload": json.dumps(c.params),
                "created_at": now,
                "held": loaded.get(("reachable", c.chat_id)) is False,
            }
            for c in calls
        ]
        session.connection().execute(_INSERT_CALL, rows)  # in order: a chat's calls leave in id order


def _due_calls_query():
    blocked = exists().where(and_(col(PersonRow.user_id) == col(OutboxRow.chat_id), not_(col(PersonRow.reachable))))
    due = (  # `held` lets an index pass calls for blocked people by; `blocked` catches any not marked
        select(
            col(OutboxRow.id),
            col(OutboxRow.chat_id),
            col(OutboxRow.method),
            col(OutboxRow.payload),
            func.row_number().over(partition_by=col(OutboxRow.chat_id), order_by=col(OutboxRow.id)).label("turn"),
        )
        .where(col(OutboxRow.held) == false(), not_(blocked))
        .subquery()
    )
    return (
        select(due.c.id, due.c.chat_id, due.c.method, due.c.payload)
        .where(due.c.turn <= bindparam("per_chat"))
        .order_by(due.c.turn, due.c.id)
        .limit(bindparam("limit"))
    )


_DUE_CALLS = _due_calls_query()  # built once: building a statement costs more than running this one


def due_calls(session: Session, limit: int = 200, per_chat: int = 20) -> list[QueuedCall]:
    """Unsent calls, skipping people who blocked the bot: round by round over the chats, the first
    call of every chat, then the second of every chat, and so on (at most `per_chat` of one chat),
    so a chat with a backlog of thousands takes one place in each round like any other.

    A chat's calls leave in id order: only a chat's first call here may be made (the courier
    keeps to that), so even with several processes delivering, the next becomes due only when
    this one is gone from the outbox.
    """
    rows = session.execute(_DUE_CALLS, {"limit": limit, "per_chat": per_chat})
    return [QueuedCall(row.id, Call(row.chat_id, row.method, json.loads(row.payload))) for row in rows]


def lock_calls(session: Session, call_ids: list[int]) -> set[int]:
    """Claim unsent calls for this transaction: on PostgreSQL row locks that other processes skip
    (SKIP LOCKED), held while the calls are made and until they leave the outbox. Returns the ids
    claimed; one already sent or in another process's hands is left out. (SQLite has one process;
    there it only checks.)"""
    query = select(col(OutboxRow.id)).where(col(OutboxRow.id).in_(call_ids)).with_for_update(skip_locked=True)
    if session.get_bind().dialect.name == "postgresql":
        # This transaction only records that calls went out. Its commit need not wait for the disk:
        # a crash of the bot loses nothing (the server has it), and a crash of the server itself can
        # only make a call go out again, which at-least-once allows. It narrows the window between
        # a send and its commit, the one place duplicates come from.
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    return set(session.scalars(query))


def replace_params(session: Session, call_id: int, params: dict) -> None:
    """What is left of a call that is sent in parts (a text Telegram found too long)."""
    session.execute(update(OutboxRow).where(col(OutboxRow.id) == call_id).values(payload=json.dumps(params)))


def mark_sent(session: Session, call_ids: list[int]) -> None:
    """Delivered (or refused) calls leave the outbox: it is a queue, not a record. The journal
    (entries) keeps what people wrote; a rendered copy with names in it need not stay."""
    if call_ids:
        session.execute(delete(OutboxRow).where(col(OutboxRow.id).in_(call_ids)))


def count_unsent(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxRow)) or 0


def person_exists(session: Session, user_id: int) -> bool:
    return session.get(PersonRow, user_id) is not None


# Schedules ---------------------------------------------------------------------------


def schedule(session: Session, user_id: int, kind: str, key: str, at: datetime) -> None:
    """Set when to come back to someone; a later call for the same (person, kind, key) moves it."""
    db = session.connection()
    db.execute(
        _statement(db, "schedule", _schedules, "id"), {"user_id": user_id, "kind": kind, "key": key, "due_at": at}
    )


def due_schedule_ids(session: Session, now: datetime, limit: int = 200) -> list[int]:
    query = (
        select(col(ScheduleRow.id))
        .where(col(ScheduleRow.due_at) <= now)
        .order_by(col(ScheduleRow.due_at), col(ScheduleRow.id))
        .limit(limit)
    )
    return list(session.scalars(query))


def claim_schedule(session: Session, schedule_id: int, now: datetime) -> ScheduleRow | None:
    """Take one due row for this transaction: locked, so another process skips it; deleted on commit."""
    query = (
        select(ScheduleRow)
        .where(col(ScheduleRow.id) == schedule_id, col(ScheduleRow.due_at) <= now)
        .with_for_update(skip_locked=True)
    )
    row = session.scalars(query).first()
    if row is None:
        return None
    claimed = ScheduleRow(id=row.id, user_id=row.user_id, kind=row.kind, key=row.key, due_at=_utc(row.due_at))
    session.delete(row)
    session.flush()
    return claimed


# Statements on the hot path, built once: building one costs more than running it -------------------


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined]  # SQLModel sets it on the class; its stubs do not say so


_people, _couples, _cares, _invites = _table(PersonRow), _table(CoupleRow), _table(CareRow), _table(InviteRow)
_inbox, _outbox, _entries, _schedules = _table(InboxRow), _table(OutboxRow), _table(EntryRow), _table(ScheduleRow)
_readers = _table(ReaderRow)

_CLAIM_UPDATE = (
    update(_inbox)
    .where(
        _inbox.c.update_id
        == select(_inbox.c.update_id)
        .where(_inbox.c.update_id == bindparam("claimed"), _inbox.c.processed_at.is_(None))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    .values(processed_at=bindparam("now"), payload=None, user_id=None)
)
_pending = _inbox.c.processed_at.is_(None)
_NEXT_UPDATES = (
    select(_inbox.c.update_id, _inbox.c.user_id, _inbox.c.payload)
    .where(
        _pending,
        or_(
            _inbox.c.user_id.is_(None),
            _inbox.c.update_id.in_(
                select(func.min(_inbox.c.update_id))
                .where(_pending, _inbox.c.user_id.is_not(None))
                .group_by(_inbox.c.user_id)
            ),
        ),
    )
    .order_by(_inbox.c.update_id)
    .limit(bindparam("limit"))
)
_POINTER = select(_people.c.phase, _people.c.couple_id, _people.c.invite_token).where(
    _people.c.user_id == bindparam("user_id")
)
_COUPLE = (
    select(_couples.c.id, _couples.c.state, _couples.c.ended_at)
    .where(_couples.c.id == bindparam("id"))
    .with_for_update()
)
_INVITE = select(_invites).where(_invites.c.token.in_(bindparam("tokens", expanding=True))).with_for_update()
_PEOPLE = (
    select(_people)
    .where(_people.c.user_id.in_(bindparam("ids", expanding=True)))
    .order_by(_people.c.user_id)
    .with_for_update()
)
_CARE = select(_cares).where(_cares.c.id == bindparam("id")).with_for_update()
_LIVE_CARE = (
    select(_cares)
    .where(
        _cares.c.couple_id == bindparam("couple_id"),
        _cares.c.status.in_([CareStatus.REQUESTED.value, CareStatus.ACTIVE.value]),
    )
    .order_by(_cares.c.created_at.desc())
    .limit(1)
    .with_for_update()
)
_SET_REACHABLE = (
    update(_people)
    .where(_people.c.user_id == bindparam("person"), _people.c.reachable == bindparam("was"))
    .values(reachable=bindparam("to"))
)
_MARK_ACTIVE = update(_people).where(_people.c.user_id == bindparam("person")).values(active_on=bindparam("today"))
_HOLD_CALLS = update(_outbox).where(_outbox.c.chat_id == bindparam("chat")).values(held=bindparam("hold"))
_INSERT_ENTRY = insert(_entries)
_INSERT_READER = insert(_readers)
_ENTRY_IDS = select(_entries.c.id).where(
    _entries.c.couple_id == bindparam("couple"), _entries.c.entry == bindparam("entry")
)
_INSERT_CALL = insert(_outbox)
_STATEMENTS: dict = {}


def _statement(db, kind: str, table, key: str):
    """An update by key, an insert that updates a row already there, or a schedule moved: per dialect."""
    found = _STATEMENTS.get((db.dialect.name, kind, table.name))
    if found is None:
        if kind == "update":
            found = update(table).where(table.c[key] == bindparam(f"_{key}"))
        else:
            dialect = postgresql if db.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(table)
            if kind == "schedule":
                found = statement.on_conflict_do_update(
                    index_elements=["user_id", "kind", "key"], set_={"due_at": statement.excluded.due_at}
                )
            else:
                keep = {
                    c.name: statement.excluded[c.name]
                    for c in table.columns
                    if c.name not in (key, "created_at", "reachable")
                }
                found = statement.on_conflict_do_update(index_elements=[key], set_=keep)
        _STATEMENTS[(db.dialect.name, kind, table.name)] = found
    return found
