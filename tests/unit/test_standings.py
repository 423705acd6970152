"""The metric definitions (domain/standings.py): every name they give is a real field, and
a score is read back from totals exactly as it was written into them."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from fitboard.adapters.sql.tables import daily_rollups, workouts
from fitboard.domain.boards import Metric
from fitboard.domain.standings import (
    METRICS,
    Tally,
    metric_score,
    metric_totals,
    moments_moved,
    total_score,
    whole,
)
from fitboard.domain.workouts import ActivityTotals, DailyContribution

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
