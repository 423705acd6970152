"""The workouts that wait for review by a partial index of the ones not counted,
`(status, started_at, id) WHERE status <> 'processed'`, replacing the index of every
workout's status.

The old index was a trap for PostgreSQL's planner: nearly every workout is processed, but
with no statistics (a table that grew since it was last analyzed, or a server with
autovacuum off) an equality on `status` looks as selective as one on the athlete, and a
cached plan of the worker's reads, made while the table was small, walked that index
through every counted workout of the table for each athlete of a batch (one worker drained
30,000 workouts at 264 a second with it, PostgreSQL's CPU 3.3 ms a workout, and at 1,851
without it; docs/benchmarks.md, "Session 25"). The new index serves what the old one was
for, the admin's list of flagged or rejected workouts newest first, in its own order, and
no statement on counted workouts can use it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_COUNTED = sa.text("status <> 'processed'")


def upgrade() -> None:
    # IF NOT EXISTS: on a large record the index may have been built beforehand with
    # CREATE INDEX CONCURRENTLY, without holding off writes (docs/deploy.md, 0016).
    op.create_index(
        "ix_workouts_review_status_started_at_id",
        "workouts",
        ["status", "started_at", "id"],
        postgresql_where=_NOT_COUNTED,
        sqlite_where=_NOT_COUNTED,
        if_not_exists=True,
    )
    op.drop_index("ix_workouts_status", table_name="workouts", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_workouts_status", "workouts", ["status"])
    op.drop_index("ix_workouts_review_status_started_at_id", table_name="workouts")
