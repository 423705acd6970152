"""Periods cut in the board time zone: which day a workout counts on, and period keys.

Keys: day `2026-11-22`, ISO week `2026-W47` (ISO week-numbering year, so 2027-01-01 is in
`2026-W53`), month `2026-11`, year `2026`, all-time `all`. A period's bounds are local
midnights, so a day in a daylight-saving change is 23 or 25 hours long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fitboard.domain.boards import Period
from fitboard.domain.errors import InvalidField

ALL_TIME_KEY = "all"

_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


@dataclass(frozen=True)
class PeriodRange:
    """The days of a period instance, inclusive; both None for all-time."""

    first: date | None
    last: date | None


def board_day(moment: datetime, zone: ZoneInfo) -> date:
    """The day, in the board time zone, on which something that happened at `moment` counts."""
    if moment.tzinfo is None:
        raise ValueError("board_day needs an aware datetime")
    return moment.astimezone(zone).date()


def period_key(period: Period, day: date) -> str:
    if period is Period.DAY:
        return day.isoformat()
    if period is Period.WEEK:
        iso_year, iso_week, _ = day.isocalendar()
        return f"{iso_year:04d}-W{iso_week:02d}"
    if period is Period.MONTH:
        return f"{day.year:04d}-{day.month:02d}"
    if period is Period.YEAR:
        return f"{day.year:04d}"
    return ALL_TIME_KEY


# A period's bounds are local midnights, up to 14 hours from UTC, and it ends at the midnight
# after its last day: in the calendar's first and last years those instants do not exist
# (datetime overflows). No workout can be there anyway.
FIRST_KEY_YEAR, LAST_KEY_YEAR = 2, 9998


def period_range(period: Period, key: str) -> PeriodRange:
    """The first and last day of a period instance; InvalidField for a malformed key."""
    try:
        rng = _period_range(period, key)
    except (ValueError, OverflowError):
        raise InvalidField("period_key", _key_hint(period, key)) from None
    if (rng.first is not None and rng.first.year < FIRST_KEY_YEAR) or (
        rng.last is not None and rng.last.year > LAST_KEY_YEAR
    ):
        raise InvalidField(
            "period_key", f"{key!r} is not between the years {FIRST_KEY_YEAR} and {LAST_KEY_YEAR}"
        )
    return rng


def _period_range(period: Period, key: str) -> PeriodRange:
    if period is Period.ALL:
        if key != ALL_TIME_KEY:
            raise ValueError(key)
        return PeriodRange(None, None)
    if period is Period.DAY and (m := _DAY.match(key)):
        day = date(int(m[1]), int(m[2]), int(m[3]))
        return PeriodRange(day, day)
    if period is Period.WEEK and (m := _WEEK.match(key)):
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        return PeriodRange(monday, monday + timedelta(days=6))
    if period is Period.MONTH and (m := _MONTH.match(key)):
        first = date(int(m[1]), int(m[2]), 1)
        next_month = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return PeriodRange(first, next_month - timedelta(days=1))
    if period is Period.YEAR and (m := _YEAR.match(key)):
        year = int(m[1])
        if year < 1:
            raise ValueError(key)
        return PeriodRange(date(year, 1, 1), date(year, 12, 31))
    raise ValueError(key)


def _key_hint(period: Period, key: str) -> str:
    examples = {
        Period.DAY: "YYYY-MM-DD, e.g. 2026-11-22",
        Period.WEEK: "an ISO week YYYY-Www, e.g. 2026-W47",
        Period.MONTH: "YYYY-MM, e.g. 2026-11",
        Period.YEAR: "YYYY, e.g. 2026",
        Period.ALL: "all",
    }
    return f"{key!r} is not a {period.value} key; expected {examples[period]}"


def period_bounds(
    period: Period, key: str, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """Start (inclusive) and end (exclusive) of a period instance as aware datetimes."""
    rng = period_range(period, key)
    if rng.first is None or rng.last is None:
        return None, None
    return local_midnight(rng.first, zone), local_midnight(rng.last + timedelta(days=1), zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of `day` in `zone` (zoneinfo resolves DST gaps forward)."""
    naive = datetime.combine(day, time(0))
    aware = naive.replace(tzinfo=zone)
    # Round-trip through UTC so a midnight that falls in a DST gap becomes the real instant.
    return aware.astimezone(UTC).astimezone(zone)


def keys_for_day(day: date) -> dict[Period, str]:
    """Every period key a day belongs to: the boards a workout on that day moves."""
    return {period: period_key(period, day) for period in Period}


def current_key(period: Period, now: datetime, zone: ZoneInfo) -> str:
    return period_key(period, board_day(now, zone))


def judgeable_keys(
    period: Period, first_day: date, now: datetime, zone: ZoneInfo, grace: timedelta
) -> list[str]:
    """Keys of every instance of `period`, from the one containing `first_day` (the first
    day with data), that closed at least `grace` before `now`, oldest first. A period is
    judged only after its grace window, so a workout done before the close and synced a
    little after it still counts; and every closed period is listed, not only the last,
    so a period missed while nothing ran is judged when something runs again."""
    if period is Period.ALL:
        return []
    keys: list[str] = []
    day = first_day
    while True:
        key = period_key(period, day)
        rng = period_range(period, key)
        assert rng.last is not None  # every period but all-time has bounds
        following = rng.last + timedelta(days=1)
        if local_midnight(following, zone) + grace > now:
            return keys
        keys.append(key)
        day = following
