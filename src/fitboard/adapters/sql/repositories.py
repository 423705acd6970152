"""Repositories of users, workouts and groups on one connection of a unit of work."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Executable,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    select,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.board_write_locks import TAKEN_FIRST, BoardWriteLocks
from fitboard.adapters.sql.request_rows import RequestRows, insert_rows, numbered, per_request
from fitboard.adapters.sql.tables import NOT_COUNTED, group_members, groups, users, workouts
from fitboard.application.accounts.ports import UsernameTaken
from fitboard.application.workouts.ports import CandidateSpan, WorkoutCursor, WorkoutIdTaken
from fitboard.domain.activities import Activity, Sex
from fitboard.domain.groups import Group, Membership
from fitboard.domain.recordings import FileFormat, Recording
from fitboard.domain.users import User
from fitboard.domain.workouts import CaloriesMethod, Workout, WorkoutStatus, WorkoutSubmission


def dialect_insert(connection: AsyncConnection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT on the connection's engine.

    Conflicts are resolved with ON CONFLICT rather than by catching IntegrityError: on
    PostgreSQL a failed statement aborts the whole transaction, and callers keep using the
    unit of work after a duplicate (to check who owns a workout id, say)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_by_dialect(table: Table, finish: Callable[[Any], Executable]) -> dict[str, Executable]:
    """An ON CONFLICT insert built once per engine kind, for the statements run on every
    workout (building one costs more than running it): index the result with
    `connection.dialect.name`, and pass the values as parameters of the execute."""
    return {"postgresql": finish(postgresql.insert(table)), "sqlite": finish(sqlite.insert(table))}


def username_key(username: str) -> str:
    """What usernames are compared by: case-insensitively, the same way on both engines."""
    return username.lower()


class SqlUserRepository:
    """Users on one connection. `board_locks` are its unit of work's athlete board-write
    locks, which `lock_and_bump_version(s)` take before the rows (so every writer takes
    its locks in one order: these by key, then the rows by id) and the unit of work
    releases as it ends."""

    def __init__(self, connection: AsyncConnection, board_locks: BoardWriteLocks) -> None:
        self._connection = connection
        self._board_locks = board_locks

    async def add(self, user: User) -> None:
        statement = (
            dialect_insert(self._connection, users)
            .values(
                id=user.id,
                username=user.username,
                username_key=username_key(user.username),
                projection_version=user.projection_version,
                created_at=user.created_at,
                **_profile_values(user),
            )
            .on_conflict_do_nothing(index_elements=[users.c.username_key])
            .returning(users.c.id)
        )
        if (await self._connection.execute(statement)).first() is None:
            raise UsernameTaken(user.username)

    async def get(self, user_id: UUID) -> User | None:
        row = (await self._connection.execute(select(users).where(users.c.id == user_id))).first()
        return None if row is None else _user_from_row(row)

    async def get_by_username(self, username: str) -> User | None:
        statement = select(users).where(users.c.username_key == username_key(username))
        row = (await self._connection.execute(statement)).first()
        return None if row is None else _user_from_row(row)

    async def update_profile(self, user: User) -> None:
        statement = update(users).where(users.c.id == user.id).values(**_profile_values(user))
        await self._connection.execute(statement)

    async def lock(self, user_id: UUID) -> User | None:
        # FOR UPDATE is dropped by SQLAlchemy's SQLite compiler; there the write lock taken
        # by BEGIN IMMEDIATE already serialises every writer.
        statement = select(users).where(users.c.id == user_id).with_for_update()
        row = (await self._connection.execute(statement)).first()
        return None if row is None else _user_from_row(row)

    async def lock_many(self, user_ids: Sequence[UUID]) -> set[UUID]:
        if not user_ids:
            return set()
        # As lock_and_bump_versions locks, in id order and FOR NO KEY UPDATE (which
        # conflicts with itself and with the worker's locks, not with inserts that merely
        # refer to the user); SQLite's BEGIN IMMEDIATE has already serialised every writer.
        ids_of, statement = _lock_many(self._connection.dialect.name)
        params = ids_of.params(self._connection.dialect, [(i,) for i in sorted(set(user_ids))])
        return set((await self._connection.execute(statement, params)).scalars())

    async def lock_and_bump_version(self, user_id: UUID) -> User | None:
        found = await self.lock_and_bump_versions([user_id])
        return found.get(user_id)

    async def lock_and_bump_versions(self, user_ids: Sequence[UUID]) -> dict[UUID, User]:
        if not user_ids:
            return {}
        # On PostgreSQL the athletes' board-write locks first, in the same statement
        # (board_write_locks.TAKEN_FIRST); then the rows, locked by the subquery in id order
        # (FOR NO KEY UPDATE, as an UPDATE locks, letting inserts that merely refer to a
        # user through), so two transactions locking overlapping sets take their locks in
        # one order and never deadlock; the UPDATE then bumps rows it already holds.
        # SQLite's BEGIN IMMEDIATE has already serialised every writer (and SQLAlchemy
        # drops FOR UPDATE there).
        ids_of, statement = _lock_and_bump_many(self._connection.dialect.name)
        params = ids_of.params(self._connection.dialect, [(i,) for i in sorted(set(user_ids))])
        params.update(self._board_locks.taking(user_ids))
        rows = await self._connection.execute(statement, params)
        return {row.id: _user_from_row(row) for row in rows}

    async def revoke_tokens(self, user_id: UUID) -> int | None:
        statement = (
            update(users)
            .where(users.c.id == user_id)
            .values(token_generation=users.c.token_generation + 1)
            .returning(users.c.token_generation)
        )
        generation = (await self._connection.execute(statement)).scalar()
        return None if generation is None else int(generation)

    async def display_names(self, user_ids: Sequence[UUID]) -> dict[UUID, str]:
        if not user_ids:
            return {}
        statement = select(users.c.id, users.c.display_name).where(users.c.id.in_(set(user_ids)))
        rows = await self._connection.execute(statement)
        return {row.id: row.display_name for row in rows}


@functools.lru_cache(maxsize=2)
def _lock_and_bump_many(dialect_name: str) -> tuple[RequestRows, Executable]:
    """lock_and_bump_versions's statement: the ids are one parameter (RequestRows.among), so its
    text is the same however many athletes it locks."""
    ids_of = RequestRows("locked", (("id", users.c.id.type),))
    rows = select(users.c.id).where(ids_of.among(dialect_name, users.c.id))
    if dialect_name == "postgresql":
        rows = rows.where(TAKEN_FIRST)
    statement = (
        update(users)
        .where(users.c.id.in_(rows.order_by(users.c.id).with_for_update(key_share=True, of=users)))
        .values(projection_version=users.c.projection_version + 1)
        .returning(*users.c)
    )
    return ids_of, statement


@functools.lru_cache(maxsize=2)
def _lock_many(dialect_name: str) -> tuple[RequestRows, Executable]:
    """lock_many's statement, one text however many athletes it locks (RequestRows.among)."""
    ids_of = RequestRows("locked", (("id", users.c.id.type),))
    statement = (
        select(users.c.id)
        .where(ids_of.among(dialect_name, users.c.id))
        .order_by(users.c.id)
        .with_for_update(key_share=True)
    )
    return ids_of, statement


def _profile_values(user: User) -> dict[str, Any]:
    return {
        "display_name": user.display_name,
        "password_hash": user.password_hash,
        "timezone": user.timezone,
        "weight_kg": user.weight_kg,
        "birth_year": user.birth_year,
        "sex": None if user.sex is None else user.sex.value,
        "show_on_leaderboards": user.show_on_leaderboards,
        "is_admin": user.is_admin,
    }


def _user_from_row(row: Row[Any]) -> User:
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        password_hash=row.password_hash,
        created_at=row.created_at,
        timezone=row.timezone,
        weight_kg=row.weight_kg,
        birth_year=row.birth_year,
        sex=None if row.sex is None else Sex(row.sex),
        show_on_leaderboards=bool(row.show_on_leaderboards),
        is_admin=bool(row.is_admin),
        projection_version=int(row.projection_version),
        token_generation=int(row.token_generation),
    )


class SqlWorkoutRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, workout_id: UUID) -> Workout | None:
        statement = select(workouts).where(workouts.c.id == workout_id)
        row = (await self._connection.execute(statement)).first()
        return None if row is None else _workout_from_row(row)

    async def add(self, workout: Workout) -> None:
        if await self._insert(workout) is None:
            raise WorkoutIdTaken(str(workout.id))

    async def _insert(self, workout: Workout) -> UUID | None:
        """The id if the workout was inserted; None if a workout with its id exists."""
        statement = _INSERT_WORKOUT[self._connection.dialect.name]
        result = await self._connection.execute(statement, _workout_values(workout))
        return result.scalar()

    async def get_many(self, workout_ids: Sequence[UUID]) -> dict[UUID, Workout]:
        if not workout_ids:
            return {}
        ids_of, statement = _get_many(self._connection.dialect.name)
        params = ids_of.params(self._connection.dialect, [(i,) for i in sorted(set(workout_ids))])
        rows = await self._connection.execute(statement, params)
        return {row.id: _workout_from_row(row) for row in rows}

    async def add_new(self, new: Sequence[Workout]) -> set[UUID]:
        if not new:
            return set()
        # One INSERT for every row, its text the same however many (insert_rows); ON
        # CONFLICT rather than an error, so the unit of work stays usable (see
        # dialect_insert).
        rows_of, statement = _insert_new_workouts(self._connection.dialect.name)
        rows = [[values[c] for c in _WORKOUT_COLUMNS] for values in map(_workout_values, new)]
        params = rows_of.params(self._connection.dialect, numbered(rows))
        return set((await self._connection.execute(statement, params)).scalars())

    async def candidates_in_spans(self, spans: Sequence[CandidateSpan]) -> list[Workout]:
        if not spans:
            return []
        any_of, files_of, statement = _candidates_in_spans(self._connection.dialect.name)
        dialect = self._connection.dialect
        params = {
            **any_of.params(dialect, [_span_row(s) for s in spans if not s.from_files_only]),
            **files_of.params(dialect, [_span_row(s) for s in spans if s.from_files_only]),
        }
        found: list[Workout] = []
        last_id: UUID | None = None
        for row in await self._connection.execute(statement, params):
            # A workout in several spans comes once a span, those rows side by side.
            if row.id != last_id:
                found.append(_workout_from_row(row))
            last_id = row.id
        return found

    async def list_for_user(
        self, user_id: UUID, limit: int, after: WorkoutCursor | None = None
    ) -> list[Workout]:
        if limit <= 0:
            return []
        # A row-value comparison walks the (user_id, started_at, id) index from the cursor.
        statement = _newest_first(select(workouts).where(workouts.c.user_id == user_id), after)
        rows = await self._connection.execute(statement.limit(limit))
        return [_workout_from_row(row) for row in rows]

    async def started_between(
        self, user_id: UUID, first: datetime, last: datetime
    ) -> list[Workout]:
        statement = (
            select(workouts)
            .where(
                workouts.c.user_id == user_id,
                workouts.c.started_at >= first,
                workouts.c.started_at <= last,
            )
            .order_by(workouts.c.started_at, workouts.c.id)
        )
        rows = await self._connection.execute(statement)
        return [_workout_from_row(row) for row in rows]

    async def replace(self, workout: Workout) -> None:
        values = _workout_values(workout)
        del values["id"], values["user_id"]
        statement = update(workouts).where(workouts.c.id == workout.id).values(**values)
        await self._connection.execute(statement)

    async def delete(self, workout_id: UUID) -> None:
        await self._connection.execute(delete(workouts).where(workouts.c.id == workout_id))

    async def counted_on_day(self, user_id: UUID, day: date) -> list[Workout]:
        statement = (
            select(workouts)
            .where(
                workouts.c.user_id == user_id,
                workouts.c.board_day == day,
                workouts.c.status == WorkoutStatus.PROCESSED.value,
            )
            .order_by(workouts.c.started_at, workouts.c.id)
        )
        return [_workout_from_row(row) for row in await self._connection.execute(statement)]

    async def latest_counted(self, user_id: UUID) -> Workout | None:
        statement = (
            select(workouts)
            .where(
                workouts.c.user_id == user_id,
                workouts.c.status == WorkoutStatus.PROCESSED.value,
            )
            .order_by(workouts.c.started_at.desc(), workouts.c.id.desc())
            .limit(1)
        )
        row = (await self._connection.execute(statement)).first()
        return None if row is None else _workout_from_row(row)

    async def list_by_status(
        self, status: WorkoutStatus, limit: int, after: WorkoutCursor | None = None
    ) -> list[Workout]:
        if limit <= 0:
            return []
        statement = select(workouts).where(workouts.c.status == status.value)
        if status is not WorkoutStatus.PROCESSED:
            # The predicate of the review index, spelled as it is there: SQLite takes a
            # partial index only for a query that says its WHERE in so many words.
            statement = statement.where(NOT_COUNTED)
        statement = _newest_first(statement, after)
        rows = await self._connection.execute(statement.limit(limit))
        return [_workout_from_row(row) for row in rows]


@functools.lru_cache(maxsize=2)
def _get_many(dialect_name: str) -> tuple[RequestRows, Select[Any]]:
    """get_many's statement. On PostgreSQL each id is looked up on its own (per_request):
    `id = ANY(ids)` was planned as a scan of the table by a plan cached while the table
    was small, which nothing replans without statistics (autovacuum off)."""
    ids_of = RequestRows("wanted", (("id", workouts.c.id.type),))
    if dialect_name != "postgresql":
        return ids_of, select(workouts).where(ids_of.among(dialect_name, workouts.c.id))
    wanted = ids_of.relation(dialect_name)
    found = per_request(select(workouts).where(workouts.c.id == wanted.c.id), "found")
    return ids_of, select(found).select_from(wanted).join(found, true())


_SPAN_COLUMNS = (
    ("user_id", workouts.c.user_id.type),
    ("first", workouts.c.started_at.type),
    ("last", workouts.c.started_at.type),
    ("activity", workouts.c.activity.type),
)


@functools.lru_cache(maxsize=2)
def _candidates_in_spans(dialect_name: str) -> tuple[RequestRows, RequestRows, Select[Any]]:
    """candidates_in_spans's statement, its text the same however many spans (request_rows):
    the spans of submissions from files (any workout may be a duplicate) and of typed-in
    ones (only a workout from a file may be) as two relations, each joined to the workouts
    it could find. A join, which PostgreSQL runs as an index scan per span (an EXISTS was
    planned as a scan of the whole table); a typed-in span's scan reads the partial index
    of workouts from files (migration 0013), not every workout of the athlete's fortnight
    before it (0.8 ms a span on PostgreSQL with 300 workouts there). A workout in several
    spans comes once for each, ordered next to each other."""
    any_of = RequestRows("spans", _SPAN_COLUMNS)
    files_of = RequestRows("file_spans", _SPAN_COLUMNS)
    parts = []
    for rows_of, from_files_only in ((any_of, False), (files_of, True)):
        span = rows_of.relation(dialect_name)
        in_a_span = [
            workouts.c.user_id == span.c.user_id,
            workouts.c.started_at >= span.c.first,
            workouts.c.started_at <= span.c.last,
            workouts.c.activity == span.c.activity,
            workouts.c.status != WorkoutStatus.REJECTED.value,
        ]
        if from_files_only:
            # Spelled as the partial index's predicate, so that both engines use it.
            in_a_span.append(workouts.c.file_identity.is_not(None))
        parts.append(select(workouts).select_from(span.join(workouts, and_(*in_a_span))))
    found = union_all(*parts).subquery("candidates")
    statement = select(found).order_by(found.c.user_id, found.c.started_at, found.c.id)
    return any_of, files_of, statement


def _span_row(span: CandidateSpan) -> tuple[UUID, datetime, datetime, str]:
    return (span.user_id, span.first, span.last, span.activity.value)


def _newest_first(statement: Select[Any], after: WorkoutCursor | None) -> Select[Any]:
    """Workouts newest `started_at` first (ties by id), after the cursor when there is one."""
    if after is not None:
        statement = statement.where(
            tuple_(workouts.c.started_at, workouts.c.id)
            < tuple_(
                literal(after.started_at, workouts.c.started_at.type),
                literal(after.id, workouts.c.id.type),
            )
        )
    return statement.order_by(workouts.c.started_at.desc(), workouts.c.id.desc())


@functools.lru_cache(maxsize=2)
def _insert_new_workouts(dialect_name: str) -> tuple[RequestRows, Executable]:
    """add_new's statement: every column of the workouts, the rows a relation of the
    statement (insert_rows), so its text is the same however many workouts it inserts."""
    rows_of, insert = insert_rows(workouts, _WORKOUT_COLUMNS, ["id"], dialect_name)
    statement = insert.on_conflict_do_nothing(index_elements=[workouts.c.id]).returning(
        workouts.c.id
    )
    return rows_of, statement


_WORKOUT_COLUMNS = tuple(c.name for c in workouts.c)

_INSERT_WORKOUT = insert_by_dialect(
    workouts,
    lambda insert: insert.on_conflict_do_nothing(index_elements=[workouts.c.id]).returning(
        workouts.c.id
    ),
)


def _workout_values(workout: Workout) -> dict[str, Any]:
    submission = workout.submission
    return {
        "id": submission.id,
        "user_id": submission.user_id,
        "activity": submission.activity.value,
        "started_at": submission.started_at,
        "duration_s": submission.duration_s,
        "submitted_at": submission.submitted_at,
        "distance_m": submission.distance_m,
        "elevation_gain_m": submission.elevation_gain_m,
        "avg_heart_rate": submission.avg_heart_rate,
        "device_calories": submission.device_calories,
        "notes": submission.notes,
        "source": submission.source,
        "indoor": submission.indoor,
        **_recording_values(submission.recording),
        "status": workout.status.value,
        "board_day": workout.board_day,
        "calories": workout.calories,
        "calories_method": workout.calories_method.value,
        "met": workout.met,
        "body_mass_kg": workout.body_mass_kg,
        "points": workout.points,
        "processed_at": workout.processed_at,
        "flag_reason": workout.flag_reason,
        "local_day": workout.local_day,
    }


# The record keeps a recording's fields as columns of the workout, all but its format,
# which the workout's `source` already says.
_RECORDING_COLUMNS = tuple(f.name for f in fields(Recording) if f.name != "file_format")


def _recording_values(recording: Recording | None) -> dict[str, Any]:
    if recording is None:
        return dict.fromkeys(_RECORDING_COLUMNS)
    return {name: getattr(recording, name) for name in _RECORDING_COLUMNS}


def _recording_from_row(row: Row[Any]) -> Recording | None:
    if row.file_identity is None:
        return None
    return Recording(
        file_format=FileFormat(row.source),
        file_name=row.file_name,
        file_identity=row.file_identity,
        device_distance_m=row.device_distance_m,
        moving_time_s=row.moving_time_s,
        elapsed_time_s=row.elapsed_time_s,
        max_heart_rate=row.max_heart_rate,
        avg_power_w=row.avg_power_w,
        avg_cadence=row.avg_cadence,
    )


def _workout_from_row(row: Row[Any]) -> Workout:
    submission = WorkoutSubmission(
        id=row.id,
        user_id=row.user_id,
        activity=Activity(row.activity),
        started_at=row.started_at,
        duration_s=row.duration_s,
        submitted_at=row.submitted_at,
        distance_m=row.distance_m,
        elevation_gain_m=row.elevation_gain_m,
        avg_heart_rate=row.avg_heart_rate,
        device_calories=row.device_calories,
        notes=row.notes,
        source=row.source,
        indoor=row.indoor,
        recording=_recording_from_row(row),
    )
    return Workout(
        submission=submission,
        status=WorkoutStatus(row.status),
        board_day=row.board_day,
        calories=row.calories,
        calories_method=CaloriesMethod(row.calories_method),
        met=row.met,
        body_mass_kg=row.body_mass_kg,
        points=row.points,
        processed_at=row.processed_at,
        flag_reason=row.flag_reason,
        local_day=row.local_day,
    )


class SqlGroupRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, group: Group) -> None:
        await self._connection.execute(
            groups.insert().values(
                id=group.id,
                name=group.name,
                invite_code=group.invite_code,
                owner_id=group.owner_id,
                created_at=group.created_at,
            )
        )
        await self._connection.execute(
            group_members.insert().values(
                group_id=group.id, user_id=group.owner_id, joined_at=group.created_at
            )
        )

    async def get(self, group_id: UUID) -> Group | None:
        row = (
            await self._connection.execute(select(groups).where(groups.c.id == group_id))
        ).first()
        if row is None:
            return None
        return Group(
            id=row.id,
            name=row.name,
            invite_code=row.invite_code,
            owner_id=row.owner_id,
            created_at=row.created_at,
        )

    async def add_member(self, group_id: UUID, user_id: UUID, joined_at: datetime) -> bool:
        statement = (
            dialect_insert(self._connection, group_members)
            .values(group_id=group_id, user_id=user_id, joined_at=joined_at)
            .on_conflict_do_nothing(
                index_elements=[group_members.c.group_id, group_members.c.user_id]
            )
            .returning(group_members.c.user_id)
        )
        return (await self._connection.execute(statement)).first() is not None

    async def remove_member(self, group_id: UUID, user_id: UUID) -> bool:
        statement = (
            delete(group_members)
            .where(group_members.c.group_id == group_id, group_members.c.user_id == user_id)
            .returning(group_members.c.user_id)
        )
        return (await self._connection.execute(statement)).first() is not None

    async def is_member(self, group_id: UUID, user_id: UUID) -> bool:
        statement = select(
            exists().where(group_members.c.group_id == group_id, group_members.c.user_id == user_id)
        )
        return bool((await self._connection.execute(statement)).scalar())

    async def group_ids_of(self, user_id: UUID) -> list[UUID]:
        params = {"member_id": user_id}
        return list((await self._connection.execute(_GROUP_IDS_OF, params)).scalars())

    async def group_ids_of_many(self, user_ids: Sequence[UUID]) -> dict[UUID, list[UUID]]:
        found: dict[UUID, list[UUID]] = {user_id: [] for user_id in user_ids}
        if not found:
            return found
        ids_of, statement = _group_ids_of_many(self._connection.dialect.name)
        params = ids_of.params(self._connection.dialect, [(i,) for i in sorted(found)])
        for row in await self._connection.execute(statement, params):
            found[row.user_id].append(row.group_id)
        return found

    async def memberships_of(self, user_id: UUID) -> list[Membership]:
        rows = await self._connection.execute(_MEMBERSHIPS_OF, {"member_id": user_id})
        return [
            Membership(
                Group(
                    id=row.id,
                    name=row.name,
                    invite_code=row.invite_code,
                    owner_id=row.owner_id,
                    created_at=row.created_at,
                ),
                member_count=row.member_count,
                joined_at=row.joined_at,
            )
            for row in rows
        ]


_GROUP_IDS_OF = (
    select(group_members.c.group_id)
    .where(group_members.c.user_id == bindparam("member_id", type_=group_members.c.user_id.type))
    .order_by(group_members.c.joined_at, group_members.c.group_id)
)


@functools.lru_cache(maxsize=2)
def _group_ids_of_many(dialect_name: str) -> tuple[RequestRows, Select[Any]]:
    """In each athlete's order of group_ids_of; the athletes are one parameter (RequestRows.among),
    so the text is the same however many there are."""
    ids_of = RequestRows("members", (("id", group_members.c.user_id.type),))
    statement = (
        select(group_members.c.user_id, group_members.c.group_id)
        .where(ids_of.among(dialect_name, group_members.c.user_id))
        .order_by(group_members.c.user_id, group_members.c.joined_at, group_members.c.group_id)
    )
    return ids_of, statement


# The athlete's memberships (`mine`), each group with its number of members: one query,
# on the primary key of group_members (group_id first) and its index on user_id.
_mine = group_members.alias("mine")
_MEMBERSHIPS_OF = (
    select(
        groups,
        _mine.c.joined_at,
        select(func.count())
        .where(group_members.c.group_id == groups.c.id)
        .scalar_subquery()
        .label("member_count"),
    )
    .join_from(_mine, groups, groups.c.id == _mine.c.group_id)
    .where(_mine.c.user_id == bindparam("member_id", type_=_mine.c.user_id.type))
    .order_by(_mine.c.joined_at, groups.c.id)
)
