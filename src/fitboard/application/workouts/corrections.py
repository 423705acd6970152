"""An athlete's corrections: deleting one of their workouts, or correcting its activity,
duration, distance, heart rate, indoor flag or notes.

Like a submission, a correction is checked here (the same rules a new workout must meet)
and handed to the queue; the worker applies it (application/workouts/changes.py):
calories, points and plausibility computed again, the day's rollups and the boards
recomputed, achievements judged again, and the change pushed live."""

from __future__ import annotations

from uuid import UUID

from fitboard.application.ids import new_id
from fitboard.application.messaging.ports import MessageBroker
from fitboard.application.ports import Clock, Store
from fitboard.application.workouts.change_messages import change_message
from fitboard.application.workouts.ports import InFlightWorkouts, WorkoutsUnit
from fitboard.domain.changes import ChangeKind, Correction, WorkoutChange
from fitboard.domain.errors import Conflict, NotFound
from fitboard.domain.workouts import Workout, check_submission


class Corrections:
    """Deleting and correcting one's own workouts."""

    def __init__(
        self,
        store: Store[WorkoutsUnit],
        broker: MessageBroker,
        inflight: InFlightWorkouts,
        clock: Clock,
        clock_skew_s: int,
    ) -> None:
        self._store = store
        self._broker = broker
        self._inflight = inflight
        self._clock = clock
        # How far ahead of its submission a workout may end (Settings.clock_skew_s).
        self._clock_skew_s = clock_skew_s

    async def delete(self, workout_id: UUID, athlete: UUID) -> UUID:
        """Queue the deletion of the athlete's workout; returns its id once queued."""
        workout = await self._own(workout_id, athlete)
        await self._queue(workout, ChangeKind.DELETE, athlete, None)
        return workout.id

    async def correct(self, workout_id: UUID, athlete: UUID, correction: Correction) -> UUID:
        """Queue a correction of the athlete's workout; InvalidField, naming the field,
        when the corrected workout could never be stored."""
        workout = await self._own(workout_id, athlete)
        check_submission(correction.applied_to(workout.submission), clock_skew_s=self._clock_skew_s)
        await self._queue(workout, ChangeKind.CORRECT, athlete, correction)
        return workout.id

    async def _own(self, workout_id: UUID, athlete: UUID) -> Workout:
        """The athlete's stored workout. Someone else's is NotFound, exactly like one that
        does not exist; one still in the queue is a Conflict, to retry in a moment."""
        async with self._store.unit_of_work(read_only=True) as uow:
            workout = await uow.workouts.get(workout_id)
        if workout is not None and workout.user_id == athlete:
            return workout
        if workout is None and await self._inflight.owner(workout_id) == athlete:
            raise Conflict(
                f"workout {workout_id} is still being processed; change it once "
                f"GET /v1/workouts/{workout_id} answers 200"
            )
        raise NotFound("no such workout")

    async def _queue(
        self, workout: Workout, kind: ChangeKind, athlete: UUID, correction: Correction | None
    ) -> None:
        change = WorkoutChange(
            id=new_id(),
            kind=kind,
            workout_id=workout.id,
            owner=athlete,
            changed_by=athlete,
            changed_at=self._clock.now(),
            correction=correction,
        )
        await self._broker.publish(change_message(change))
