"""Every daily rollup row's tie moments recomputed from its workouts, by the rule the boards
follow now (docs/domain.md, "Ties"), so rows written by older releases neither win nor lose
ties they should not.

Rows written before 0004 hold the workouts' ends where the rule is now their `reached_at`
(the later of the end and the submission, `DailyContribution.reached_at`): in
`first_ended_at`, `last_ended_at` and `distance_last_ended_at`; and 0004 filled
`calories_reached_at` and `points_reached_at` with `last_ended_at` wherever the total is
positive, which is wrong wherever the day's latest workout added no calories or no points
(and is an end, not a `reached_at`). Each moment is
recomputed from the row's counted workouts (status 'processed', grouped by athlete, board
day and activity), as `SqlRollupRepository.add` writes it: first and last, the earliest and
the latest `reached_at` of them all; distance, calories and points, the latest `reached_at`
of those with a distance, calories above 0, points above 0 (NULL when none has). Only rows
that differ are written. A row without a counted workout (none should exist) is left as it
is and counted in the summary.

The work is done in Python, a batch of athletes at a time (their workouts read whole,
a batch at a time), because the end of a workout is date arithmetic that SQLite and PostgreSQL
spell differently; the domain's own `contribution` and `reached_at` decide the moments. It
says how far it has got while it runs (see `_say`).

The boards are a cache of the record: ranking indexes filled before this revision (Redis)
keep the old moments until they are reloaded, so run `fitboard rebuild` once after
upgrading (docs/deploy.md). Embedded mode's boards live in the process's memory and are
loaded from the record after it starts, so there is nothing to rebuild there.

Downgrade: nothing to undo. The columns stay as they are (0004 owns them), and the
recomputed moments are what the code of 0004 and 0005 writes too.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.engine import Connection

from fitboard.adapters.sql.types import UtcDateTime
from fitboard.domain.activities import Activity
from fitboard.domain.evaluation import contribution
from fitboard.domain.workouts import (
    CaloriesMethod,
    DailyContribution,
    Workout,
    WorkoutStatus,
    WorkoutSubmission,
)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Athletes per batch: their workouts, and their rows' moments, are held in memory. Not
# streamed: on PostgreSQL a server-side cursor stays open until the migration's
# transaction ends, and a later revision's ALTER TABLE of `workouts` in that transaction
# is then refused ("being used by active queries in this session").
_ATHLETES_PER_BATCH = 50
# How often, at most, a long run says how far it has got.
_REPORT_EVERY_S = 10.0

_log = logging.getLogger("fitboard.migrations")

# The two tables as this revision knows them (not tables.py, which follows later ones).
_rollups = sa.table(
    "daily_rollups",
    sa.column("user_id", sa.Uuid()),
    sa.column("day", sa.Date()),
    sa.column("activity", sa.String()),
    sa.column("first_ended_at", UtcDateTime()),
    sa.column("last_ended_at", UtcDateTime()),
    sa.column("distance_last_ended_at", UtcDateTime()),
    sa.column("calories_reached_at", UtcDateTime()),
    sa.column("points_reached_at", UtcDateTime()),
)
_workouts = sa.table(
    "workouts",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("activity", sa.String()),
    sa.column("started_at", UtcDateTime()),
    sa.column("duration_s", sa.Integer()),
    sa.column("submitted_at", UtcDateTime()),
    sa.column("distance_m", sa.Double()),
    sa.column("status", sa.String()),
    sa.column("board_day", sa.Date()),
    sa.column("calories", sa.Double()),
    sa.column("calories_method", sa.String()),
    sa.column("met", sa.Double()),
    sa.column("body_mass_kg", sa.Double()),
    sa.column("points", sa.Integer()),
    sa.column("processed_at", UtcDateTime()),
)

_Key = tuple[UUID, date, str]


class _Moments(NamedTuple):
    """A rollup row's five moments, named as its columns. (Not a dataclass: Alembic loads
    this file outside sys.modules, where a dataclass cannot resolve its annotations.)"""

    first_ended_at: datetime
    last_ended_at: datetime
    distance_last_ended_at: datetime | None
    calories_reached_at: datetime | None
    points_reached_at: datetime | None

    @classmethod
    def of(cls, added: DailyContribution) -> _Moments:
        """The moments of a row holding just this workout, as `SqlRollupRepository.add`
        writes them."""
        reached = added.reached_at
        return cls(
            first_ended_at=reached,
            last_ended_at=reached,
            distance_last_ended_at=reached if added.distance_m > 0 else None,
            calories_reached_at=reached if added.calories > 0 else None,
            points_reached_at=reached if added.points > 0 else None,
        )

    def merged(self, other: _Moments) -> _Moments:
        """The moments of a row holding the workouts of both (in any order, as `add`'s
        upsert keeps the earliest first moment and the latest of each other one)."""
        return _Moments(
            first_ended_at=min(self.first_ended_at, other.first_ended_at),
            last_ended_at=max(self.last_ended_at, other.last_ended_at),
            distance_last_ended_at=_later(
                self.distance_last_ended_at, other.distance_last_ended_at
            ),
            calories_reached_at=_later(self.calories_reached_at, other.calories_reached_at),
            points_reached_at=_later(self.points_reached_at, other.points_reached_at),
        )


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two moments; None is no moment, so the other one wins."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _workout(row: Any) -> Workout:
    """The domain's workout from a row of `workouts`: what `contribution` needs of it."""
    return Workout(
        submission=WorkoutSubmission(
            id=row.id,
            user_id=row.user_id,
            activity=Activity(row.activity),
            started_at=row.started_at,
            duration_s=row.duration_s,
            submitted_at=row.submitted_at,
            distance_m=row.distance_m,
        ),
        status=WorkoutStatus(row.status),
        board_day=row.board_day,
        calories=row.calories,
        calories_method=CaloriesMethod(row.calories_method),
        met=row.met,
        body_mass_kg=row.body_mass_kg,
        points=row.points,
        processed_at=row.processed_at,
    )


def _say(message: str) -> None:
    """Tell the operator. Through logging when the process has set it up (`fitboard serve`
    in embedded mode migrates as it starts); on standard error otherwise, since `fitboard db
    upgrade` sets up no logging and would drop an INFO record."""
    if logging.getLogger().handlers:
        _log.info(message)
    else:
        print(message, file=sys.stderr, flush=True)


def _in_batch(column: Any, after: UUID | None, last: UUID) -> list[Any]:
    """The athletes of a batch: after the previous batch's last one, up to `last`."""
    bounds = [column <= last]
    if after is not None:
        bounds.append(column > after)
    return bounds


def _next_athletes(connection: Connection, after: UUID | None) -> list[UUID]:
    """The next batch of athletes with rollup rows, in the database's order of ids (the
    primary key's first column)."""
    statement = sa.select(_rollups.c.user_id).group_by(_rollups.c.user_id)
    if after is not None:
        statement = statement.where(_rollups.c.user_id > after)
    statement = statement.order_by(_rollups.c.user_id).limit(_ATHLETES_PER_BATCH)
    return list(connection.execute(statement).scalars())


def _expected(connection: Connection, after: UUID | None, last: UUID) -> dict[_Key, _Moments]:
    """Each row's moments, from the batch's counted workouts."""
    w = _workouts.c
    statement = sa.select(_workouts).where(
        w.status == WorkoutStatus.PROCESSED.value, *_in_batch(w.user_id, after, last)
    )
    found: dict[_Key, _Moments] = {}
    for row in connection.execute(statement).all():
        workout = _workout(row)
        if not workout.counts_on_boards:
            continue
        key = (workout.user_id, workout.board_day, workout.submission.activity.value)
        moments = _Moments.of(contribution(workout))
        held = found.get(key)
        found[key] = moments if held is None else held.merged(moments)
    return found


def upgrade() -> None:
    if context.is_offline_mode():
        raise RuntimeError(
            "revision 0006 recomputes rows from the workouts table, which needs the "
            "database: run it online (fitboard db upgrade)"
        )
    connection = op.get_bind()
    r = _rollups.c
    rows = connection.execute(sa.select(sa.func.count()).select_from(_rollups)).scalar_one()
    if rows == 0:
        return
    _say(f"0006: recomputing the tie moments of {rows} daily rollup rows from their workouts")
    rewrite = (
        sa.update(_rollups)
        .where(
            r.user_id == sa.bindparam("row_user_id"),
            r.day == sa.bindparam("row_day"),
            r.activity == sa.bindparam("row_activity"),
        )
        .values({name: sa.bindparam(name) for name in _Moments._fields})
    )
    checked = corrected = without_workouts = 0
    reported_at = time.monotonic()
    after: UUID | None = None
    while athletes := _next_athletes(connection, after):
        last = athletes[-1]
        expected = _expected(connection, after, last)
        changes: list[dict[str, Any]] = []
        stored = sa.select(_rollups).where(*_in_batch(r.user_id, after, last))
        for row in connection.execute(stored):
            checked += 1
            moments = expected.get((row.user_id, row.day, row.activity))
            if moments is None:
                without_workouts += 1
                continue
            values = moments._asdict()
            if any(getattr(row, name) != value for name, value in values.items()):
                key = {"row_user_id": row.user_id, "row_day": row.day, "row_activity": row.activity}
                changes.append(key | values)
        if changes:
            connection.execute(rewrite, changes)
            corrected += len(changes)
        after = last
        if time.monotonic() - reported_at >= _REPORT_EVERY_S:
            reported_at = time.monotonic()
            _say(f"0006: {checked} of {rows} rows checked, {corrected} corrected")
    _say(f"0006: {checked} rows checked, {corrected} corrected")
    if without_workouts:
        _say(
            f"0006: left {without_workouts} rows as they were: no processed workout to "
            "recompute them from"
        )


def downgrade() -> None:
    """Nothing to undo: the columns stay (0004 owns them), and the moments are what the
    code of revisions 0004 and 0005 writes as well."""
