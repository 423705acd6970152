"""The athletes' kept personal-record bests at several places each (tables.py,
`kept_record_bests`, primary key (user, place)): an athlete keeps a row at each of their
few latest places judged (adapters/sql/record_bests.py, `KEPT_PER_ATHLETE`), and a
workout stored before the latest of them forgets only the rows after it.

A new table, empty when created: every athlete's first workout judged after the upgrade
reads their history once, as after 0012, and keeps what it found. The triggers on
`workouts` forget rows of both tables: the new release's, and `record_bests`, which
releases before 0015 still keep and read during a rolling upgrade (one row an athlete, its
primary key the athlete), so either release's processes may run beside the other's. This
release never touches `record_bests` but to erase an athlete; a later one drops it.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fitboard.adapters.sql.types import UtcDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("record_bests", "kept_record_bests")


def _forget_function(tables: Sequence[str]) -> str:
    """PostgreSQL's trigger function of 0012 (the trigger names it, not its body), for
    each of `tables`: an insert forgets the athlete's rows after the workout's place (date
    order: start, then id, uuids compared bytewise), an update or a deletion all of the
    athlete's rows."""
    inserted = "".join(
        f"""
            DELETE FROM {table}
            WHERE user_id = NEW.user_id
              AND (NEW.started_at, NEW.id) < (before_started_at, before_id);"""
        for table in tables
    )
    changed = "".join(
        f"""
            DELETE FROM {table} WHERE user_id = OLD.user_id;
            IF TG_OP = 'UPDATE' AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
                DELETE FROM {table} WHERE user_id = NEW.user_id;
            END IF;"""
        for table in tables
    )
    return f"""
    CREATE OR REPLACE FUNCTION forget_record_bests() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN{inserted}
        ELSE{changed}
        END IF;
        RETURN NULL;
    END
    $$
    """


# SQLite's triggers of 0012 for `record_bests`, the same for the new table (SQLite stores
# uuids as lowercase hex text, whose order is PostgreSQL's bytewise one).
_SQLITE = [
    """
    CREATE TRIGGER workouts_inserted_forget_kept_record_bests AFTER INSERT ON workouts
    BEGIN
        DELETE FROM kept_record_bests
        WHERE user_id = NEW.user_id
          AND (NEW.started_at < before_started_at
               OR (NEW.started_at = before_started_at AND NEW.id < before_id));
    END
    """,
    """
    CREATE TRIGGER workouts_updated_forget_kept_record_bests AFTER UPDATE ON workouts
    BEGIN
        DELETE FROM kept_record_bests WHERE user_id IN (OLD.user_id, NEW.user_id);
    END
    """,
    """
    CREATE TRIGGER workouts_deleted_forget_kept_record_bests AFTER DELETE ON workouts
    BEGIN
        DELETE FROM kept_record_bests WHERE user_id = OLD.user_id;
    END
    """,
]


def upgrade() -> None:
    op.create_table(
        "kept_record_bests",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("catalog", sa.String(), nullable=False),
        sa.Column("before_started_at", UtcDateTime(), nullable=False),
        sa.Column("before_id", sa.Uuid(), nullable=False),
        sa.Column("bests", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_kept_record_bests_user_id_users")
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "before_started_at", "before_id", name=op.f("pk_kept_record_bests")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_forget_function(_TABLES))
    else:
        for statement in _SQLITE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_forget_function(_TABLES[:1]))
    else:
        for event in ("inserted", "updated", "deleted"):
            op.execute(f"DROP TRIGGER workouts_{event}_forget_kept_record_bests")
    op.drop_table("kept_record_bests")
