"""The athletes' kept personal-record bests (`tables.kept_record_bests`): what a kept row
means, and the statements that keep them.

A kept row says: for the record rules of catalog C, the bests among the athlete's
counted workouts strictly before place P (date order: start, then id) are B. Judging a
workout at a place Q at or after P then reads B and only the workouts in [P, Q), not the
whole history (`SqlAchievementRepository.bests_before_many`, from the athlete's latest
kept place not after Q: `latest_not_after`). The row stays true while no counted workout
before P appears, changes or goes away. The database sees to that, whoever writes the
workouts: triggers on `workouts` (migrations 0012, 0015) delete the athlete's kept rows whose
place a workout is inserted before, and all of them when any of their workouts is
updated or deleted (a correction, a decision, a deletion: rare; the next judging then
reads the history once and keeps it again). Judging and every change the application
makes to an athlete's workouts hold the athlete's row locked, so a kept row is never
written from a read that a concurrent change made stale; a writer outside the
application that changes an athlete's workouts while one of theirs is being judged
should empty `kept_record_bests` afterwards (it refills as workouts are judged). A later
migration that recreates `workouts` on SQLite (Alembic's batch mode copies the table,
and its triggers are lost with the old one) must create them again; a contract test
checks that they work at the head revision.

An athlete keeps a row at each of their `KEPT_PER_ATHLETE` latest places judged, not
only the latest (migration 0015; releases before it kept one, in `tables.record_bests`,
which this one leaves to them): two workers' batches of one athlete's workouts
interleave in date order (each takes every other message of a backlog), and the batch
committed second stores workouts before the place the first one kept. With one row, that
insert deleted it, and the next batch of the athlete read their whole history again
(about half of them, in a backlog of 32 athletes on two workers); the place kept before
it is still true, and the next batch reads from there.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Executable, and_, bindparam, delete, func, or_, select
from sqlalchemy.sql.expression import ColumnElement

from fitboard.adapters.sql.request_rows import RequestRows, insert_rows
from fitboard.adapters.sql.tables import kept_record_bests
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


# An athlete's latest places judged that keep a row: enough for the batches of a few
# workers taking turns on one athlete (each batch keeps one place; another's insert
# before a place forgets only the rows after it).
KEPT_PER_ATHLETE = 4

_KEPT_COLUMNS = ("user_id", "catalog", "before_started_at", "before_id", "bests")


def before_in_date_order(a: tuple[Any, Any], b: tuple[Any, Any]) -> ColumnElement[bool]:
    """Place `a` (start, id) comes before place `b` in date order: two workouts that start
    at the same moment are ordered by id (in the same order on both engines: PostgreSQL
    compares uuids bytewise, SQLite the lowercase hex text), so exactly one comes first."""
    return or_(a[0] < b[0], and_(a[0] == b[0], a[1] < b[1]))


def _place(table: Any) -> tuple[Any, Any]:
    """A kept row's place, of `table` (the kept rows or an alias of them)."""
    return (table.c.before_started_at, table.c.before_id)


def before_kept(started_at: Any, workout_id: Any) -> ColumnElement[bool]:
    """The place (`started_at`, `workout_id`) comes before the kept row's place."""
    return before_in_date_order((started_at, workout_id), _place(kept_record_bests))


def _newer_of_catalog(catalog: Any) -> tuple[Any, list[ColumnElement[bool]]]:
    """The kept rows (an alias of them) and what makes one a row of the same athlete and
    `catalog` as the kept row of the enclosing statement, at a later place."""
    newer = kept_record_bests.alias("newer_kept")
    return newer, [
        newer.c.user_id == kept_record_bests.c.user_id,
        newer.c.catalog == catalog,
        before_in_date_order(_place(kept_record_bests), _place(newer)),
    ]


def latest_not_after(started_at: Any, workout_id: Any, catalog: Any) -> ColumnElement[bool]:
    """The kept row of `catalog` is its athlete's latest of that catalog not after the
    place (`started_at`, `workout_id`): no other comes after it and not after the place."""
    newer, later = _newer_of_catalog(catalog)
    return ~(
        select(newer.c.user_id)
        .where(*later, ~before_in_date_order((started_at, workout_id), _place(newer)))
        .exists()
    )


@functools.lru_cache(maxsize=2)
def keep_statement(dialect_name: str) -> tuple[RequestRows, Executable]:
    """Keep each (user, catalog, place, bests) row, in one statement whatever their
    number (`insert_rows`; one row per athlete at most). A row kept at the same place
    already is replaced when it is of another catalog (both are true; the new one is of
    the rules judged now)."""
    rows_of, insert = insert_rows(
        kept_record_bests,
        _KEPT_COLUMNS,
        ["user_id", "before_started_at", "before_id"],
        dialect_name,
    )
    new = insert.excluded
    statement = insert.on_conflict_do_update(
        index_elements=[
            kept_record_bests.c.user_id,
            kept_record_bests.c.before_started_at,
            kept_record_bests.c.before_id,
        ],
        set_={"catalog": new.catalog, "bests": new.bests},
        where=kept_record_bests.c.catalog != new.catalog,
    )
    return rows_of, statement


@functools.lru_cache(maxsize=2)
def trim_statement(dialect_name: str) -> tuple[RequestRows, Executable]:
    """Forget the athletes' kept rows beyond their `KEPT_PER_ATHLETE` latest of the
    catalog, and any of another catalog, in one statement however many athletes (the
    athletes' ids are one parameter, `RequestRows.among`; the catalog a bound value)."""
    athletes = RequestRows("kept_of", (("id", kept_record_bests.c.user_id.type),))
    catalog = bindparam("catalog", type_=kept_record_bests.c.catalog.type)
    newer, later = _newer_of_catalog(catalog)
    count = select(func.count()).select_from(newer).where(*later).scalar_subquery()
    statement = delete(kept_record_bests).where(
        athletes.among(dialect_name, kept_record_bests.c.user_id),
        or_(kept_record_bests.c.catalog != catalog, count >= KEPT_PER_ATHLETE),
    )
    return athletes, statement
