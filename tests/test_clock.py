"""Local times across daylight saving, quiet hours, and finding a time zone from what someone types."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from dialogues.clock import find_zone, is_quiet, local_to_utc, next_local, outside_quiet


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "day, zone, expected",
    [
        (date(2026, 3, 28), "Europe/Amsterdam", utc(2026, 3, 28, 19)),  # winter time, UTC+1
        (date(2026, 3, 29), "Europe/Amsterdam", utc(2026, 3, 29, 18)),  # the clocks went forward that night
        (date(2026, 10, 24), "Europe/Amsterdam", utc(2026, 10, 24, 18)),
        (date(2026, 10, 25), "Europe/Amsterdam", utc(2026, 10, 25, 19)),  # and back
        (date(2026, 3, 7), "America/New_York", utc(2026, 3, 8, 1)),
        (date(2026, 3, 8), "America/New_York", utc(2026, 3, 9, 0)),
    ],
)
def test_20_00_stays_20_00_across_both_transitions(day, zone, expected):
    assert local_to_utc(day, time(20, 0), zone) == expected


def test_a_local_time_that_does_not_exist_moves_on_by_the_gap():
    assert local_to_utc(date(2026, 3, 29), time(2, 30), "Europe/Amsterdam") == utc(2026, 3, 29, 1, 30)  # 03:30 CEST


def test_a_local_time_that_happens_twice_happens_the_first_time():
    assert local_to_utc(date(2026, 10, 25), time(2, 30), "Europe/Amsterdam") == utc(2026, 10, 25, 0, 30)  # 02:30 CEST


def test_the_next_check_in_is_tomorrow_once_today_has_passed():
    assert next_local(time(20, 0), "Europe/Amsterdam", utc(2026, 3, 2, 19, 0)) == utc(2026, 3, 3, 19)
    assert next_local(time(20, 0), "Europe/Amsterdam", utc(2026, 3, 2, 18, 59)) == utc(2026, 3, 2, 19)


def test_quiet_hours_are_22_to_8_local_and_a_nudge_waits_until_8():
    late = utc(2026, 3, 2, 22, 30)  # 23:30 in Amsterdam
    assert is_quiet(late, "Europe/Amsterdam") and not is_quiet(late, "America/New_York")
    assert outside_quiet(late, "Europe/Amsterdam") == utc(2026, 3, 3, 7)  # 08:00 in Amsterdam


@pytest.mark.parametrize(
    "typed, zone",
    [
        ("Amsterdam", "Europe/Amsterdam"),
        ("new york", "America/New_York"),
        ("Brussel", "Europe/Brussels"),
        ("europe/london", "Europe/London"),
        ("Atlantis", None),
        ("", None),
    ],
)
def test_a_city_or_zone_name_is_found_offline(typed, zone):
    assert find_zone(typed) == zone
