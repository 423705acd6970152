"""The athletes' active days by a partial index of counted workouts (user, local day),
replacing the index of every workout's (user, local day): streaks read an athlete's
active days as a loose index scan, one descent per active day, which the old index made
step through flagged and rejected workouts too (src/fitboard/adapters/sql/achievements.py,
`_active_local_days_many`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTED = sa.text("status = 'processed'")


def upgrade() -> None:
    # IF NOT EXISTS: on a large record the index may have been built beforehand with
    # CREATE INDEX CONCURRENTLY, without holding off writes (docs/deploy.md, 0014).
    op.create_index(
        "ix_workouts_counted_user_id_local_day",
        "workouts",
        ["user_id", "local_day"],
        postgresql_where=_COUNTED,
        sqlite_where=_COUNTED,
        if_not_exists=True,
    )
    op.drop_index("ix_workouts_user_id_local_day", table_name="workouts", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_workouts_user_id_local_day", "workouts", ["user_id", "local_day"])
    op.drop_index("ix_workouts_counted_user_id_local_day", table_name="workouts")
