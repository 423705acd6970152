"""The athletes' kept personal-record bests (`tables.record_bests`): the statements that
keep them and the ones that forget them.

A kept row says: for the record rules of catalog C, the bests among the athlete's
counted workouts strictly before place P (date order: start, then id) are B. Judging a
workout at a place Q at or after P then reads B and only the workouts in [P, Q), not the
whole history (`SqlAchievements.bests_before_many`). The row stays true while no counted
workout before P appears, changes or goes away; so storing a workout before P forgets it,
and so does rewriting or deleting any workout of the athlete (a correction, a decision, a
deletion: rare, and then the next judging reads the history once and keeps it again).
Every write to the workouts table goes through `SqlWorkoutRepository`, which calls these
(erasing an athlete, `SqlPersonalData.erase`, deletes their kept row with the rest); one
that does not (a data migration, say) must empty `record_bests`."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Delete, Executable, and_, delete, or_, select
from sqlalchemy.sql.expression import ColumnElement

from fitboard.adapters.sql.request_rows import RequestRows, insert_rows
from fitboard.adapters.sql.tables import record_bests, workouts
from fitboard.domain.achievements import PersonalRecord

# Bumped whenever what a kept best means changes without any rule's definition changing
# (how a measure is computed, which workouts count): rows of an older version are then
# of another catalog, and read as none.
_VERSION = 1


@functools.lru_cache(maxsize=8)
def catalog_of(rules: tuple[PersonalRecord, ...]) -> str:
    """A fingerprint of what the bests of `rules`, in this order, depend on: each rule's
    measure, activities and least distance (not its id or wording, which change no best)."""
    spelled = json.dumps(
        [
            _VERSION,
            [
                [
                    rule.measure.value,
                    None if rule.activities is None else sorted(a.value for a in rule.activities),
                    rule.min_distance_m,
                ]
                for rule in rules
            ],
        ]
    )
    return hashlib.sha256(spelled.encode()).hexdigest()[:32]


def encode(bests: Sequence[float | None]) -> str:
    """Bests as kept: a JSON list (a float's repr reads back as the same float)."""
    return json.dumps(list(bests))


def decode(kept: str) -> list[float | None]:
    return [None if value is None else float(value) for value in json.loads(kept)]


def before_kept(started_at: Any, workout_id: Any) -> ColumnElement[bool]:
    """The place (`started_at`, `workout_id`) comes before the kept row's place."""
    return or_(
        started_at < record_bests.c.before_started_at,
        and_(started_at == record_bests.c.before_started_at, workout_id < record_bests.c.before_id),
    )


_KEPT_COLUMNS = ("user_id", "catalog", "before_started_at", "before_id", "bests")


@functools.lru_cache(maxsize=2)
def keep_statement(dialect_name: str) -> tuple[RequestRows, Executable]:
    """Keep each (user, catalog, place, bests) row, in one statement whatever their
    number (`insert_rows`; one row per athlete at most). A row already kept for the
    athlete is replaced when it is of another catalog or an earlier place: a later place
    leaves fewer workouts to read next time, and either is true."""
    rows_of, insert = insert_rows(record_bests, _KEPT_COLUMNS, ["user_id"], dialect_name)
    new = insert.excluded
    statement = insert.on_conflict_do_update(
        index_elements=[record_bests.c.user_id],
        set_={name: new[name] for name in _KEPT_COLUMNS if name != "user_id"},
        where=or_(
            record_bests.c.catalog != new.catalog,
            _after_kept(new.before_started_at, new.before_id),
        ),
    )
    return rows_of, statement


def _after_kept(started_at: Any, workout_id: Any) -> ColumnElement[bool]:
    """The place (`started_at`, `workout_id`) comes after the kept row's place."""
    return or_(
        started_at > record_bests.c.before_started_at,
        and_(started_at == record_bests.c.before_started_at, workout_id > record_bests.c.before_id),
    )


def _stored_places() -> RequestRows:
    return RequestRows(
        "stored",
        (
            ("user_id", workouts.c.user_id.type),
            ("started_at", workouts.c.started_at.type),
            ("id", workouts.c.id.type),
        ),
    )


def _athletes() -> RequestRows:
    return RequestRows("athletes", (("user_id", workouts.c.user_id.type),))


@functools.lru_cache(maxsize=2)
def forget_before_statement(dialect_name: str) -> tuple[RequestRows, RequestRows, Delete]:
    """Forget the kept rows that workouts just stored come before, in one statement
    whatever their number. The rows to forget are found from the stored places, each
    athlete's row looked up by its key (not each kept row against every place, which cost
    SQLite a millisecond a batch); on PostgreSQL the athletes are also an `= ANY` of an
    array, planned as key lookups, so it never scans the table. A workout stored in date
    order (the usual case) forgets nothing."""
    athletes_of, stored_of = _athletes(), _stored_places()
    stored = stored_of.relation(dialect_name)
    kept = record_bests.alias("kept")
    overtaken = (
        select(kept.c.user_id)
        .select_from(stored.join(kept, kept.c.user_id == stored.c.user_id))
        .where(
            or_(
                stored.c.started_at < kept.c.before_started_at,
                and_(
                    stored.c.started_at == kept.c.before_started_at,
                    stored.c.id < kept.c.before_id,
                ),
            )
        )
    )
    statement = delete(record_bests).where(record_bests.c.user_id.in_(overtaken))
    if dialect_name == "postgresql":
        statement = statement.where(athletes_of.among(dialect_name, record_bests.c.user_id))
    return athletes_of, stored_of, statement


def forget_before_params(dialect: Any, stored: Sequence[tuple[Any, Any, Any]]) -> dict[str, Any]:
    """The parameters of `forget_before_statement` for the places (user, start, id)."""
    athletes_of, stored_of, _ = forget_before_statement(dialect.name)
    params = stored_of.params(dialect, stored)
    if dialect.name == "postgresql":
        params |= athletes_of.params(dialect, [(user_id,) for user_id in {s[0] for s in stored}])
    return params


def forget_athlete(user_id: Any) -> Delete:
    """Forget the athlete's kept row: one of their workouts is rewritten or deleted."""
    return delete(record_bests).where(record_bests.c.user_id == user_id)


def forget_owner_of(workout_id: Any) -> Delete:
    """Forget the kept row of the workout's athlete (before the workout is deleted)."""
    owner = select(workouts.c.user_id).where(workouts.c.id == workout_id).scalar_subquery()
    return delete(record_bests).where(record_bests.c.user_id == owner)
