"""A metric's total in SQL, built from its one definition in the domain
(`fitboard.domain.standings.METRICS`), for every query that sums a metric."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, func

from fitboard.adapters.sql.tables import daily_rollups, workouts
from fitboard.domain.boards import Metric
from fitboard.domain.standings import METRICS, Tally


def metric_total(metric: Metric, rows: Table) -> ColumnElement[Any]:
    """The aggregate of `metric`'s total over a group of `rows`: of `daily_rollups`, each
    row one day's totals under the totals' own names, or of `workouts`, each row one
    workout with its quantities under those names."""
    if rows is not daily_rollups and rows is not workouts:
        raise ValueError(f"metric totals are kept in daily_rollups and workouts, not {rows.name}")
    definition = METRICS[metric]
    one_per_workout = rows is workouts
    if definition.tally is Tally.DAYS:
        day = workouts.c.board_day if one_per_workout else daily_rollups.c.day
        return func.count(func.distinct(day))
    if definition.tally is Tally.COUNT and one_per_workout:
        return func.count()
    column = rows.c[definition.total]
    # A workout without the quantity (a swim's missing distance) adds nothing.
    return func.sum(func.coalesce(column, 0) if column.nullable else column)
