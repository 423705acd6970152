"""The athletes' kept personal-record bests (`tables.record_bests`): what a kept row
means, and the statement that keeps them.

A kept row says: for the record rules of catalog C, the bests among the athlete's
counted workouts strictly before place P (date order: start, then id) are B. Judging a
workout at a place Q at or after P then reads B and only the workouts in [P, Q), not the
whole history (`SqlAchievementRepository.bests_before_many`). The row stays true while no
counted workout before P appears, changes or goes away. The database sees to that,
whoever writes the workouts: triggers on `workouts` (migration 0012) delete the
athlete's kept row when a workout is inserted before its place, and when any of their
workouts is updated or deleted (a correction, a decision, a deletion: rare; the next
judging then reads the history once and keeps it again). Judging and every change the
application makes to an athlete's workouts hold the athlete's row locked, so a kept row
is never written from a read that a concurrent change made stale; a writer outside the
application that changes an athlete's workouts while one of theirs is being judged
should empty `record_bests` afterwards (it refills as workouts are judged). A later migration that
recreates `workouts` on SQLite (Alembic's batch mode copies the table, and its triggers
are lost with the old one) must create them again; a contract test checks that they
work at the head revision."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Executable, and_, or_
from sqlalchemy.sql.expression import ColumnElement

from fitboard.adapters.sql.request_rows import RequestRows, insert_rows
from fitboard.adapters.sql.tables import record_bests
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
