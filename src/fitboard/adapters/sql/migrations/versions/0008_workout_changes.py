"""Changes to stored workouts: an admin's decision (approve, reject) or an athlete's
deletion or correction, with who asked, when and why (docs/moderation.md). The change's
id is its primary key, which makes applying a redelivered change a no-op.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fitboard.adapters.sql.types import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workout_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workout_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("changed_by", sa.Uuid(), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("board_day", sa.Date(), nullable=False),
        sa.Column("applied_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workout_changes"),
    )
    op.create_index(
        "ix_workout_changes_workout_id_changed_at",
        "workout_changes",
        ["workout_id", "changed_at"],
    )
    op.create_index("ix_workout_changes_user_id", "workout_changes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_workout_changes_user_id", table_name="workout_changes")
    op.drop_index("ix_workout_changes_workout_id_changed_at", table_name="workout_changes")
    op.drop_table("workout_changes")
