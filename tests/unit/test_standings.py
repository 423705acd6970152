"""The metric definitions (domain/standings.py): every name they give is a real field, and
a score is read back from totals exactly as it was written into them."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from fitboard.adapters.sql.tables import daily_rollups, workouts
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, ScoreUpdate
from fitboard.domain.periods import keys_for_day
from fitboard.domain.standings import (
    METRICS,
    Tally,
    combined,
    metric_score,
    metric_totals,
    moments_moved,
    scopes_moved_by,
    score_on,
    total_score,
    updates_for,
    whole,
)
from fitboard.domain.workouts import ActivityTotals, DailyContribution, Totals

REACHED = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_every_metric_has_a_definition() -> None:
    assert set(METRICS) == set(Metric)


@pytest.mark.parametrize("metric", list(Metric))
def test_a_definition_names_the_fields_that_hold_its_total(metric: Metric) -> None:
    definition = METRICS[metric]
    totals = {f.name for f in fields(ActivityTotals)}
    assert {definition.total, definition.reached_at} <= totals
    if definition.tally is Tally.DAYS:
        return
    # Kept under the same names in a day's contribution and in the daily rollups.
    assert definition.total in {f.name for f in fields(DailyContribution)}
    assert {definition.total, definition.reached_at} <= set(daily_rollups.c.keys())
    if definition.tally is Tally.SUM:
        assert definition.total in workouts.c


@pytest.mark.parametrize("metric", list(Metric))
def test_a_score_comes_back_from_the_totals_that_hold_it(metric: Metric) -> None:
    totals = metric_totals(metric, 42, REACHED)
    assert metric_score(metric, totals) == (42, REACHED)
    # Nothing but this metric's total and moment is set.
    others = [m for m in Metric if METRICS[m].total != METRICS[metric].total]
    assert all(metric_score(m, totals)[0] == 0 for m in others)


@pytest.mark.parametrize(
    ("metric", "total", "score"),
    [
        (Metric.CALORIES, 2.5, 3),  # half up, where round() would give 2
        (Metric.CALORIES, 0.49, 0),
        (Metric.DISTANCE, 0.5, 1),
        (Metric.DISTANCE, 1234.4, 1234),
        (Metric.DURATION, 3600, 3600),
        (Metric.WORKOUTS, 7, 7),
        (Metric.POINTS, 0, 0),
        (Metric.ACTIVE_DAYS, 12, 12),
    ],
)
def test_fractional_totals_score_rounded_half_up_and_whole_ones_as_they_are(
    metric: Metric, total: float, score: int
) -> None:
    assert total_score(metric, total) == score


def _added(**totals: float) -> DailyContribution:
    values: dict[str, float] = {
        "calories": 0.0, "distance_m": 0.0, "duration_s": 600, "workouts": 1, "points": 0,
        **totals,
    }  # fmt: skip
    return DailyContribution(
        calories=values["calories"],
        distance_m=values["distance_m"],
        duration_s=int(values["duration_s"]),
        workouts=int(values["workouts"]),
        points=int(values["points"]),
        ended_at=REACHED,
    )


@pytest.mark.parametrize(
    ("added", "moved"),
    [
        (_added(), {"last_ended_at"}),
        (_added(calories=0.4), {"last_ended_at", "calories_reached_at"}),
        (
            _added(distance_m=1.0, points=3),
            {"last_ended_at", "distance_last_ended_at", "points_reached_at"},
        ),
        (_added(duration_s=0), {"last_ended_at"}),  # workouts move it too
    ],
)
def test_a_workout_moves_only_the_moments_of_the_totals_it_adds_to(
    added: DailyContribution, moved: set[str]
) -> None:
    assert moments_moved(added) == moved


def test_a_total_scores_the_same_whatever_order_it_was_summed_in() -> None:
    # 0.1-kcal calories whose exact sum is 441.5: summed forwards the float is 441.5,
    # backwards 441.49999999999994. A board (the worker's projection) and a rebuild (SQL's
    # sum) add in different orders, and must give the same score (found by the chaos suite).
    calories = [8.9, 73.2, 359.4]
    assert sum(calories) != sum(reversed(calories))
    assert whole(sum(calories)) == whole(sum(reversed(calories))) == 442


def test_all_activities_together_add_up_keep_the_latest_moments_and_count_distinct_days() -> None:
    """combined, the rule of every global and group board (updates_for reads the same):
    each total summed in the activities' order, each moment the latest that is set, and
    active days and their moment the Totals' own (a day of two activities counts once)."""
    early, late = REACHED, REACHED + timedelta(hours=3)
    run = ActivityTotals(
        calories=0.1, distance_m=5000.5, duration_s=1800, workouts=2, points=7, active_days=2,
        last_ended_at=early, distance_last_ended_at=late, active_day_reached_at=early,
        calories_reached_at=early, points_reached_at=None,
    )  # fmt: skip
    ride = ActivityTotals(
        calories=0.2, duration_s=3600, workouts=1, points=3, active_days=1,
        last_ended_at=late, active_day_reached_at=late,
        calories_reached_at=late, points_reached_at=early,
    )  # fmt: skip
    swim = ActivityTotals(
        calories=0.3, distance_m=1000.25, duration_s=900, workouts=1, active_days=1,
        last_ended_at=early, distance_last_ended_at=early, active_day_reached_at=early,
        calories_reached_at=early,
    )  # fmt: skip
    days_at = REACHED + timedelta(days=1)
    by_activity = {Activity.RUN: run, Activity.CYCLE: ride, Activity.SWIM: swim}

    got = combined(Totals(by_activity, active_days=2, active_day_reached_at=days_at))

    assert 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1  # the order of a sum shows
    assert got == ActivityTotals(
        calories=0.1 + 0.2 + 0.3, distance_m=5000.5 + 1000.25, duration_s=6300, workouts=4,
        points=10, active_days=2,
        last_ended_at=late, distance_last_ended_at=late, active_day_reached_at=days_at,
        calories_reached_at=late, points_reached_at=early,
    )  # fmt: skip
    # Every field is made (none left as an ActivityTotals() has it).
    nothing = ActivityTotals()
    assert all(getattr(got, f.name) != getattr(nothing, f.name) for f in fields(nothing))
    # One activity is its own totals but for the days; none is nothing.
    alone = combined(Totals({Activity.RUN: run}, active_days=1, active_day_reached_at=days_at))
    assert alone == replace(run, active_days=1, active_day_reached_at=days_at)
    assert combined(Totals({})) == nothing


def _totals(seed: int) -> Totals:
    """Two activities' totals, different per seed, one of them without distance."""
    run = ActivityTotals(
        calories=100.5 + seed,
        distance_m=5000.25 * seed,
        duration_s=600 * (seed + 1),
        workouts=seed + 1,
        points=7 * seed,
        active_days=seed + 1,
        last_ended_at=REACHED,
        distance_last_ended_at=REACHED if seed else None,
        active_day_reached_at=REACHED,
        calories_reached_at=REACHED,
        points_reached_at=REACHED if seed else None,
    )
    ride = ActivityTotals(
        calories=40.25,
        duration_s=1200,
        workouts=1,
        points=3,
        active_days=1,
        last_ended_at=REACHED + timedelta(hours=seed),
        active_day_reached_at=REACHED,
        calories_reached_at=REACHED + timedelta(hours=seed),
        points_reached_at=REACHED,
    )
    return Totals({Activity.RUN: run, Activity.CYCLE: ride}, seed + 2, REACHED)


def _as_score_on_reads_them(
    by_period: dict[Period, Totals], day: date, scopes: list[Scope], visible: bool
) -> list[ScoreUpdate]:
    """What updates_for must answer: per period, scope and metric in that order, the
    score that score_on reads from the period's totals, removed when not shown."""
    keys = keys_for_day(day)
    expected: list[ScoreUpdate] = []
    for period, totals in by_period.items():
        for scope in scopes:
            for metric in Metric:
                board = BoardId(metric, period, scope)
                score, reached_at = score_on(board, totals)
                shown = visible and score > 0 and reached_at is not None
                expected.append(
                    ScoreUpdate(
                        BoardKey(board, keys[period]),
                        score if shown else None,
                        reached_at if shown else None,
                    )
                )
    return expected


@pytest.mark.parametrize("visible", [True, False])
def test_updates_are_every_boards_score_as_score_on_reads_it(visible: bool) -> None:
    """updates_for lists, per period, scope and metric in that order, the score that
    score_on reads from the period's totals (an activity scope with no workouts of its
    activity and a zero score remove the athlete, as does being hidden)."""
    day = date(2026, 11, 20)
    group = UUID("00000000-0000-4000-8000-000000000001")
    scopes = [*scopes_moved_by(Activity.RUN, [group]), Scope.for_activity(Activity.SWIM)]
    by_period = {period: _totals(seed) for seed, period in enumerate(Period)}

    got = updates_for(by_period, day, scopes, visible)

    assert got == _as_score_on_reads_them(by_period, day, scopes, visible)
    if visible:
        assert any(u.score is None for u in got)
        assert any(u.score for u in got)


def _one_activity(seed: int) -> Totals:
    """One activity's totals, whose distinct days (and their moment) differ from the
    activity's own, as totals read over different ranges can."""
    (run, _) = _totals(seed).by_activity.values()
    return Totals({Activity.RUN: run}, seed + 5, REACHED + timedelta(minutes=seed))


@pytest.mark.parametrize(
    "by_period",
    [
        # One activity (read straight off its totals), a different one each period.
        {period: _one_activity(seed) for seed, period in enumerate(Period)},
        # The same totals over every period and, the athlete's only activity being a
        # run, the same on the global and the run scope: scored once, told for each.
        dict.fromkeys(Period, Totals({Activity.RUN: _totals(1).by_activity[Activity.RUN]}, 2)),
        # Three activities, one of them a day's only distance and calories.
        {
            period: Totals(
                {
                    **_totals(seed).by_activity,
                    Activity.SWIM: ActivityTotals(
                        calories=0.25 + seed,
                        distance_m=1000.5,
                        workouts=1,
                        last_ended_at=REACHED + timedelta(days=1),
                        distance_last_ended_at=REACHED + timedelta(days=1),
                        calories_reached_at=REACHED - timedelta(days=1),
                    ),
                },
                seed + 3,
                REACHED,
            )
            for seed, period in enumerate(Period)
        },
        # No workouts in any period yet, or only in the all-time one.
        dict.fromkeys(Period, Totals({})),
        {**dict.fromkeys(Period, Totals({})), Period.ALL: _totals(2)},
    ],
    ids=["one activity", "equal totals", "three activities", "nothing", "all-time only"],
)
@pytest.mark.parametrize("visible", [True, False])
def test_updates_read_every_shape_of_totals_as_score_on_does(
    by_period: dict[Period, Totals], visible: bool
) -> None:
    day = date(2027, 1, 1)  # in 2026-W53: its week's key and its year's differ
    group = UUID("00000000-0000-4000-8000-000000000002")
    scopes = [*scopes_moved_by(Activity.RUN, [group]), Scope.for_activity(Activity.SWIM)]

    got = updates_for(by_period, day, scopes, visible)

    assert got == _as_score_on_reads_them(by_period, day, scopes, visible)
    assert len({u.key for u in got}) == len(got)


def test_updates_name_the_period_instances_of_their_own_day() -> None:
    """The day's period keys are kept once worked out: another day's are its own."""
    scopes = scopes_moved_by(Activity.RUN, [])
    by_period = {period: _one_activity(1) for period in Period}
    for day in (date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 4), date(2026, 12, 31)):
        got = updates_for(by_period, day, scopes, visible=True)
        assert got == _as_score_on_reads_them(by_period, day, scopes, visible=True)
        assert {u.key.period_key for u in got} == set(keys_for_day(day).values())
