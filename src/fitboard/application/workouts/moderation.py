"""Moderation: the admins' review of workouts that plausibility flagged.

A flagged workout is stored but counts nowhere until an admin approves it; an admin may
also reject a workout, flagged or counted, so that it never counts. A decision is not
applied here: it goes through the queue like any change (`change_messages`), and the
worker applies it and records it, with who decided, when and why
(application/workouts/changes.py). The athlete sees the latest decision on the workout."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from fitboard.application.ids import new_id
from fitboard.application.messaging.ports import MessageBroker
from fitboard.application.ports import Clock, Store
from fitboard.application.workouts.change_messages import change_message
from fitboard.application.workouts.ports import ChangesUnit
from fitboard.application.workouts.queries import MAX_PAGE, decode_cursor, encode_cursor
from fitboard.domain.changes import ChangeKind, Decision, WorkoutChange
from fitboard.domain.errors import Conflict, InvalidField, NotFound
from fitboard.domain.text import check_text
from fitboard.domain.workouts import Workout, WorkoutStatus

MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class UnderReview:
    """A workout as an admin reviews it: with the latest decision on it, if any."""

    workout: Workout
    decision: Decision | None


class Moderation:
    """Listing workouts by status, and the admins' decisions on them."""

    def __init__(self, store: Store[ChangesUnit], broker: MessageBroker, clock: Clock) -> None:
        self._store = store
        self._broker = broker
        self._clock = clock

    async def list_by_status(
        self, status: WorkoutStatus, *, limit: int, cursor: str | None
    ) -> tuple[list[UnderReview], str | None]:
        """Every athlete's workouts of `status`, newest first, a page at a time."""
        if status is WorkoutStatus.QUEUED:
            raise InvalidField("status", "must be flagged, processed or rejected")
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidField("limit", f"must be between 1 and {MAX_PAGE}")
        after = decode_cursor(cursor) if cursor else None
        async with self._store.unit_of_work(read_only=True) as uow:
            # One more than asked tells whether there is a next page without a count query.
            found = await uow.workouts.list_by_status(status, limit + 1, after)
            page = found[:limit]
            items = [UnderReview(w, await uow.changes.latest_decision(w.id)) for w in page]
        return items, encode_cursor(page[-1]) if len(found) > limit else None

    async def decide(
        self, workout_id: UUID, kind: ChangeKind, *, admin_id: UUID, reason: str | None
    ) -> UUID:
        """Queue an admin's decision (approve or reject) on a stored workout; returns the
        decision's id once the queue has it (QueueUnavailable otherwise)."""
        if not kind.is_decision:
            raise ValueError(f"{kind.value} is not an admin's decision")
        if reason is not None:
            check_text("reason", reason, max_chars=MAX_REASON_CHARS)
        async with self._store.unit_of_work(read_only=True) as uow:
            workout = await uow.workouts.get(workout_id)
        if workout is None:
            raise NotFound(f"no stored workout {workout_id} (a queued one cannot be decided yet)")
        if kind is ChangeKind.APPROVE and workout.status is WorkoutStatus.PROCESSED:
            raise Conflict(f"workout {workout_id} already counts; there is nothing to approve")
        if kind is ChangeKind.REJECT and workout.status is WorkoutStatus.REJECTED:
            raise Conflict(f"workout {workout_id} is already rejected")
        change = WorkoutChange(
            id=new_id(),
            kind=kind,
            workout_id=workout_id,
            owner=workout.user_id,
            changed_by=admin_id,
            changed_at=self._clock.now(),
            reason=reason,
        )
        await self._broker.publish(change_message(change))
        return change.id

    async def decision_on(self, workout_id: UUID) -> Decision | None:
        """The latest admin decision on a workout, shown to its athlete."""
        async with self._store.unit_of_work(read_only=True) as uow:
            return await uow.changes.latest_decision(workout_id)
