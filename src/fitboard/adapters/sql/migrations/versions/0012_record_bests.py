"""The athletes' kept personal-record bests (tables.py, `record_bests`): judging a
workout reads the workouts since the last one judged instead of the athlete's whole
history. Empty when created: every athlete's first workout judged after the upgrade reads
their history once, as before, and keeps what it found.

The triggers on `workouts` are what keeps a kept row true, whoever writes the workouts
(this release, an older one during a rolling upgrade, an operator's SQL): a workout
inserted before an athlete's kept place, and any update or deletion of one of their
workouts, deletes the athlete's kept row (adapters/sql/record_bests.py).

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

# Date order is (start, id) on both engines: PostgreSQL compares uuids bytewise, SQLite
# the lowercase hex text it stores them as, so both orders are the same.
_POSTGRESQL = [
    """
    CREATE FUNCTION forget_record_bests() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            DELETE FROM record_bests
            WHERE user_id = NEW.user_id
              AND (NEW.started_at, NEW.id) < (before_started_at, before_id);
        ELSE
            DELETE FROM record_bests WHERE user_id = OLD.user_id;
            IF TG_OP = 'UPDATE' AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
                DELETE FROM record_bests WHERE user_id = NEW.user_id;
            END IF;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER workouts_forget_record_bests
    AFTER INSERT OR UPDATE OR DELETE ON workouts
    FOR EACH ROW EXECUTE FUNCTION forget_record_bests()
    """,
]
_SQLITE = [
    """
    CREATE TRIGGER workouts_inserted_forget_record_bests AFTER INSERT ON workouts
    BEGIN
        DELETE FROM record_bests
        WHERE user_id = NEW.user_id
          AND (NEW.started_at < before_started_at
               OR (NEW.started_at = before_started_at AND NEW.id < before_id));
    END
    """,
    """
    CREATE TRIGGER workouts_updated_forget_record_bests AFTER UPDATE ON workouts
    BEGIN
        DELETE FROM record_bests WHERE user_id IN (OLD.user_id, NEW.user_id);
    END
    """,
    """
    CREATE TRIGGER workouts_deleted_forget_record_bests AFTER DELETE ON workouts
    BEGIN
        DELETE FROM record_bests WHERE user_id = OLD.user_id;
    END
    """,
]


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
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRESQL if postgresql else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER workouts_forget_record_bests ON workouts")
        op.execute("DROP FUNCTION forget_record_bests()")
    else:
        for event in ("inserted", "updated", "deleted"):
            op.execute(f"DROP TRIGGER workouts_{event}_forget_record_bests")
    op.drop_table("record_bests")
