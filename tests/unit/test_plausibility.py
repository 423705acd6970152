import itertools
import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField
from fitboard.domain.plausibility import (
    HARD_SPEED_LIMIT_M_S,
    MAX_DURATION_S,
    WORLD_RECORDS,
    WorldRecord,
    check_possible,
    record_speed,
    suspicion,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def check(**overrides: object) -> None:
    args: dict[str, object] = {
        "activity": Activity.RUN,
        "started_at": NOW - timedelta(hours=2),
        "duration_s": 1800,
        "distance_m": 5000.0,
        "elevation_gain_m": None,
        "avg_heart_rate": None,
        "device_calories": None,
        "now": NOW,
        "clock_skew_s": 300,
    }
    args.update(overrides)
    check_possible(**args)  # type: ignore[arg-type]


def test_a_normal_run_is_possible() -> None:
    check()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"duration_s": 0}, "duration_s"),
        ({"duration_s": -5}, "duration_s"),
        (
            {"started_at": NOW - timedelta(days=20), "duration_s": MAX_DURATION_S + 1},
            "duration_s",
        ),
        # 3,000 m of climbing in one hour is above the vertical-kilometre record's rate.
        ({"duration_s": 3600, "elevation_gain_m": 3001.0}, "elevation_gain_m"),
        ({"started_at": NOW + timedelta(minutes=10)}, "started_at"),
        ({"started_at": NOW - timedelta(minutes=10), "duration_s": 3600}, "duration_s"),
        ({"started_at": datetime(2026, 11, 22, 9, 0)}, "started_at"),
        ({"distance_m": -1.0}, "distance_m"),
        ({"distance_m": 50_000.0}, "distance_m"),  # 100 km/h on foot
        ({"activity": Activity.SWIM, "distance_m": 10_000.0}, "distance_m"),
        ({"avg_heart_rate": 24}, "avg_heart_rate"),
        ({"avg_heart_rate": 251}, "avg_heart_rate"),
        ({"elevation_gain_m": -3.0}, "elevation_gain_m"),
        ({"device_calories": -1.0}, "calories"),
        # NaN compares false with every bound: a negative-distance check lets it through.
        ({"distance_m": float("nan")}, "distance_m"),
        ({"distance_m": float("inf")}, "distance_m"),
        ({"elevation_gain_m": float("nan")}, "elevation_gain_m"),
        ({"device_calories": float("nan")}, "calories"),
    ],
)
def test_impossible_input_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        check(**overrides)
    assert caught.value.field == field


def test_a_start_within_the_clock_skew_is_accepted() -> None:
    check(started_at=NOW + timedelta(seconds=100), duration_s=60, distance_m=None)


def test_heart_rate_limits_are_inclusive() -> None:
    check(avg_heart_rate=25)
    check(avg_heart_rate=250)


def test_record_speed_interpolates_between_records() -> None:
    five_k = record_speed(Activity.RUN, 5000)
    ten_k = record_speed(Activity.RUN, 10000)
    seven_k = record_speed(Activity.RUN, 7000)
    assert five_k is not None
    assert ten_k is not None
    assert seven_k is not None
    assert five_k == pytest.approx(5000 / 755.36)
    assert ten_k < seven_k < five_k
    assert record_speed(Activity.YOGA, 1000) is None


def test_faster_than_the_world_record_is_flagged_not_refused() -> None:
    # 5 km in 12:00 beats the 12:35 world record: possible to type, not believable.
    check(distance_m=5000.0, duration_s=720)
    reason = suspicion(activity=Activity.RUN, duration_s=720, distance_m=5000, avg_heart_rate=None)
    assert reason is not None
    assert "world record" in reason


def test_an_ordinary_run_is_not_suspicious() -> None:
    assert (
        suspicion(activity=Activity.RUN, duration_s=1800, distance_m=5000, avg_heart_rate=150)
        is None
    )


def test_implausible_heart_rate_is_flagged() -> None:
    reason = suspicion(activity=Activity.YOGA, duration_s=1800, distance_m=None, avg_heart_rate=235)
    assert reason is not None
    assert "heart rate" in reason


# Real multi-day and big-climb events: each must be accepted and believed.
REAL_EVENTS = [
    # A 100-mile trail race (160.9 km) in 28:30 with 5,500 m of climbing (Western States).
    (Activity.RUN, 160_934.0, 28 * 3600 + 30 * 60, 5_500.0, 12_000.0),
    # UTMB: about 171 km and 10,000 m of climbing in 40 h (cut-off 46.5 h).
    (Activity.RUN, 171_000.0, 40 * 3600, 10_000.0, 15_000.0),
    # A 600 km brevet in 36 h (the limit is 40 h).
    (Activity.CYCLE, 600_000.0, 36 * 3600, 6_000.0, 14_000.0),
    # Paris-Brest-Paris, about 1,200 km and 12,000 m of climbing, in 80 h (limit 90 h),
    # with the 25,000 kcal a rider's device reports.
    (Activity.CYCLE, 1_219_000.0, 80 * 3600, 12_000.0, 25_000.0),
    # A double Everesting on a bike: 2 x 8,848 m = 17,700 m of climbing, 380 km in 28 h.
    (Activity.CYCLE, 380_000.0, 28 * 3600, 17_700.0, 12_000.0),
]


@pytest.mark.parametrize(("activity", "distance", "duration", "elevation", "kcal"), REAL_EVENTS)
def test_real_events_longer_than_a_day_are_possible_and_believed(
    activity: Activity, distance: float, duration: int, elevation: float, kcal: float
) -> None:
    check(
        activity=activity,
        started_at=NOW - timedelta(seconds=duration + 3600),
        duration_s=duration,
        distance_m=distance,
        elevation_gain_m=elevation,
        device_calories=kcal,
    )
    reason = suspicion(
        activity=activity, duration_s=duration, distance_m=distance, avg_heart_rate=None
    )
    assert reason is None


def test_speed_still_judges_multi_day_efforts() -> None:
    # 330 km in 24 h beats Aleksandr Sorokin's 319.614 km (IAU 24 h record, 2022).
    reason = suspicion(
        activity=Activity.RUN, duration_s=86400, distance_m=330_000, avg_heart_rate=None
    )
    assert reason is not None
    assert "world record" in reason


@pytest.mark.parametrize(
    ("activity", "distance", "record_s"),
    [
        (Activity.SWIM, 1500, 14 * 60 + 30.67),  # Bobby Finke, Paris, 2024-08-04
        (Activity.WALK, 20000, 3600 + 16 * 60 + 10),  # Toshikazu Yamanishi, Kobe, 2025-02-16
        (Activity.WALK, 50000, 3 * 3600 + 32 * 60 + 33),  # Yohann Diniz, Zurich, 2014-08-15
        (Activity.RUN, 21097.5, 56 * 60 + 42),  # Jacob Kiplimo, Barcelona, 2025-02-16
    ],
)
def test_the_current_world_record_is_the_threshold(
    activity: Activity, distance: float, record_s: float
) -> None:
    def flagged(seconds: float) -> bool:
        duration = round(seconds)
        return (
            suspicion(
                activity=activity, duration_s=duration, distance_m=distance, avg_heart_rate=None
            )
            is not None
        )

    assert record_speed(activity, distance) == pytest.approx(distance / record_s)
    assert flagged(record_s - 1)
    assert not flagged(record_s + 1)


def flagged_reason(activity: Activity, distance: float, duration: int) -> str | None:
    """Judge a workout as the worker does: it must be possible, then is it believable?"""
    check(
        activity=activity,
        started_at=NOW - timedelta(seconds=duration + 3600),
        duration_s=duration,
        distance_m=distance,
    )
    return suspicion(
        activity=activity, duration_s=duration, distance_m=distance, avg_heart_rate=None
    )


# The rows checked against a published figure (issue 13): (activity, metres, seconds), the
# figure written as published, with its source. Each is the threshold: the record itself is
# accepted and believed, 2% faster is accepted but flagged (never refused).
CHECKED_RECORDS = [
    pytest.param(
        # Athletics Weekly, 2026-02-28: Francesco Fortunato, 5000 m walk 17:54.48, Ancona,
        # world indoor record (his 17:55.65 of 2025 was not ratified).
        Activity.WALK,
        5000,
        17 * 60 + 54.48,
        id="walk 5 km, Fortunato 2026",
    ),
    pytest.param(
        # IAAF world best, road 10 km walk: Roman Rasskazov 37:11, Saransk, 2000-05-28.
        Activity.WALK,
        10000,
        37 * 60 + 11,
        id="walk 10 km, Rasskazov 2000",
    ),
    pytest.param(
        # World Athletics, 2025-05-18: Massimo Stano 2:20:43 over 35 km, Podebrady.
        Activity.WALK,
        35000,
        2 * 3600 + 20 * 60 + 43,
        id="walk 35 km, Stano 2025",
    ),
    pytest.param(
        # Reuters, 2024-08-06: Australia's team pursuit 3:40.730 over 4 km, Paris Olympics.
        Activity.CYCLE,
        4000,
        3 * 60 + 40.730,
        id="cycle 4 km, team pursuit 2024",
    ),
    pytest.param(
        # ANSA, 2019-09-11: Philippe Gilbert, Vuelta stage 17, 219.6 km in 4h20'15"
        # (50.628 km/h), the Ruban Jaune for the fastest race or stage over 200 km.
        Activity.CYCLE,
        219600,
        4 * 3600 + 20 * 60 + 15,
        id="cycle 219.6 km, Gilbert 2019",
    ),
    pytest.param(
        # APA (Tiroler Tageszeitung), July 2021: Christoph Strasser, 1,026.215 km in 24 h on
        # the road at Zeltweg, 16-17 July 2021.
        Activity.CYCLE,
        1026215,
        24 * 3600,
        id="cycle 24 h, Strasser 2021",
    ),
    pytest.param(
        # ultramarathon.se / Running Magazine, September 2024: Matthieu Bonne, 1,046.31 km in
        # 6 days, GOMU-EMU 6-day World Championship, Balatonfured, 5-11 September 2024.
        Activity.RUN,
        1046310,
        6 * 86400,
        id="run 6 days, Bonne 2024",
    ),
    pytest.param(
        # concept2.com.au, "500 Meter RowErg Record Broken" (2024): Phil Clapp, 1:09.8.
        Activity.ROW,
        500,
        60 + 9.8,
        id="row 500 m, Clapp 2024",
    ),
    pytest.param(
        # Concept2, "Can a 2-Hour Marathon Be Rowed?" (2017): Ben de Wit, 2:21:08.7.
        Activity.ROW,
        42195,
        2 * 3600 + 21 * 60 + 8.7,
        id="row marathon, de Wit",
    ),
]


@pytest.mark.parametrize(("activity", "distance", "record_s"), CHECKED_RECORDS)
def test_a_checked_record_is_believed_and_two_percent_faster_is_flagged(
    activity: Activity, distance: float, record_s: float
) -> None:
    assert record_speed(activity, distance) == pytest.approx(distance / record_s, rel=1e-12)
    assert flagged_reason(activity, distance, math.ceil(record_s)) is None
    reason = flagged_reason(activity, distance, math.floor(record_s / 1.02))
    assert reason is not None
    assert "world record" in reason


# Real performances next to the checked rows: each is possible and believed.
REAL_PERFORMANCES = [
    pytest.param(
        # Italian press, 2025-02-22: Fortunato's 17:55.65 in Ancona (not ratified).
        Activity.WALK,
        5000,
        17 * 60 + 55.65,
        id="Fortunato 5000 m walk 2025",
    ),
    pytest.param(
        # ANSA, 2025-02-22: Mikhail Shchennikov's 18:07.08 of 1995, the ratified record.
        Activity.WALK,
        5000,
        18 * 60 + 7.08,
        id="Shchennikov 5000 m walk 1995",
    ),
    pytest.param(
        # World Athletics, 2020-11-14: Eiki Takahashi, 10,000 m track walk 37:25.21, Inzai.
        Activity.WALK,
        10000,
        37 * 60 + 25.21,
        id="Takahashi 10,000 m walk 2020",
    ),
    pytest.param(
        # Reuters, 2025-03-22: Evan Dunfee, 35 km walk 2:21:40, Dudince (then the record;
        # the table before Stano's row flagged it).
        Activity.WALK,
        35000,
        2 * 3600 + 21 * 60 + 40,
        id="Dunfee 35 km walk 2025",
    ),
    pytest.param(
        # Reuters, 2024-10-18: Jonathan Milan, individual pursuit 3:59.153, Ballerup.
        Activity.CYCLE,
        4000,
        3 * 60 + 59.153,
        id="Milan individual pursuit 2024",
    ),
    pytest.param(
        # rad-net.de, 1999-07-07: Mario Cipollini, Tour stage 4, Laval-Blois 194.5 km in 3:51:45.
        Activity.CYCLE,
        194500,
        3 * 3600 + 51 * 60 + 45,
        id="Cipollini Tour stage 1999",
    ),
    pytest.param(
        # Cyclingnews, 2025-07-14: Tim Merlier, Tour stage 9 on 07-13, 174.1 km in 3:28:52.
        Activity.CYCLE,
        174100,
        3 * 3600 + 28 * 60 + 52,
        id="Merlier Tour stage 2025",
    ),
    pytest.param(
        # Cycling Weekly: Matteo Trentin, Paris-Tours 2015-10-11, 231 km in 4:39:12 (49.641).
        Activity.CYCLE,
        231000,
        4 * 3600 + 39 * 60 + 12,
        id="Trentin Paris-Tours 2015",
    ),
    pytest.param(
        # velototal.de: Christoph Strasser's 24 h indoor track record, Grenchen 2017, 941.872 km.
        Activity.CYCLE,
        941872,
        24 * 3600,
        id="Strasser 24 h track 2017",
    ),
    pytest.param(
        # runnersaresmilers.com: Yiannis Kouros, Colac, 20-26 November 2005, 1,036.8 km in 6 days.
        Activity.RUN,
        1036800,
        6 * 86400,
        id="Kouros 6 days 2005",
    ),
    pytest.param(
        # concept2.com.au (2024): Phil Clapp's previous 500 m record, 1:10.5, set in 2020.
        Activity.ROW,
        500,
        60 + 10.5,
        id="Clapp 500 m 2020",
    ),
    pytest.param(
        # Concept2, 2018-03-10: Josh Dunkley-Smith, 2000 m on the machine in 5:35.8.
        Activity.ROW,
        2000,
        5 * 60 + 35.8,
        id="Dunkley-Smith 2000 m erg 2018",
    ),
    pytest.param(
        # Vecernji list, December 2023: Martin Sinkovic, 6000 m on a Concept2 in 17:49.04.
        Activity.ROW,
        6000,
        17 * 60 + 49.04,
        id="Sinkovic 6000 m erg 2023",
    ),
    pytest.param(
        # Concept2 (2017): Eric Murray, half marathon on the machine in 1:07:58.1 (2014).
        Activity.ROW,
        21097,
        3600 + 7 * 60 + 58.1,
        id="Murray half marathon erg 2014",
    ),
]


@pytest.mark.parametrize(("activity", "distance", "seconds"), REAL_PERFORMANCES)
def test_real_performances_are_possible_and_believed(
    activity: Activity, distance: float, seconds: float
) -> None:
    assert flagged_reason(activity, distance, math.ceil(seconds)) is None


def test_without_a_6000_m_row_the_eight_and_the_marathon_judge_it() -> None:
    # No 6,000 m record on the machine could be confirmed, so 6,000 m lies on the
    # log-distance line from the eight's 2,000 m (World Rowing) to the machine's marathon
    # (Concept2): about 1:26 per 500 m. Martin Sinkovic's 17:49.04 (1:29.1) is believed; a
    # 6,000 m at 1:20 per 500 m, faster than anyone rows 2,000 m on a machine, is flagged.
    eight, marathon = 2000 / 318.68, 42195 / (2 * 3600 + 21 * 60 + 8.7)
    weight = math.log(6000 / 2000) / math.log(42195 / 2000)
    assert record_speed(Activity.ROW, 6000) == pytest.approx(eight + (marathon - eight) * weight)
    assert flagged_reason(Activity.ROW, 6000, 16 * 60) is not None


def test_without_a_200_km_row_the_hour_and_the_ruban_jaune_judge_it() -> None:
    # The 200 km row (4 h, from an old table, no source) is gone: 200 km lies between the
    # hour record and Gilbert's 219.6 km, a little above his 50.6 km/h.
    at_200_km = record_speed(Activity.CYCLE, 200_000)
    assert at_200_km is not None
    assert 219600 / 15615 < at_200_km < 56792 / 3600
    assert flagged_reason(Activity.CYCLE, 200_000, 3 * 3600 + 40 * 60) is not None  # 54.5 km/h


def test_the_rowing_machine_sprints_are_not_refused() -> None:
    # British Rowing, November 2025: the Concept2 100 m records are 12.5 s, and 11.8 s on
    # slides (Loic Schalbetter), 8.5 m/s; the 500 m record averages 7.2 m/s.
    assert HARD_SPEED_LIMIT_M_S[Activity.ROW] > 100 / 11.8
    check(activity=Activity.ROW, distance_m=100.0, duration_s=12)
    check(activity=Activity.ROW, distance_m=500.0, duration_s=70)


def test_every_record_names_its_holder_source_and_date() -> None:
    for record in WORLD_RECORDS:
        assert record.holder.strip("- ")
        assert record.source
        assert "unverified" not in record.source
        assert "approx" not in record.source
        # An ISO date, or its year (and month) alone where the sources give no day.
        assert re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", record.date), record
        year, month, day = [*record.date.split("-"), "01", "01"][:3]
        assert date(1900, 1, 1) <= date(int(year), int(month), int(day)) <= NOW.date()


def test_one_row_per_distance() -> None:
    keys = [(record.activity, record.distance_m) for record in WORLD_RECORDS]
    assert len(keys) == len(set(keys))


DOMAIN_DOC = Path(__file__).resolve().parents[2] / "docs" / "domain.md"


def _distance(metres: float) -> str:
    return f"{metres:,.1f}".removesuffix(".0") + " m"


def _time(seconds: float) -> str:
    exact = Decimal(repr(seconds))
    whole = int(exact)
    fraction = str(exact - whole)[1:] if exact != whole else ""
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}{fraction}"
    if minutes:
        return f"{minutes}:{secs:02d}{fraction}"
    return f"{secs}{fraction} s"


def records_table(records: tuple[WorldRecord, ...] | list[WorldRecord]) -> str:
    lines = [
        "| Activity | Distance | Time | Holder | Date | Source |",
        "| --- | ---: | ---: | --- | --- | --- |",
    ]
    lines += [
        f"| {r.activity.value} | {_distance(r.distance_m)} | {_time(r.time_s)} | {r.holder} "
        f"| {r.date} | {r.source} |"
        for r in records
    ]
    return "\n".join(lines) + "\n"


def test_the_document_lists_the_records_the_code_has() -> None:
    # docs/domain.md shows the table itself, so its figures cannot drift from the code.
    expected = records_table(list(WORLD_RECORDS))
    text = DOMAIN_DOC.read_text()
    header = expected.splitlines()[0]
    assert text.count(header) == 1, "docs/domain.md needs exactly one record table"
    lines = text[text.index(header) :].splitlines()
    shown = "\n".join(itertools.takewhile(lambda line: line.startswith("|"), lines)) + "\n"
    message = "docs/domain.md's record table is out of date; it should read:\n" + expected
    assert shown == expected, message
