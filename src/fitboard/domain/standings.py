"""What each metric is, and from an athlete's totals to their score on a board: the one
rule the worker's projection, the record's rebuild queries and challenges follow."""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, cast
from uuid import UUID

from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, ScoreUpdate
from fitboard.domain.periods import keys_for_day
from fitboard.domain.workouts import ActivityTotals, DailyContribution, Totals

# Totals are float sums, and the order of a sum moves its last bits: 0.1-kcal workout
# calories that add up to exactly n.5 come out as n.4999... in one order and n.5000... in
# another. Rounding to this many decimals first makes the score the same whatever the
# order (the SQL rebuild and the worker's projection sum in different orders).
_SUM_DECIMALS = 6


def whole(total: float) -> int:
    """A calorie or distance total as a board's integer score: rounded half up, so 0.5
    kcal is 1 and keeps the athlete on the board (Python's round() would give 0)."""
    return math.floor(round(total, _SUM_DECIMALS) + 0.5)


class Tally(StrEnum):
    """How a metric's total is formed from the workouts that count."""

    SUM = "sum"  # the sum of one quantity of each workout
    COUNT = "count"  # how many workouts there are
    DAYS = "days"  # how many distinct days have a workout


@dataclass(frozen=True)
class MetricDefinition:
    """What a metric's total is made of and how it becomes a score.

    `total` names the total in `ActivityTotals`. A summed or counted total is kept under
    the same name in `DailyContribution` and in the daily rollups; a summed one adds up the
    workout's own quantity of that name (a workout without one adds 0). `reached_at` names
    the `ActivityTotals` field (and, but for active days, the rollup column) holding when
    the total last rose. A `rounded` total is fractional (a float) and scores rounded half
    up (`whole`); any other is a whole number and is its own score."""

    tally: Tally
    total: str
    reached_at: str
    rounded: bool = False


# The one definition of every metric: the worker's projection reads it here, and the SQL
# adapters build their sums from it (adapters/sql/metrics.py).
METRICS: Mapping[Metric, MetricDefinition] = MappingProxyType(
    {
        Metric.CALORIES: MetricDefinition(
            Tally.SUM, "calories", "calories_reached_at", rounded=True
        ),
        Metric.DISTANCE: MetricDefinition(
            Tally.SUM, "distance_m", "distance_last_ended_at", rounded=True
        ),
        Metric.DURATION: MetricDefinition(Tally.SUM, "duration_s", "last_ended_at"),
        Metric.WORKOUTS: MetricDefinition(Tally.COUNT, "workouts", "last_ended_at"),
        Metric.POINTS: MetricDefinition(Tally.SUM, "points", "points_reached_at"),
        Metric.ACTIVE_DAYS: MetricDefinition(Tally.DAYS, "active_days", "active_day_reached_at"),
    }
)


def total_score(metric: Metric, total: float) -> int:
    """A metric's total as a board's integer score."""
    return whole(total) if METRICS[metric].rounded else int(total)


def metric_totals(metric: Metric, total: float, reached_at: datetime | None) -> ActivityTotals:
    """One activity's totals that hold only `metric`'s total and when it was reached, as
    a query for one metric's board reads them."""
    definition = METRICS[metric]
    fields: dict[str, Any] = {
        definition.total: float(total) if definition.rounded else int(total),
        definition.reached_at: reached_at,
    }
    return replace(ActivityTotals(), **fields)


def moments_moved(added: DailyContribution) -> set[str]:
    """The moments (by their `ActivityTotals` names) that one workout's contribution moves
    to its `reached_at`: a metric's moment moves only with a workout that adds to its total
    (docs/domain.md, "Ties"), so one adding no distance leaves the distance moment alone."""
    return {
        d.reached_at
        for d in METRICS.values()
        if d.tally is not Tally.DAYS and getattr(added, d.total) > 0
    }


def metric_score(metric: Metric, totals: ActivityTotals) -> tuple[int, datetime | None]:
    """A metric's integer score for one activity's totals, and when it was reached: when
    the last workout that raised that metric was recorded, so a workout that adds nothing
    to a metric never moves its moment."""
    definition = METRICS[metric]
    reached_at: datetime | None = getattr(totals, definition.reached_at)
    return total_score(metric, getattr(totals, definition.total)), reached_at


def combined(totals: Totals) -> ActivityTotals:
    """All activities together (`_combined_of`'s rule, as an ActivityTotals): each summed
    total added up over the activities in their order, each moment the latest, and active
    days, distinct days rather than (day, activity) rows, with their moment from `totals`."""
    values, moments = _combined_of(totals)
    return ActivityTotals(*_AS_FIELDS((*values, *moments)))


def score_on(board: BoardId, totals: Totals) -> tuple[int, datetime | None]:
    """The athlete's score on a board given their totals over the board's period.

    Global and group boards see every activity; activity boards only theirs."""
    activity = board.scope.activity
    if activity is not None:
        return metric_score(board.metric, totals.by_activity.get(activity, ActivityTotals()))
    return metric_score(board.metric, combined(totals))


def scopes_moved_by(activity: Activity, group_ids: Sequence[UUID]) -> list[Scope]:
    """The scopes a workout of `activity` counts in: global, its activity, the athlete's groups."""
    return [Scope.global_(), Scope.for_activity(activity), *map(Scope.for_group, group_ids)]


def every_scope(group_ids: Sequence[UUID]) -> list[Scope]:
    """Every scope an athlete can have a score in."""
    return [Scope.global_(), *map(Scope.for_activity, Activity), *map(Scope.for_group, group_ids)]


def updates_for(
    totals_by_period: dict[Period, Totals],
    day: date,
    scopes: Sequence[Scope],
    visible: bool,
) -> list[ScoreUpdate]:
    """The athlete's new absolute score on every board of `scopes`, for every metric and
    every period in `totals_by_period` (their totals over the period instance containing
    `day`). An athlete hidden from boards, or whose score is zero, is removed instead.

    Each score is `score_on`'s. The worker runs this for every workout, 60 updates or more
    each time, so: what a scope sees is read once per period for the activity scopes and
    once for all the others (global and groups see every activity: `combined`, without
    making its ActivityTotals), and scored once per distinct totals (one activity's
    athlete, the usual one, sees the same on both, and often the same over several
    periods); the day's period keys and each (period instance, scope)'s board keys are
    made once per process (`_period_keys`, `_boards_of`); the updates are made by `map`."""
    keys = _period_keys(day)
    updates: list[ScoreUpdate] = []
    extend = updates.extend
    # The scores of the totals and moments (tuples, in _METRICS' order) scored so far:
    # equal totals and moments score the same. (A lookup hashes the moments, once each: a
    # datetime keeps its hash, so whatever hashes these updates' moments later does not
    # pay for it again.)
    scored_of: dict[tuple[tuple[float, ...], tuple[datetime | None, ...]], _Scored] = {}
    for period, totals in totals_by_period.items():
        key = keys[period]
        everything: tuple[tuple[float, ...], tuple[datetime | None, ...]] | None = None
        for scope in scopes:
            activity, boards = _boards_of(period, scope, key)
            if not visible:
                extend(map(ScoreUpdate, boards, *_HIDDEN))
                continue
            if activity is not None:
                part = totals.by_activity.get(activity, _NOTHING)
                seen = (_TOTALS_OF(part), _MOMENTS_OF(part))
            else:
                if everything is None:
                    everything = _combined_of(totals)
                seen = everything
            scored = scored_of.get(seen)
            if scored is None:
                scored = scored_of[seen] = _scored(*seen)
            extend(map(ScoreUpdate, boards, *scored))
    return updates


# Every metric in declaration order (the order updates_for has always listed them in),
# with what metric_score reads of an ActivityTotals for each: its total and its moment
# (each getter answers a tuple of all six in that order), and whether it is rounded.
_METRICS = tuple(Metric)
_TOTALS_OF = operator.attrgetter(*(METRICS[m].total for m in _METRICS))
_MOMENTS_OF = operator.attrgetter(*(METRICS[m].reached_at for m in _METRICS))
# Where each ActivityTotals field stands among _combined_of's totals then moments (the
# moment of duration and of workouts, last_ended_at, stands twice: the last is taken), and
# a getter of them in the fields' order. A field no metric reads stops the import here.
_STANDS_AT = {
    name: at
    for at, name in enumerate(
        [*(METRICS[m].total for m in _METRICS), *(METRICS[m].reached_at for m in _METRICS)]
    )
}
_AS_FIELDS = operator.itemgetter(*(_STANDS_AT[f.name] for f in dataclasses.fields(ActivityTotals)))
_ROUNDED = tuple(METRICS[m].rounded for m in _METRICS)
# Where, in that order, the totals that `combined` takes from Totals (distinct days) and
# does not add up over the activities.
_DAYS_AT = tuple(i for i, m in enumerate(_METRICS) if METRICS[m].tally is Tally.DAYS)
# The totals of an activity with no workouts.
_NOTHING = ActivityTotals()

# Per metric in _METRICS' order, the score and moment an update sets (None, None: removed).
_Scored = tuple[Sequence[int | None], Sequence[datetime | None]]
_HIDDEN: _Scored = ((None,) * len(_METRICS), (None,) * len(_METRICS))


def _scored(totals: Sequence[float], moments: Sequence[datetime | None]) -> _Scored:
    """A visible athlete's score and moment on each metric's board (`metric_score`,
    inline), from the totals and moments of each metric in _METRICS' order."""
    scores: list[int | None] = []
    reached: list[datetime | None] = []
    for total, moment, rounded in zip(totals, moments, _ROUNDED, strict=True):
        score = whole(total) if rounded else int(total)
        if score > 0 and moment is not None:
            scores.append(score)
            reached.append(moment)
        else:
            scores.append(None)
            reached.append(None)
    return scores, reached


def _combined_of(totals: Totals) -> tuple[tuple[float, ...], tuple[datetime | None, ...]]:
    """All activities together, the one place of the rule (`combined` makes an
    ActivityTotals of it): the totals and the moments of every metric in _METRICS' order,
    as `_TOTALS_OF` and `_MOMENTS_OF` read them of an ActivityTotals. Each summed total is
    added up over the activities in their order (an order moves a float's last bits), each
    moment is the latest, and active days (distinct days, not (day, activity) rows) and
    their moment are `totals`' own."""
    parts = list(totals.by_activity.values())
    values: list[float]
    moments: list[datetime | None]
    if not parts:
        values, moments = [0] * len(_METRICS), [None] * len(_METRICS)
    elif len(parts) == 1:
        # One activity, the usual case: its own totals and moments (a sum of one float is
        # that float, or 0.0 for -0.0, which scores 0 either way).
        values, moments = list(_TOTALS_OF(parts[0])), list(_MOMENTS_OF(parts[0]))
    else:
        values = list(map(sum, zip(*map(_TOTALS_OF, parts), strict=True)))
        moments = list(map(_latest, zip(*map(_MOMENTS_OF, parts), strict=True)))
    for at in _DAYS_AT:
        values[at] = totals.active_days
        moments[at] = totals.active_day_reached_at
    return tuple(values), tuple(moments)


@functools.lru_cache(maxsize=64)
def _period_keys(day: date) -> Mapping[Period, str]:
    """`keys_for_day`, read-only, once per day: a worker's workouts fall on a few days."""
    return MappingProxyType(keys_for_day(day))


@functools.lru_cache(maxsize=4096)
def _boards_of(
    period: Period, scope: Scope, period_key: str
) -> tuple[Activity | None, tuple[BoardKey, ...]]:
    """The scope's activity and its board keys of one period instance, one per metric in
    `_METRICS`' order. Cached: a worker sees the same few instances workout after workout
    (today's, this week's...); its size bounds the memory of many groups' scopes."""
    return scope.activity, tuple(BoardKey(BoardId(m, period, scope), period_key) for m in _METRICS)


def _latest(moments: tuple[datetime | None, ...]) -> datetime | None:
    """The latest of the moments that are set (filter(None): a datetime is never false);
    max alone where all are set, which is the faster."""
    if None not in moments:
        return max(cast("tuple[datetime, ...]", moments))
    return max(filter(None, moments), default=None)
