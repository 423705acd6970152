"""Accepting a workout: validate, hand it durably to the queue, answer.

The ingest path writes nothing to the database and computes nothing: its job is to make
sure the workout is safely stored before the athlete is told it was accepted. The one
read it may make is for a client-chosen id, to answer 409 at once when that id already
belongs to another athlete (check_id_is_yours)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fitboard.application.ids import new_id
from fitboard.application.messaging.ports import MessageBroker
from fitboard.application.ports import Clock, PortError, QueueUnavailable, Store
from fitboard.application.workouts.messages import submission_message
from fitboard.application.workouts.ports import InFlightWorkouts, QueueAndMark, WorkoutsUnit
from fitboard.domain.activities import Activity
from fitboard.domain.errors import Conflict, InvalidField
from fitboard.domain.recordings import Recording
from fitboard.domain.workouts import MANUAL, WorkoutSubmission, check_submission

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmitWorkout:
    user_id: uuid.UUID
    activity: Activity
    started_at: datetime
    duration_s: int
    id: uuid.UUID | None = None
    distance_m: float | None = None
    elevation_gain_m: float | None = None
    avg_heart_rate: int | None = None
    calories: float | None = None
    notes: str | None = None
    source: str = MANUAL
    indoor: bool | None = None
    recording: Recording | None = None


class Ingest:
    """The 202 path: check, hand to the queue, answer."""

    def __init__(
        self,
        broker: MessageBroker,
        inflight: InFlightWorkouts,
        store: Store[WorkoutsUnit],
        clock: Clock,
        clock_skew_s: int,
        *,
        together: QueueAndMark | None = None,
    ) -> None:
        """`together`: publish and mark in one write (else the publish, then the mark)."""
        self._broker = broker
        self._inflight = inflight
        self._together = together
        self._store = store
        self._clock = clock
        # How far ahead of the server's clock a workout may end (Settings.clock_skew_s).
        self._clock_skew_s = clock_skew_s

    def validate(
        self, command: SubmitWorkout, *, submitted_at: datetime | None = None
    ) -> WorkoutSubmission:
        """Refuse what can never be stored (InvalidField) and build the submission.
        `submitted_at`: when it was accepted, if the caller has read the clock already
        (the items of one batch are accepted at one time); else now."""
        submission = WorkoutSubmission(
            id=command.id or new_id(),
            user_id=command.user_id,
            activity=command.activity,
            started_at=command.started_at,
            duration_s=command.duration_s,
            submitted_at=self._clock.now() if submitted_at is None else submitted_at,
            distance_m=command.distance_m,
            elevation_gain_m=command.elevation_gain_m,
            avg_heart_rate=command.avg_heart_rate,
            device_calories=command.calories,
            notes=command.notes,
            source=command.source,
            indoor=command.indoor,
            recording=command.recording,
        )
        check_submission(submission, clock_skew_s=self._clock_skew_s)
        return submission

    async def check_id_is_yours(self, workout_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Raise Conflict when a client-chosen id already belongs to another athlete,
        queued or stored, so the client hears 409 now instead of 202 and a 404 forever
        (the worker dead-letters such a workout). Where the API cannot know (the record or
        the in-flight markers unreachable), the id is let through and the worker's own
        check applies: an outage of the record must not stop the ingest path."""
        try:
            owner = await self._inflight.owner(workout_id)
            if owner is None:
                async with self._store.unit_of_work(read_only=True) as uow:
                    stored = await uow.workouts.get(workout_id)
                owner = stored.user_id if stored is not None else None
        except PortError:
            log.warning("could not check the owner of workout id %s", workout_id, exc_info=True)
            return
        if owner is not None and owner != user_id:
            raise Conflict(f"workout id {workout_id} belongs to another athlete; send a new id")

    async def submit_workout(self, command: SubmitWorkout) -> uuid.UUID:
        """Returns the workout id once the queue has confirmed it; raises QueueUnavailable
        (never returns) when it could not be stored durably."""
        submission = self.validate(command)
        if self._together is not None:
            (outcome,) = await self._together.publish_marked(
                [(submission_message(submission), submission.id, submission.user_id)]
            )
            if outcome is not None:
                raise outcome
            return submission.id
        await self._broker.publish(submission_message(submission))
        try:
            await self._inflight.mark(submission.id, submission.user_id)
        except PortError:
            # The workout is safe in the queue; only "queued" polling is degraded until it
            # lands.
            log.warning("could not mark workout %s as in flight", submission.id, exc_info=True)
        return submission.id

    async def submit_workouts(
        self, commands: Sequence[SubmitWorkout]
    ) -> list[uuid.UUID | InvalidField | Conflict | QueueUnavailable]:
        """Each command accepted or refused on its own, and all those accepted handed to
        the queue in one durable write (`publish_many`). One outcome per command, in
        order: the workout id once the queue has stored it, else why not — Conflict or
        InvalidField as for `submit_workout`, QueueUnavailable when the write did not
        store it. A refused command never holds back the others."""
        outcomes: list[uuid.UUID | InvalidField | Conflict | QueueUnavailable] = []
        accepted: list[tuple[int, WorkoutSubmission]] = []
        # One time of acceptance for the batch: they are accepted together (and reading the
        # clock once an item was 2% of the API's samples on batch ingest).
        submitted_at = self._clock.now()
        for index, command in enumerate(commands):
            try:
                if command.id is not None:
                    await self.check_id_is_yours(command.id, command.user_id)
                submission = self.validate(command, submitted_at=submitted_at)
            except (Conflict, InvalidField) as exc:
                outcomes.append(exc)
                continue
            outcomes.append(submission.id)
            accepted.append((index, submission))
        if self._together is not None:
            written = await self._together.publish_marked(
                [(submission_message(s), s.id, s.user_id) for _, s in accepted]
            )
            for (index, _), error in zip(accepted, written, strict=True):
                if error is not None:
                    outcomes[index] = error
            return outcomes
        written = await self._broker.publish_many(
            [submission_message(submission) for _, submission in accepted]
        )
        stored: list[tuple[uuid.UUID, uuid.UUID]] = []
        for (index, submission), error in zip(accepted, written, strict=True):
            if error is None:
                stored.append((submission.id, submission.user_id))
            else:
                outcomes[index] = error
        if stored:
            try:
                await self._inflight.mark_many(stored)
            except PortError:
                # Safe in the queue; only "queued" polling is degraded until they land.
                log.warning("could not mark %d workouts as in flight", len(stored), exc_info=True)
        return outcomes
