"""What the workout use cases need: the workouts record, the in-flight set (and, where it
shares the queue's store, a submission published and marked in one write), and the
transactions of ingest and of the worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from fitboard.application.achievements.ports import JudgingUnit
from fitboard.application.groups.ports import GroupRepository
from fitboard.application.messaging.ports import Message
from fitboard.application.ports import PortError, QueueUnavailable, Transaction
from fitboard.domain.activities import Activity
from fitboard.domain.changes import Decision, WorkoutChange
from fitboard.domain.workouts import Workout, WorkoutStatus


class WorkoutIdTaken(PortError):
    """Raised by `WorkoutRepository.add` when the id exists (the caller checks ownership)."""


@dataclass(frozen=True)
class WorkoutCursor:
    """Position in a newest-first listing: the last item seen."""

    started_at: datetime
    id: UUID


@dataclass(frozen=True)
class CandidateSpan:
    """Where the workouts a submission may duplicate are (application/workouts/
    duplicates.py): the athlete's, of the same activity, started in [first, last]; only
    those from a file when `from_files_only` (a typed-in submission duplicates only a
    recorded workout)."""

    user_id: UUID
    first: datetime
    last: datetime
    activity: Activity
    from_files_only: bool


class WorkoutRepository(Protocol):
    async def get(self, workout_id: UUID) -> Workout | None: ...

    async def add(self, workout: Workout) -> None:
        """Insert; raises WorkoutIdTaken if the id exists."""
        ...

    async def get_many(self, workout_ids: Sequence[UUID]) -> dict[UUID, Workout]:
        """The stored workouts among these ids, by id, in one round trip."""
        ...

    async def add_new(self, new: Sequence[Workout]) -> set[UUID]:
        """Insert each workout whose id is not stored yet, in one statement, and the unit
        of work stays usable: the ids inserted (an id already stored, or given twice, is
        inserted at most once, and the stored row is left as it is)."""
        ...

    async def list_for_user(
        self, user_id: UUID, limit: int, after: WorkoutCursor | None = None
    ) -> list[Workout]:
        """The user's workouts, newest `started_at` first (ties by id), after the cursor."""
        ...

    async def started_between(
        self, user_id: UUID, first: datetime, last: datetime
    ) -> list[Workout]:
        """The user's workouts that started in [first, last], oldest first."""
        ...

    async def candidates_in_spans(self, spans: Sequence[CandidateSpan]) -> list[Workout]:
        """The workouts a duplicate of the spans' submissions could be among: those of
        the span's athlete that started in some span (`started_between` its first and
        last), of its activity, not rejected, and from a file where the span asks for
        that; each once, by user and then oldest first (ties by id), in one round trip.
        A superset of what `first_duplicate` finds for the spans' submissions, without
        the athlete's other workouts of the last two weeks."""
        ...

    async def replace(self, workout: Workout) -> None:
        """Rewrite a stored workout (a decision or a correction), keeping its id and owner."""
        ...

    async def delete(self, workout_id: UUID) -> None: ...

    async def counted_on_day(self, user_id: UUID, day: date) -> list[Workout]:
        """The user's workouts that count on boards (processed) on that board day."""
        ...

    async def latest_counted(self, user_id: UUID) -> Workout | None:
        """The user's counted workout that started last."""
        ...

    async def list_by_status(
        self, status: WorkoutStatus, limit: int, after: WorkoutCursor | None = None
    ) -> list[Workout]:
        """Every athlete's workouts of that status, newest `started_at` first (ties by
        id), after the cursor: the admins' review queue."""
        ...


class WorkoutChangeRepository(Protocol):
    """The changes applied to workouts (decisions, deletions, corrections): who, when,
    why. A change's id is recorded once, which makes applying it idempotent."""

    async def record(self, change: WorkoutChange, board_day: date, applied_at: datetime) -> None:
        """Record an applied change; the caller has checked `applied_day` first."""
        ...

    async def applied_day(self, change_id: UUID) -> date | None:
        """The board day a change touched, if it was applied already; else None."""
        ...

    async def latest_decision(self, workout_id: UUID) -> Decision | None:
        """The latest admin decision (approve or reject) on the workout."""
        ...

    async def deleted_among(self, workout_ids: Sequence[UUID]) -> set[UUID]:
        """Which of these workouts their athletes deleted, in one round trip."""
        ...


class InFlightWorkouts(Protocol):
    """Remembers accepted workouts that are not yet in the record, so their owner can poll
    them (202 queued) and nobody else can learn they exist."""

    async def mark(self, workout_id: UUID, user_id: UUID) -> None:
        """Remember the workout as queued for its owner. Marks made concurrently share one
        write; raises QueueUnavailable if this one may not be stored."""
        ...

    async def mark_many(self, marks: Sequence[tuple[UUID, UUID]]) -> None:
        """`mark` for several (workout id, owner) pairs in one write."""
        ...

    async def owner(self, workout_id: UUID) -> UUID | None: ...

    async def clear_many(self, workout_ids: Sequence[UUID]) -> None:
        """Forget the marks of these workouts (processed now), in one write; ids with no
        mark are ignored."""
        ...

    async def oldest_marked_at(self) -> datetime | None:
        """When the longest-waiting workout still marked was accepted (the age of the
        oldest unprocessed workout), or None when none is marked. A mark whose clearing was
        lost counts until it expires."""
        ...

    async def close(self) -> None: ...


class QueueAndMark(Protocol):
    """Where the queue and the in-flight markers share one durable store (embedded mode:
    one SQLite file), both written by one write: a submission's message and its mark
    together, the mark if and only if the message is stored, where publishing then
    marking costs two writes (two fsyncs) one after the other."""

    async def publish_marked(
        self, submissions: Sequence[tuple[Message, UUID, UUID]]
    ) -> list[QueueUnavailable | None]:
        """Each (message, workout id, athlete id): None once the message is stored (its
        mark with it), else a QueueUnavailable of its own; one outcome each, in order."""
        ...


class WorkoutsUnit(Transaction, Protocol):
    """Reads of an athlete's workouts: ingest's ownership check, queries, duplicates."""

    @property
    def workouts(self) -> WorkoutRepository: ...


class ProcessingUnit(WorkoutsUnit, JudgingUnit, Protocol):
    """The worker's transaction: the athlete's row, the workout, the rollups, the
    athlete's groups (for the boards to project onto), the achievements it judges, and
    the changes applied to workouts (a deleted one is not stored again)."""

    @property
    def groups(self) -> GroupRepository: ...

    @property
    def changes(self) -> WorkoutChangeRepository: ...


class ChangesUnit(WorkoutsUnit, Protocol):
    """Reading workouts and the changes recorded on them: moderation and corrections."""

    @property
    def changes(self) -> WorkoutChangeRepository: ...
