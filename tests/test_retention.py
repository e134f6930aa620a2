"""Retention, table by table (HERSTEL_RETENTION_DAYS, default 90), on SQLite and PostgreSQL: after the
retention period nothing stays that no one can still need, and nothing goes that someone still uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from dialogues.model import Couple
from storage import codec, privacy, secret
from storage.db import make_engine, migrate
from storage.models import CareRow, CoupleRow, EntryRow, InboxRow, InviteRow, OutboxRow, PersonRow, ScheduleRow

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAYS = 90
OLD, RECENT = NOW - timedelta(days=DAYS + 10), NOW - timedelta(days=10)
PEOPLE = {  # user id: (phase, couple, last active)
    1: ("choosing_role", None, OLD),  # never linked, gone quiet
    2: ("not_safe", None, OLD),  # screened "not safe"
    3: ("choosing_role", None, RECENT),
    4: ("linked", "live", OLD),  # quiet, but their couple goes on
    5: ("linked", "live", OLD),
    6: ("choosing_role", None, OLD),  # partners in a couple that ended long ago
    7: ("choosing_role", None, OLD),
    8: ("choosing_role", None, OLD),  # partners in a couple that ended recently
    9: ("choosing_role", None, OLD),
    10: ("therapist", "live", OLD),  # follows the live couple
    11: ("therapist", None, OLD),  # followed the couple that ended long ago
    12: ("inviting", None, RECENT),  # waits for a partner with a live link
}


@pytest.fixture
def purged(database_url):
    """A database with rows of every age in every table, then one purge at NOW."""
    engine = make_engine(database_url)
    migrate(engine)
    with Session(engine) as session:
        for user_id, (phase, couple, active) in PEOPLE.items():
            token = "live-link" if user_id == 12 else "newer-link" if user_id == 3 else None
            session.add(
                PersonRow(
                    user_id=user_id,
                    first_name=f"P{user_id}",
                    language="en",
                    phase=phase,
                    couple_id=couple,
                    invite_token=token,
                    created_at=OLD,
                    active_on=active.date(),
                )
            )
        for couple_id, a, b, ended in (("live", 4, 5, None), ("ended_old", 6, 7, OLD), ("ended_recent", 8, 9, RECENT)):
            state = codec.dumps(Couple(id=couple_id, member_ids=(a, b), started_at=OLD - timedelta(days=30)))
            session.add(CoupleRow(id=couple_id, member_a=a, member_b=b, started_at=OLD, ended_at=ended, state=state))
            session.add(EntryRow(couple_id=couple_id, author_id=a, text=f"words in {couple_id}", created_at=OLD))
        for care_id, couple_id, therapist in (("k-live", "live", 10), ("k-old", "ended_old", 11)):
            session.add(
                CareRow(
                    id=care_id,
                    token=secret.link_hash(care_id),
                    link=care_id,
                    couple_id=couple_id,
                    requested_by=4,
                    created_at=OLD,
                    status="active",
                    therapist_id=therapist,
                )
            )
        for token, inviter, created, used in (
            ("used-long-ago", 3, OLD, OLD),
            ("used-recently", 3, OLD, RECENT),
            ("abandoned", 3, OLD, None),  # person 3 holds a newer link now
            ("live-link", 12, OLD, None),  # made long ago, still held by person 12
            ("newer-link", 3, RECENT, None),
        ):
            session.add(
                InviteRow(
                    token=secret.link_hash(token),
                    inviter_id=inviter,
                    inviter_role="damaged",
                    created_at=created,
                    used_at=used,
                )
            )
        for chat, created, held in ((4, OLD, True), (5, RECENT, True), (4, OLD, False), (1, RECENT, False)):
            session.add(OutboxRow(chat_id=chat, method="sendMessage", payload="{}", created_at=created, held=held))
        session.add(ScheduleRow(user_id=1, kind="nudge", due_at=NOW + timedelta(days=1)))
        session.add(ScheduleRow(user_id=4, kind="checkin", due_at=NOW + timedelta(days=1)))
        for update_id, user, payload, processed in (
            (1, 3, None, NOW - timedelta(days=8)),  # handled eight days ago: only its id was left
            (2, 3, None, NOW - timedelta(days=6)),  # handled six days ago: kept against a repeat delivery
            (3, 3, '{"set": "aside"}', RECENT),  # set aside recently: kept to retry
            (4, 3, '{"set": "aside"}', OLD),  # set aside long ago
            (5, 1, '{"from": 1}', None),  # waiting, from someone who goes
            (6, 4, '{"from": 4}', None),  # waiting
        ):
            session.add(
                InboxRow(update_id=update_id, user_id=user, payload=payload, received_at=OLD, processed_at=processed)
            )
        session.commit()
        privacy.purge(session, NOW, DAYS)
        session.commit()
        yield session
    engine.dispose()


def test_couples_that_ended_go_with_their_journal_after_the_retention_period(purged):
    assert sorted(purged.exec(select(CoupleRow.id)).all()) == ["ended_recent", "live"]
    assert sorted(purged.exec(select(EntryRow.text)).all()) == ["words in ended_recent", "words in live"]


def test_consents_of_couples_that_ended_go_with_them(purged):
    assert purged.exec(select(CareRow.id)).all() == ["k-live"]


def test_people_in_no_couple_who_came_last_long_ago_go_never_linked_and_not_safe_alike(purged):
    kept = sorted(purged.exec(select(PersonRow.user_id)).all())
    assert kept == [3, 4, 5, 8, 9, 10, 12]  # 1 (never linked), 2 (not safe), 6, 7 and 11 are gone
    assert purged.exec(select(ScheduleRow.user_id)).all() == [4]  # with what was scheduled for them


def test_calls_held_for_someone_who_blocked_the_bot_expire_and_due_calls_wait(purged):
    left = sorted((c.chat_id, c.held) for c in purged.exec(select(OutboxRow)))
    assert left == [(4, False), (5, True)]  # the old held call to 4 and the call to the erased 1 are gone


def test_invites_used_long_ago_or_no_longer_held_go_and_live_ones_stay(purged):
    left = set(purged.exec(select(InviteRow.token)).all())
    assert left == {secret.link_hash(t) for t in ("used-recently", "live-link", "newer-link")}


def test_handled_updates_go_after_seven_days_set_aside_ones_after_the_retention_period(purged):
    assert sorted(purged.exec(select(InboxRow.update_id)).all()) == [2, 3, 6]
