"""The athletes' kept personal-record bests (tables.py, `record_bests`): judging a
workout reads the workouts since the last one judged instead of the athlete's whole
history. Empty when created: every athlete's first workout judged after the upgrade reads
their history once, as before, and keeps what it found.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fitboard.adapters.sql.types import UtcDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "record_bests",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("catalog", sa.String(), nullable=False),
        sa.Column("before_started_at", UtcDateTime(), nullable=False),
        sa.Column("before_id", sa.Uuid(), nullable=False),
        sa.Column("bests", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_record_bests_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_record_bests")),
    )


def downgrade() -> None:
    op.drop_table("record_bests")
