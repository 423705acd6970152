"""A typed-in workout's `source` is "manual" (issue 15: manual, gpx, tcx, fit), no longer
"api": every stored workout whose source is "api" is rewritten to "manual". One UPDATE,
the same on SQLite and PostgreSQL; a workout imported from a file keeps its format.

Downgrade writes "api" back for every "manual" row, which is what the code before this
revision writes and reads.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE workouts SET source = 'manual' WHERE source = 'api'")


def downgrade() -> None:
    op.execute("UPDATE workouts SET source = 'api' WHERE source = 'manual'")
