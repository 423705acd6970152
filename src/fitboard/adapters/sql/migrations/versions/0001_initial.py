"""The initial schema: users, workouts, daily rollups, groups.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fitboard.adapters.sql.types import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("username_key", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("weight_kg", sa.Double(), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("sex", sa.String(), nullable=True),
        sa.Column("show_on_leaderboards", sa.Boolean(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column(
            "projection_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username_key", name="uq_users_username_key"),
    )
    op.create_table(
        "workouts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("activity", sa.String(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("submitted_at", UtcDateTime(), nullable=False),
        sa.Column("distance_m", sa.Double(), nullable=True),
        sa.Column("elevation_gain_m", sa.Double(), nullable=True),
        sa.Column("avg_heart_rate", sa.Integer(), nullable=True),
        sa.Column("device_calories", sa.Double(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("board_day", sa.Date(), nullable=False),
        sa.Column("calories", sa.Double(), nullable=False),
        sa.Column("calories_method", sa.String(), nullable=False),
        sa.Column("met", sa.Double(), nullable=False),
        sa.Column("body_mass_kg", sa.Double(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("processed_at", UtcDateTime(), nullable=False),
        sa.Column("flag_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workouts"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_workouts_user_id_users"),
    )
    op.create_index(
        "ix_workouts_user_id_started_at_id", "workouts", ["user_id", "started_at", "id"]
    )
    op.create_index("ix_workouts_status", "workouts", ["status"])
    op.create_table(
        "daily_rollups",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("activity", sa.String(), nullable=False),
        sa.Column("calories", sa.Double(), nullable=False),
        sa.Column("distance_m", sa.Double(), nullable=False),
        sa.Column("duration_s", sa.BigInteger(), nullable=False),
        sa.Column("workouts", sa.Integer(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("first_ended_at", UtcDateTime(), nullable=False),
        sa.Column("last_ended_at", UtcDateTime(), nullable=False),
        sa.Column("distance_last_ended_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "day", "activity", name="pk_daily_rollups"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_daily_rollups_user_id_users"),
    )
    op.create_index("ix_daily_rollups_day_activity", "daily_rollups", ["day", "activity"])
    op.create_table(
        "groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("invite_code", sa.String(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        sa.UniqueConstraint("invite_code", name="uq_groups_invite_code"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_groups_owner_id_users"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("joined_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "user_id", name="pk_group_members"),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name="fk_group_members_group_id_groups",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_group_members_user_id_users"),
    )
    op.create_index("ix_group_members_user_id", "group_members", ["user_id"])


def downgrade() -> None:
    op.drop_table("group_members")
    op.drop_table("groups")
    op.drop_table("daily_rollups")
    op.drop_table("workouts")
    op.drop_table("users")
