"""Periods cut in the board time zone, including ISO week 53 and daylight-saving days."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fitboard.domain.boards import Period
from fitboard.domain.errors import InvalidField
from fitboard.domain.periods import (
    board_day,
    judgeable_keys,
    keys_for_day,
    period_bounds,
    period_key,
    period_range,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def test_keys_of_a_day() -> None:
    assert keys_for_day(date(2026, 11, 22)) == {
        Period.DAY: "2026-11-22",
        Period.WEEK: "2026-W47",
        Period.MONTH: "2026-11",
        Period.YEAR: "2026",
        Period.ALL: "all",
    }


def test_iso_week_53_belongs_to_its_iso_year() -> None:
    # 2026 has 53 ISO weeks: 2027-01-01 (a Friday) is in 2026-W53.
    assert period_key(Period.WEEK, date(2027, 1, 1)) == "2026-W53"
    assert period_key(Period.WEEK, date(2027, 1, 4)) == "2027-W01"
    rng = period_range(Period.WEEK, "2026-W53")
    assert (rng.first, rng.last) == (date(2026, 12, 28), date(2027, 1, 3))
    # ...while the calendar year of that day is still 2027.
    assert period_key(Period.YEAR, date(2027, 1, 1)) == "2027"


def test_iso_week_1_can_start_in_the_previous_year() -> None:
    assert period_key(Period.WEEK, date(2024, 12, 30)) == "2025-W01"


def test_a_late_evening_workout_counts_on_the_local_day() -> None:
    moment = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert board_day(moment, ZoneInfo("UTC")) == date(2026, 11, 22)
    assert board_day(moment, BERLIN) == date(2026, 11, 23)


def test_day_bounds_in_a_dst_change_are_23_and_25_hours() -> None:
    spring_start, spring_end = period_bounds(Period.DAY, "2026-03-29", BERLIN)
    autumn_start, autumn_end = period_bounds(Period.DAY, "2026-10-25", BERLIN)
    assert spring_start is not None
    assert spring_end is not None
    assert autumn_start is not None
    assert autumn_end is not None
    # Same-zone subtraction in Python is wall-clock time; elapsed time needs UTC.
    assert spring_end.astimezone(UTC) - spring_start.astimezone(UTC) == timedelta(hours=23)
    assert autumn_end.astimezone(UTC) - autumn_start.astimezone(UTC) == timedelta(hours=25)
    assert spring_start.utcoffset() == timedelta(hours=1)
    assert spring_end.utcoffset() == timedelta(hours=2)


def test_a_workout_just_after_local_midnight_in_the_dst_week() -> None:
    # 00:30 local on 2026-11-02 in New York is 05:30 UTC; the day after DST ends (Nov 1).
    moment = datetime(2026, 11, 2, 5, 30, tzinfo=UTC)
    assert board_day(moment, NEW_YORK) == date(2026, 11, 2)
    start, end = period_bounds(Period.WEEK, period_key(Period.WEEK, date(2026, 11, 2)), NEW_YORK)
    assert start is not None
    assert end is not None
    assert start <= moment < end


def test_month_and_year_ranges() -> None:
    assert period_range(Period.MONTH, "2028-02").last == date(2028, 2, 29)
    assert period_range(Period.MONTH, "2026-12").last == date(2026, 12, 31)
    assert period_range(Period.YEAR, "2026").first == date(2026, 1, 1)
    assert period_range(Period.ALL, "all").first is None


@pytest.mark.parametrize(
    ("period", "key"),
    [
        (Period.DAY, "2026-13-01"),
        (Period.DAY, "22-11-2026"),
        (Period.WEEK, "2026-W54"),
        (Period.WEEK, "2026-47"),
        (Period.MONTH, "2026-00"),
        (Period.YEAR, "26"),
        (Period.ALL, "2026"),
    ],
)
def test_malformed_keys_are_refused_with_a_hint(period: Period, key: str) -> None:
    with pytest.raises(InvalidField) as caught:
        period_range(period, key)
    assert caught.value.field == "period_key"
    assert "expected" in caught.value.message


def test_a_period_is_judgeable_once_its_grace_window_has_passed() -> None:
    utc = ZoneInfo("UTC")
    day = timedelta(days=1)
    first = date(2026, 11, 16)  # Monday of 2026-W47
    monday_noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert judgeable_keys(Period.WEEK, first, monday_noon, utc, timedelta(0)) == ["2026-W47"]
    assert judgeable_keys(Period.WEEK, first, monday_noon, utc, day) == []
    tuesday = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert judgeable_keys(Period.WEEK, first, tuesday, utc, day) == ["2026-W47"]


def test_every_closed_period_since_the_first_day_is_listed() -> None:
    now = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    keys = judgeable_keys(Period.MONTH, date(2025, 11, 20), now, ZoneInfo("UTC"), timedelta(0))
    assert keys == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert judgeable_keys(Period.ALL, date(2025, 1, 1), now, ZoneInfo("UTC"), timedelta(0)) == []


def test_a_period_closes_at_local_midnight() -> None:
    # 2026-W47 ends at Monday 00:00 in Berlin, which is 23:00 UTC on Sunday.
    first = date(2026, 11, 16)
    before = datetime(2026, 11, 22, 22, 59, tzinfo=UTC)
    after = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert judgeable_keys(Period.WEEK, first, before, BERLIN, timedelta(0)) == []
    assert judgeable_keys(Period.WEEK, first, after, BERLIN, timedelta(0)) == ["2026-W47"]
