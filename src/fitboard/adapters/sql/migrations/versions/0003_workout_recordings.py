"""Workouts imported from activity files: the file's name and identity and the device's
own figures (docs/import.md). All nullable: a workout typed in has none of them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("file_name", sa.Text),
    ("file_identity", sa.String),
    ("device_distance_m", sa.Double),
    ("moving_time_s", sa.Integer),
    ("max_heart_rate", sa.Integer),
    ("avg_power_w", sa.Double),
    ("avg_cadence", sa.Double),
)


def upgrade() -> None:
    with op.batch_alter_table("workouts") as batch:
        for name, kind in _COLUMNS:
            batch.add_column(sa.Column(name, kind(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workouts") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
