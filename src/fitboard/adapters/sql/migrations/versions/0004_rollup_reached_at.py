"""When each rollup row's calories and points were last raised, for ties on boards: a
workout that adds no calories or no points no longer moves that board's tie moment
(docs/domain.md, "Ties"). Rows written before this revision take their latest moment
where the total is positive, which is what the boards used until now.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fitboard.adapters.sql.types import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("daily_rollups") as batch:
        batch.add_column(sa.Column("calories_reached_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("points_reached_at", UtcDateTime(), nullable=True))
    op.execute("UPDATE daily_rollups SET calories_reached_at = last_ended_at WHERE calories > 0")
    op.execute("UPDATE daily_rollups SET points_reached_at = last_ended_at WHERE points > 0")


def downgrade() -> None:
    with op.batch_alter_table("daily_rollups") as batch:
        batch.drop_column("points_reached_at")
        batch.drop_column("calories_reached_at")
