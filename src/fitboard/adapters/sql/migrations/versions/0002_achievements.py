"""Achievements (awards held exactly once per period, scheduled-job claims, the day of each
workout on the athlete's own clock), monthly reports and challenges.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fitboard.adapters.sql.types import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workouts") as batch:
        batch.add_column(sa.Column("local_day", sa.Date(), nullable=True))
    op.create_index("ix_workouts_user_id_local_day", "workouts", ["user_id", "local_day"])
    op.create_table(
        "awards",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("achievement_id", sa.String(), nullable=False),
        sa.Column("period_key", sa.String(), nullable=False),
        sa.Column("awarded_at", UtcDateTime(), nullable=False),
        sa.Column("workout_id", sa.Uuid(), nullable=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "achievement_id", "period_key", name="pk_awards"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_awards_user_id_users"),
    )
    op.create_index("ix_awards_workout_id", "awards", ["workout_id"])
    op.create_table(
        "scheduled_runs",
        sa.Column("job", sa.String(), nullable=False),
        sa.Column("period_key", sa.String(), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job", "period_key", name="pk_scheduled_runs"),
    )
    op.create_table(
        "monthly_reports",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("final_rank", sa.Integer(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "month", name="pk_monthly_reports"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_monthly_reports_user_id_users"),
    )
    op.create_table(
        "challenges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("goal", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_challenges"),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name="fk_challenges_created_by_users"
        ),
    )
    op.create_index("ix_challenges_ends_at", "challenges", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_challenges_ends_at", table_name="challenges")
    op.drop_table("challenges")
    op.drop_table("monthly_reports")
    op.drop_table("scheduled_runs")
    op.drop_index("ix_awards_workout_id", table_name="awards")
    op.drop_table("awards")
    op.drop_index("ix_workouts_user_id_local_day", table_name="workouts")
    with op.batch_alter_table("workouts") as batch:
        batch.drop_column("local_day")
