"""What an athlete can read about their own workouts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fitboard.application import cursors
from fitboard.application.ports import Store
from fitboard.application.workouts.ports import InFlightWorkouts, WorkoutCursor, WorkoutsUnit
from fitboard.domain.errors import InvalidField, NotFound
from fitboard.domain.workouts import Workout

MAX_PAGE = 100


@dataclass(frozen=True)
class Queued:
    id: UUID


def encode_cursor(workout: Workout) -> str:
    return cursors.encode(f"{workout.submission.started_at.isoformat()}|{workout.id}")


def decode_cursor(cursor: str) -> WorkoutCursor:
    started, _, ident = cursors.decode(cursor).partition("|")
    try:
        moment = datetime.fromisoformat(started)
        if moment.tzinfo is None:
            raise ValueError(started)
        return WorkoutCursor(moment, UUID(ident))
    except ValueError:
        raise cursors.invalid() from None


class WorkoutQueries:
    """What an athlete reads about their own workouts."""

    def __init__(self, store: Store[WorkoutsUnit], inflight: InFlightWorkouts) -> None:
        self._store = store
        self._inflight = inflight

    async def get_workout(self, workout_id: UUID, *, viewer: UUID) -> Workout | Queued:
        """The stored workout, or Queued while it is in flight. Someone else's workout is
        NotFound, exactly like one that does not exist."""
        # The marker is read before the record: the worker writes the record and only then
        # clears the marker, so in this order a workout is never missed by both reads.
        owner = await self._inflight.owner(workout_id)
        async with self._store.unit_of_work(read_only=True) as uow:
            workout = await uow.workouts.get(workout_id)
        if workout is not None:
            if workout.user_id != viewer:
                raise NotFound("no such workout")
            return workout
        if owner == viewer:
            return Queued(workout_id)
        raise NotFound("no such workout")

    async def list_workouts(
        self, viewer: UUID, *, limit: int, cursor: str | None
    ) -> tuple[list[Workout], str | None]:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidField("limit", f"must be between 1 and {MAX_PAGE}")
        after = decode_cursor(cursor) if cursor else None
        async with self._store.unit_of_work(read_only=True) as uow:
            # One more than asked tells whether there is a next page without a count query.
            items = await uow.workouts.list_for_user(viewer, limit + 1, after)
        if len(items) > limit:
            return items[:limit], encode_cursor(items[limit - 1])
        return items, None
