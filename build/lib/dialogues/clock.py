"""Local time for each partner: check-in moments, quiet hours, and what daylight saving does.

Rules, tested in tests/test_clock.py:
- A local time that does not exist (02:30 on the night the clocks go forward) happens at the
  same distance after the jump: 02:30 becomes 03:30.
- A local time that happens twice (02:30 on the night the clocks go back) happens once, the
  first time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from dialogues.model import known

QUIET_FROM = time(22, 0)
QUIET_UNTIL = time(8, 0)
# Dutch names of cities whose time zone is named in English.
DUTCH_CITIES = {
    "brussel": "Europe/Brussels",
    "londen": "Europe/London",
    "parijs": "Europe/Paris",
    "keulen": "Europe/Berlin",
    "kopenhagen": "Europe/Copenhagen",
    "lissabon": "Europe/Lisbon",
    "praag": "Europe/Prague",
    "rome": "Europe/Rome",
    "wenen": "Europe/Vienna",
    "athene": "Europe/Athens",
}


def local_to_utc(day: date, at: time, zone: str) -> datetime:
    tz = ZoneInfo(zone)
    wall = datetime.combine(day, at)
    moment = wall.replace(tzinfo=tz, fold=0)
    utc = moment.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != wall:  # in the gap: move on by the gap
        gap = abs(known(moment.replace(fold=1).utcoffset()) - known(moment.replace(fold=0).utcoffset()))
        utc = (wall + gap).replace(tzinfo=tz).astimezone(UTC)
    return utc


def local_date(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date()


def next_local(at: time, zone: str, after: datetime) -> datetime:
    """The first moment after `after` when the clock in `zone` shows `at`."""
    day = local_date(after, zone)
    for offset in range(3):
        moment = local_to_utc(day + timedelta(days=offset), at, zone)
        if moment > after:
            return moment
    raise AssertionError("unreachable")


def is_quiet(moment: datetime, zone: str) -> bool:
    wall = moment.astimezone(ZoneInfo(zone)).time()
    return wall >= QUIET_FROM or wall < QUIET_UNTIL


def outside_quiet(moment: datetime, zone: str) -> datetime:
    """`moment`, or the next whole hour outside quiet hours."""
    if not is_quiet(moment, zone):
        return moment
    return next_local(QUIET_UNTIL, zone, moment)


def end_of_day(day: date, zone: str) -> datetime:
    return local_to_utc(day + timedelta(days=1), time(0, 0), zone)


def parse_time(text: str) -> time | None:
    """ "20:00", "20.30", "8:15": a time of day, or None."""
    parts = text.strip().replace(".", ":").split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    hour, minute = int(parts[0]), int(parts[1])
    return time(hour, minute) if hour < 24 and minute < 60 else None


@lru_cache(maxsize=1)
def _zones_by_city() -> dict[str, str]:
    zones: dict[str, str] = {}
    for name in available_timezones():
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/")):
            zones.setdefault(name.rsplit("/", 1)[1].replace("_", " ").lower(), name)
            zones[name.lower().replace("_", " ")] = name
    return zones | DUTCH_CITIES


def find_zone(text: str) -> str | None:
    """A time zone from what someone typed: an IANA name ("Europe/Amsterdam") or a city."""
    return _zones_by_city().get(text.strip().lower().replace("_", " "))


def city(zone: str) -> str:
    return zone.rsplit("/", 1)[-1].replace("_", " ")
