"""The record's schema as SQLAlchemy Core tables.

Migrations are written by hand (migrations/versions) and must produce exactly this schema;
the contract tests compare the two on both engines."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    literal_column,
    text,
)

from fitboard.adapters.sql.types import UtcDateTime
from fitboard.domain.workouts import WorkoutStatus

# Deterministic constraint names, so later migrations (and SQLite's batch mode, which
# recreates tables) can refer to a constraint by name on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("username", String, nullable=False),
    # Lower-cased by the adapter: a unique index on an expression is not portable, and
    # SQLite's lower() only folds ASCII.
    Column("username_key", String, nullable=False, unique=True),
    Column("display_name", String, nullable=False),
    Column("password_hash", String, nullable=False),
    Column("timezone", String, nullable=False),
    Column("weight_kg", Double, nullable=True),
    Column("birth_year", Integer, nullable=True),
    Column("sex", String, nullable=True),
    Column("show_on_leaderboards", Boolean, nullable=False),
    Column("is_admin", Boolean, nullable=False),
    Column("projection_version", BigInteger, nullable=False, server_default=text("0")),
    Column("created_at", UtcDateTime, nullable=False),
    # Access tokens of an older generation are refused (migration 0007; docs/accounts.md).
    Column("token_generation", BigInteger, nullable=False, server_default=text("0")),
)

workouts = Table(
    "workouts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("activity", String, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration_s", Integer, nullable=False),
    Column("submitted_at", UtcDateTime, nullable=False),
    Column("distance_m", Double, nullable=True),
    Column("elevation_gain_m", Double, nullable=True),
    Column("avg_heart_rate", Integer, nullable=True),
    Column("device_calories", Double, nullable=True),
    Column("notes", Text, nullable=True),
    Column("source", String, nullable=False),
    Column("status", String, nullable=False),
    Column("board_day", Date, nullable=False),
    Column("calories", Double, nullable=False),
    Column("calories_method", String, nullable=False),
    Column("met", Double, nullable=False),
    Column("body_mass_kg", Double, nullable=False),
    Column("points", Integer, nullable=False),
    Column("processed_at", UtcDateTime, nullable=False),
    Column("flag_reason", Text, nullable=True),
    # The day on the athlete's own clock (migration 0002), for streaks.
    Column("local_day", Date, nullable=True),
    # On a treadmill, trainer or ergometer; null when the client did not say (migration 0005).
    Column("indoor", Boolean, nullable=True),
    # The file an imported workout came from and its device's figures (migration 0003);
    # null for a workout typed in. docs/import.md.
    Column("file_name", Text, nullable=True),
    Column("file_identity", String, nullable=True),
    Column("device_distance_m", Double, nullable=True),
    Column("moving_time_s", Integer, nullable=True),
    Column("elapsed_time_s", Integer, nullable=True),
    Column("max_heart_rate", Integer, nullable=True),
    Column("avg_power_w", Double, nullable=True),
    Column("avg_cadence", Double, nullable=True),
    # Newest-first listing per athlete, with the id as the tie-breaker of the cursor.
    Index(None, "user_id", "started_at", "id"),
    # An athlete's workouts of some board days: a month's, for its report (migration 0011).
    Index(None, "user_id", "board_day"),
)

# The athlete's workouts from files by start: the only ones a typed-in submission can
# duplicate (application/workouts/duplicates.py), looked up for every submission over the
# fortnight before it; without it the lookup read every workout of that fortnight
# (migration 0013).
Index(
    "ix_workouts_files_user_id_started_at",
    workouts.c.user_id,
    workouts.c.started_at,
    postgresql_where=workouts.c.file_identity.is_not(None),
    sqlite_where=workouts.c.file_identity.is_not(None),
)

# The athlete's days with a counted workout, on their own clock: streaks read them as a
# loose index scan, one descent per active day (adapters/sql/achievements.py); counted
# only, so that the scan never steps through the rows of flagged or rejected workouts
# (migration 0014, which replaced an index of every workout's day).
# The predicate is spelled as a literal, here and in the statements that use the index:
# the planners match a bound value to no partial index.
COUNTED = workouts.c.status == literal_column(f"'{WorkoutStatus.PROCESSED.value}'")
Index(
    "ix_workouts_counted_user_id_local_day",
    workouts.c.user_id,
    workouts.c.local_day,
    postgresql_where=COUNTED,
    sqlite_where=COUNTED,
)

# The workouts not counted, by status and newest first: the admin API's review list of
# flagged (or rejected) workouts (issue 14). Partial, so that no read of counted workouts
# can take it: an index of every workout's status, nearly all 'processed', looked as
# selective as the athlete's to a planner without statistics (migration 0016).
NOT_COUNTED = workouts.c.status != literal_column(f"'{WorkoutStatus.PROCESSED.value}'")
Index(
    "ix_workouts_review_status_started_at_id",
    workouts.c.status,
    workouts.c.started_at,
    workouts.c.id,
    postgresql_where=NOT_COUNTED,
    sqlite_where=NOT_COUNTED,
)

daily_rollups = Table(
    "daily_rollups",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("activity", String, primary_key=True),
    Column("calories", Double, nullable=False),
    Column("distance_m", Double, nullable=False),
    Column("duration_s", BigInteger, nullable=False),
    Column("workouts", Integer, nullable=False),
    Column("points", BigInteger, nullable=False),
    # When the row's totals were reached, for ties on boards: each is the `reached_at` of
    # a workout (the later of its end and its submission; the names date from when it was
    # the end). first: the day's first workout; last: the latest (duration, workouts);
    # distance, calories and points (migration 0004): the latest that added some.
    Column("first_ended_at", UtcDateTime, nullable=False),
    Column("last_ended_at", UtcDateTime, nullable=False),
    Column("distance_last_ended_at", UtcDateTime, nullable=True),
    Column("calories_reached_at", UtcDateTime, nullable=True),
    Column("points_reached_at", UtcDateTime, nullable=True),
    # Board rebuilds scan one period (and possibly one activity) across every athlete.
    Index(None, "day", "activity"),
)

# Every change applied to a workout after it was stored: an admin's decision (approve,
# reject) or its athlete's deletion or correction; who asked, when and why (migration 0008).
# The id is the change's own, so a redelivered change is applied once. No foreign keys:
# the record of a deletion outlives the workout.
workout_changes = Table(
    "workout_changes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workout_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("kind", String, nullable=False),
    Column("changed_by", Uuid, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=True),
    # The board day the change touched, so a redelivery re-projects that day.
    Column("board_day", Date, nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
    Index(None, "workout_id", "changed_at"),
    Index(None, "user_id"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String, nullable=False),
    Column("invite_code", String, nullable=False, unique=True),
    Column("owner_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Uuid, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id"), primary_key=True),
    Column("joined_at", UtcDateTime, nullable=False),
    Index(None, "user_id"),
)

awards = Table(
    "awards",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id"), primary_key=True),
    Column("achievement_id", String, primary_key=True),
    # The primary key is what makes an award exactly-once per (athlete, achievement, period).
    Column("period_key", String, primary_key=True),
    Column("awarded_at", UtcDateTime, nullable=False),
    Column("workout_id", Uuid, nullable=True),
    Column("value", Double, nullable=True),
    Index(None, "workout_id"),
)

# An athlete's personal-record bests, kept so that judging a workout reads only the
# workouts since the last ones judged instead of the athlete's whole history (migration
# 0015; adapters/sql/record_bests.py). A row holds, for the record rules named by
# `catalog` (a fingerprint of their definitions), the bests among the athlete's counted
# workouts strictly before the place (`before_started_at`, `before_id`) in date order, as
# a JSON list in the rules' order; an athlete has a row at each of a few of their latest
# places judged (`record_bests.KEPT_PER_ATHLETE`). It is only ever a shortcut: a row that
# is missing, or of another catalog, is read as if there were none (every earlier workout
# is read), and anything that could make it wrong deletes it: triggers on `workouts`
# (migrations 0012 and 0015), when a workout is inserted before its place or any of the
# athlete's workouts is updated or deleted. Triggers are not part of this metadata (see
# record_bests.py).
kept_record_bests = Table(
    "kept_record_bests",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id"), primary_key=True),
    Column("catalog", String, nullable=False),
    Column("before_started_at", UtcDateTime, primary_key=True),
    Column("before_id", Uuid, primary_key=True),
    Column("bests", Text, nullable=False),
)

# The same, one row an athlete at their latest place judged: what releases before
# migration 0015 keep and read. This release never reads or writes it (it erases an
# athlete's rows with the rest of their data); the triggers still keep it true, so an
# older release's processes (its workers judge workouts, its API judges corrections) may
# run beside this one's during a rolling upgrade. A later release drops it.
record_bests = Table(
    "record_bests",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id"), primary_key=True),
    Column("catalog", String, nullable=False),
    Column("before_started_at", UtcDateTime, nullable=False),
    Column("before_id", Uuid, nullable=False),
    Column("bests", Text, nullable=False),
)

scheduled_runs = Table(
    "scheduled_runs",
    metadata,
    Column("job", String, primary_key=True),
    Column("period_key", String, primary_key=True),
    Column("claimed_at", UtcDateTime, nullable=False),
)

monthly_reports = Table(
    "monthly_reports",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id"), primary_key=True),
    Column("month", String, primary_key=True),
    # The report as JSON: it is rebuilt whole from the record, never patched.
    Column("body", Text, nullable=False),
    Column("final_rank", Integer, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

challenges = Table(
    "challenges",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String, nullable=False),
    Column("metric", String, nullable=False),
    Column("scope", String, nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("goal", BigInteger, nullable=True),
    Column("created_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "ends_at"),
)
