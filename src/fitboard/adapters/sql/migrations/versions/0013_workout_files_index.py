"""A partial index of the workouts from files, by athlete and start: a typed-in
submission can only duplicate a workout from a file, and the worker looks for one over
the fortnight before each submission, which without it read every workout of the athlete
in that fortnight (src/fitboard/adapters/sql/repositories.py, `_candidates_in_spans`).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FROM_FILES = sa.text("file_identity IS NOT NULL")


def upgrade() -> None:
    # IF NOT EXISTS: on a large record the index may have been built beforehand with
    # CREATE INDEX CONCURRENTLY, without holding off writes (docs/deploy.md, 0013).
    op.create_index(
        "ix_workouts_files_user_id_started_at",
        "workouts",
        ["user_id", "started_at"],
        postgresql_where=_FROM_FILES,
        sqlite_where=_FROM_FILES,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_workouts_files_user_id_started_at", table_name="workouts")
