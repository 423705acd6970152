"""The whole time a recording lasted, pauses included (`elapsed_time_s`): an imported run
or ride now lasts its moving time (docs/import.md, "Moving time"), so the elapsed time
the file gives is kept beside it. Null for a typed-in workout and for recordings imported
before this revision (their `duration_s` is the elapsed time).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, which SQLite does in place (see 0007 on batch mode).
    op.add_column("workouts", sa.Column("elapsed_time_s", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workouts") as batch:
        batch.drop_column("elapsed_time_s")
