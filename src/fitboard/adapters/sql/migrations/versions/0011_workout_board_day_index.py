"""An index on the workouts' athlete and board day: a monthly report picks the athlete's
best workout of the month's board days, which without it read the athlete's whole
history for every report (src/fitboard/adapters/sql/reports.py, `_best_workouts`).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # IF NOT EXISTS: on a large record the index may have been built beforehand with
    # CREATE INDEX CONCURRENTLY, without holding off writes (docs/deploy.md, 0011).
    op.create_index(
        "ix_workouts_user_id_board_day", "workouts", ["user_id", "board_day"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_workouts_user_id_board_day", table_name="workouts")
