"""Achievement rules, judged purely from facts about a stored workout."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fitboard.application.achievements.catalog import CatalogError, load_catalog, parse_catalog
from fitboard.domain.achievements import (
    ONCE,
    Measure,
    Measured,
    PersonalRecord,
    Placement,
    Streak,
    TimeOfDay,
    TotalThreshold,
    WorkoutFacts,
    WorkoutThreshold,
    judge_workout,
    least_record_distance,
    pace_s_per_km,
    placement_awards,
    progress,
    record_applies,
    record_setters,
    streak_through,
)
from fitboard.domain.activities import Activity
from fitboard.domain.boards import Metric, Period
from fitboard.domain.evaluation import local_start
from fitboard.domain.users import User
from fitboard.domain.workouts import (
    ActivityTotals,
    CaloriesMethod,
    Totals,
    Workout,
    WorkoutStatus,
    WorkoutSubmission,
)

RUN = frozenset({Activity.RUN})
FIVE_K = WorkoutThreshold("run-5k", "5K", "d", RUN, Measure.DISTANCE, 5000)
FIRST = TotalThreshold("first", "First", "d", None, Measure.WORKOUTS, 1)
RUN_100K = TotalThreshold("run-100k", "100 km", "d", RUN, Measure.DISTANCE, 100_000)
STREAK_3 = Streak("streak-3", "3 days", "d", None, 3)
LONGEST = PersonalRecord("longest", "Longest", "d", RUN, Measure.DISTANCE)
PACE_5K = PersonalRecord("pace", "Pace", "d", RUN, Measure.PACE, 5000)
EARLY = TimeOfDay("early", "Early", "d", None, 6)


def workout(
    distance: float | None = 5000,
    duration: int = 1800,
    activity: Activity = Activity.RUN,
    status: WorkoutStatus = WorkoutStatus.PROCESSED,
    started: datetime = datetime(2026, 11, 20, 7, 0, tzinfo=UTC),
) -> Workout:
    submission = WorkoutSubmission(
        id=uuid.uuid4(), user_id=uuid.uuid4(), activity=activity, started_at=started,
        duration_s=duration, submitted_at=started, distance_m=distance,
    )  # fmt: skip
    return Workout(
        submission=submission, status=status, board_day=started.date(), calories=300.0,
        calories_method=CaloriesMethod.MET, met=9.8, body_mass_kg=70.0, points=49,
        processed_at=started,
    )  # fmt: skip


def totals(run_km: float = 5, workouts: int = 1) -> Totals:
    run = ActivityTotals(distance_m=run_km * 1000, workouts=workouts)
    return Totals(by_activity={Activity.RUN: run})


def facts(w: Workout, **kw: object) -> WorkoutFacts:
    args: dict[str, object] = {
        "workout": w,
        "local_start": w.submission.started_at,
        "all_time": totals(),
        "active_local_days": frozenset({w.submission.started_at.date()}),
        "previous_bests": {},
    }
    args.update(kw)
    return WorkoutFacts(**args)  # type: ignore[arg-type]


def ids(rules: list[object], f: WorkoutFacts) -> set[str]:
    return {a.rule_id for a in judge_workout(rules, f)}  # type: ignore[arg-type]


def test_a_first_5k_run_earns_first_workout_and_5k() -> None:
    awards = judge_workout([FIRST, FIVE_K, RUN_100K], facts(workout()))
    assert {(a.rule_id, a.period_key) for a in awards} == {("first", ONCE), ("run-5k", ONCE)}


def test_thresholds_respect_activity_and_value() -> None:
    assert ids([FIVE_K], facts(workout(distance=4999))) == set()
    assert ids([FIVE_K], facts(workout(activity=Activity.WALK, distance=6000))) == set()
    assert ids([FIVE_K], facts(workout(distance=5000))) == {"run-5k"}


def test_flagged_workouts_earn_nothing() -> None:
    assert ids([FIRST, FIVE_K], facts(workout(status=WorkoutStatus.FLAGGED))) == set()


def test_totals_use_all_time_sums_for_the_rules_activities() -> None:
    assert ids([RUN_100K], facts(workout(), all_time=totals(run_km=99.9))) == set()
    assert ids([RUN_100K], facts(workout(), all_time=totals(run_km=100))) == {"run-100k"}


def test_totals_of_one_measure_over_other_activities_are_judged_apart() -> None:
    # judge_workout works each total out once per workout: two rules summing the same
    # measure over different activities, or the same one to different values, must each
    # be judged on their own total, whichever comes first.
    any_100k = TotalThreshold("any-100k", "100 km", "d", None, Measure.DISTANCE, 100_000)
    any_50k = TotalThreshold("any-50k", "50 km", "d", None, Measure.DISTANCE, 50_000)
    cycle = ActivityTotals(distance_m=60_000, workouts=1)
    run = ActivityTotals(distance_m=60_000, workouts=1)
    all_time = Totals(by_activity={Activity.RUN: run, Activity.CYCLE: cycle})
    for rules in ([RUN_100K, any_100k, any_50k], [any_100k, any_50k, RUN_100K]):
        assert ids(list(rules), facts(workout(), all_time=all_time)) == {"any-100k", "any-50k"}
    only_run = Totals(by_activity={Activity.RUN: ActivityTotals(distance_m=120_000)})
    assert ids([any_50k, RUN_100K], facts(workout(), all_time=only_run)) == {
        "any-50k",
        "run-100k",
    }


def test_progress_toward_totals_and_streaks() -> None:
    assert progress(RUN_100K, totals(run_km=25), 0) == pytest.approx(0.25)
    assert progress(RUN_100K, totals(run_km=250), 0) == 1.0
    assert progress(STREAK_3, totals(), 2) == pytest.approx(2 / 3)
    assert progress(FIVE_K, totals(), 0) is None


def test_streak_counts_days_once_and_bridges_late_workouts() -> None:
    d = date(2026, 11, 20)
    assert streak_through({d, d - timedelta(1), d - timedelta(2)}, d) == 3
    assert streak_through({d, d - timedelta(2)}, d) == 1
    # A late workout for the missing day joins two runs into one.
    assert streak_through({d, d - timedelta(1), d - timedelta(2), d + timedelta(1)}, d) == 4
    assert streak_through(set(), d) == 0


def test_streak_in_the_athletes_zone_across_midnight() -> None:
    tokyo = User(uuid.uuid4(), "u", "u", "h", datetime.now(UTC), timezone="Asia/Tokyo")
    # 23:30 UTC on Nov 19 is 08:30 on Nov 20 in Tokyo: it counts on the 20th there.
    late = datetime(2026, 11, 19, 23, 30, tzinfo=UTC)
    assert local_start(late, tokyo).date() == date(2026, 11, 20)
    w = workout(started=late)
    days = frozenset({date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)})
    f = facts(w, local_start=local_start(late, tokyo), active_local_days=days)
    assert ids([STREAK_3], f) == {"streak-3"}
    # Judged on UTC days it would not be a 3-day streak ending on the 19th with the 20th.
    utc = facts(w, local_start=late, active_local_days=frozenset({date(2026, 11, 20)}))
    assert ids([STREAK_3], utc) == set()


def test_streak_across_a_daylight_saving_change() -> None:
    berlin = User(uuid.uuid4(), "u", "u", "h", datetime.now(UTC), timezone="Europe/Berlin")
    # Clocks go back on 2026-10-25: that local day is 25 hours long.
    starts = [datetime(2026, 10, d, 22, 30, tzinfo=UTC) for d in (24, 25)]
    local_days = {local_start(s, berlin).date() for s in starts}
    # 22:30 UTC is 00:30 local on Oct 25 (CEST) and 23:30 local on Oct 25 (CET):
    assert local_days == {date(2026, 10, 25)}
    third = datetime(2026, 10, 26, 6, 0, tzinfo=UTC)
    days = frozenset(local_days | {date(2026, 10, 24), local_start(third, berlin).date()})
    f = facts(
        workout(started=third), local_start=local_start(third, berlin), active_local_days=days
    )
    assert ids([STREAK_3], f) == {"streak-3"}


def test_rules_narrowed_to_other_activities_earn_nothing_whatever_the_values() -> None:
    walk = workout(activity=Activity.WALK, distance=6000)
    days = frozenset(date(2026, 11, 20) - timedelta(n) for n in range(5))
    walk_only = Streak("walk-streak", "Walks", "d", frozenset({Activity.WALK}), 2)
    f = facts(walk, all_time=totals(run_km=150), active_local_days=days)
    assert ids([FIVE_K, RUN_100K, walk_only, LONGEST], f) == {"walk-streak"}
    run_only = Streak("run-streak", "Runs", "d", RUN, 2)
    assert ids([run_only], f) == set()


def test_every_streak_rule_reads_the_one_streak_through_the_workouts_day() -> None:
    day = date(2026, 11, 20)
    days = frozenset({day, day - timedelta(1), day - timedelta(2), day + timedelta(1)})
    rules = [
        STREAK_3,
        Streak("streak-5", "5 days", "d", None, 5),
        Streak("walk-2", "Walks", "d", frozenset({Activity.WALK}), 2),
        Streak("run-4", "Runs", "d", RUN, 4),
    ]
    awards = judge_workout(rules, facts(workout(), active_local_days=days))
    assert [(a.rule_id, a.value) for a in awards] == [("streak-3", 4.0), ("run-4", 4.0)]


def test_judging_by_the_catalog_is_judging_by_each_rule_alone() -> None:
    """What judge_workout works out once for all the rules (the workout as measured, the
    streak) gives each rule what it would get judged alone, in the catalog's order."""
    catalog = load_catalog(None)
    day = date(2026, 11, 20)
    started = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
    for w in (
        workout(distance=21_100, duration=6000, started=started),
        workout(activity=Activity.CYCLE, distance=100_000, duration=14_400, started=started),
        workout(activity=Activity.SWIM, distance=None, duration=3600, started=started),
    ):
        f = facts(
            w,
            all_time=Totals(
                {
                    Activity.RUN: ActivityTotals(distance_m=120_000, workouts=60),
                    Activity.CYCLE: ActivityTotals(distance_m=900_000, workouts=45),
                }
            ),
            active_local_days=frozenset(day - timedelta(n) for n in range(8)),
            previous_bests=dict.fromkeys((r.id for r in catalog), 1.0),
        )
        alone = [a for rule in catalog for a in judge_workout([rule], f)]
        assert judge_workout(catalog, f) == alone
        assert len(alone) > 5


def test_records_must_be_beaten_not_tied_and_need_a_previous_best() -> None:
    w = workout(distance=10_000)
    assert ids([LONGEST], facts(w, previous_bests={"longest": None})) == set()
    assert ids([LONGEST], facts(w, previous_bests={"longest": 10_000.0})) == set()
    beaten = judge_workout([LONGEST], facts(w, previous_bests={"longest": 9_999.0}))
    assert [(a.rule_id, a.period_key) for a in beaten] == [("longest", str(w.id))]


def test_pace_record_is_lower_is_better_and_needs_the_minimum_distance() -> None:
    fast = workout(distance=5000, duration=1200)  # 4:00 per km = 240 s/km
    assert ids([PACE_5K], facts(fast, previous_bests={"pace": 250.0})) == {"pace"}
    assert ids([PACE_5K], facts(fast, previous_bests={"pace": 240.0})) == set()
    short = workout(distance=3000, duration=600)
    assert ids([PACE_5K], facts(short, previous_bests={"pace": 400.0})) == set()


def test_early_bird_uses_the_local_start() -> None:
    w = workout(started=datetime(2026, 11, 20, 4, 30, tzinfo=UTC))
    ny = ZoneInfo("America/New_York")
    assert ids([EARLY], facts(w, local_start=w.submission.started_at)) == {"early"}
    # 04:30 UTC is 23:30 the evening before in New York: not early.
    assert ids([EARLY], facts(w, local_start=w.submission.started_at.astimezone(ny))) == set()


def test_placement_awards_the_top_places_with_ties() -> None:
    rule = Placement("podium", "Podium", "d", None, Metric.POINTS, Period.WEEK, 3)
    ranked = [(1, "a"), (2, "b"), (2, "c"), (4, "d")]
    winners = placement_awards(rule, ranked, "2026-W47")
    assert [(who, a.period_key, a.value) for who, a in winners] == [
        ("a", "2026-W47", 1.0), ("b", "2026-W47", 2.0), ("c", "2026-W47", 2.0)]  # fmt: skip


def test_the_default_catalog_loads() -> None:
    rules = load_catalog(None)
    by_id = {r.id: r for r in rules}
    assert {"first-workout", "run-5k", "run-marathon", "ride-100k", "burn-1000",
            "run-total-100k", "workouts-10", "workouts-50", "workouts-100", "calories-10000",
            "streak-7", "record-longest-run", "record-fastest-5k", "record-most-calories",
            "early-bird", "weekly-podium", "weekly-top-10"} <= set(by_id)  # fmt: skip
    assert isinstance(by_id["run-marathon"], WorkoutThreshold)
    assert by_id["run-marathon"].at_least == 42195


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "achievements:\n - {id: x, name: X, description: d, kind: workout, "
            "measure: distance_m, at_least: -1}\n",
            "achievement 'x' (#1), field 'at_least'",
        ),
        (
            "achievements:\n - {id: y, name: Y, description: d, kind: streak}\n",
            "achievement 'y' (#1), field 'days'",
        ),
        (
            "achievements:\n - {id: z, name: Z, description: d, kind: teleport}\n",
            "achievement 'z' (#1)",
        ),
        (
            "achievements:\n - {id: a, name: A, description: d, kind: streak, days: 3}\n"
            " - {id: a, name: B, description: d, kind: streak, days: 4}\n",
            "declared twice",
        ),
        (
            "achievements:\n - {id: r, name: R, description: d, kind: workout, "
            "measure: distance_m, at_least: 1, activities: [flying]}\n",
            "field 'activities",
        ),
        ("achievements: [", "not valid YAML"),
    ],
)
def test_a_bad_catalog_names_the_rule_and_the_field(text: str, message: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "rules.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("rules.yaml")


def test_early_bird_starts_in_the_morning_not_after_midnight() -> None:
    # "Early bird, before 06:00": a session at 00:30 after a late night is not one; the
    # morning starts at 04:00 (docs/domain.md).
    for hour, minute, earned in ((0, 30, False), (3, 59, False), (4, 0, True), (5, 59, True)):
        w = workout(started=datetime(2026, 11, 20, hour, minute, tzinfo=UTC))
        assert (ids([EARLY], facts(w)) == {"early"}) is earned, (hour, minute)


def test_a_morning_that_starts_after_it_ends_is_refused() -> None:
    text = """
achievements:
  - {id: owl, name: Owl, description: d, kind: time_of_day, from_hour: 6, before_hour: 6}
"""
    with pytest.raises(CatalogError, match="from_hour must be earlier than before_hour"):
        parse_catalog(text)


def test_record_setters_are_the_workouts_that_beat_all_before_them() -> None:
    def m(distance: float) -> Measured:
        return Measured(uuid.uuid4(), Activity.RUN, distance, 3600, 500.0, 50)

    mon, tue, wed, thu = m(10_000), m(15_000), m(12_000), m(15_000)
    holders = record_setters(LONGEST, None, [mon, tue, wed, thu])
    # Monday sets the first best without earning it; Thursday only equals Tuesday.
    assert [(w, v) for w, v in holders] == [(tue, 15_000)]
    assert [w for w, _ in record_setters(LONGEST, 16_000.0, [mon, tue, wed, thu])] == []
    assert [w for w, _ in record_setters(LONGEST, 9_000.0, [mon, tue])] == [mon, tue]


def test_pace_is_one_exact_double() -> None:
    # The same expression the record's SQL evaluates: duration * 1000.0 / distance.
    assert pace_s_per_km(2345, 5012.7) == 2345 * 1000.0 / 5012.7
    assert pace_s_per_km(1200, 5000) == 240.0


def test_a_workout_without_distance_brings_no_distance_best() -> None:
    # As the record reads bests: a run of 0 m is no longest run, so the next run is the
    # first of its kind (no record earned), and a distance below a rule's least is none.
    def m(distance: float | None) -> Measured:
        return Measured(uuid.uuid4(), Activity.RUN, distance, 3600, 500.0, 50)

    nothing, first, better = m(0.0), m(5_000), m(6_000)
    assert not record_applies(LONGEST, nothing)
    assert not record_applies(LONGEST, m(None))
    assert record_applies(LONGEST, first)
    assert record_setters(LONGEST, None, [nothing, first, better]) == [(better, 6_000)]
    five_k = PersonalRecord("5k", "5K", "d", RUN, Measure.DURATION, 5000)
    assert not record_applies(five_k, m(4_999))
    assert record_applies(five_k, m(5_000))
    assert least_record_distance(five_k) == 5000
    anything = PersonalRecord("long", "Long", "d", None, Measure.DURATION)
    assert record_applies(anything, m(None))
    assert least_record_distance(anything) == 0.0
