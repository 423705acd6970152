"""Operating fitboard over HTTP, for admins: rebuild the boards, see and replay dead
letters (the same operations as `fitboard rebuild` and `fitboard dead-letters`), and
review workouts: list them by status, approve or reject one (docs/moderation.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from fitboard.application.workouts.moderation import UnderReview
from fitboard.domain.changes import ChangeKind
from fitboard.domain.workouts import WorkoutStatus
from fitboard.entrypoints.api import examples
from fitboard.entrypoints.api.deps import AdminUserId, ServicesDep
from fitboard.entrypoints.api.errors import refusal, responses
from fitboard.entrypoints.api.schemas_admin import (
    DeadLetterOut,
    DeadLettersOut,
    DecisionIn,
    DecisionQueued,
    RebuildOut,
    ReplayIn,
    ReplayOut,
    ReviewedDecisionOut,
    ReviewedWorkoutOut,
    ReviewPage,
)
from fitboard.entrypoints.api.views import decision_out, workout_out

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=responses(401, 403, 503))


@router.post(
    "/leaderboards/rebuild", summary="Rebuild the leaderboards", operation_id="rebuild_leaderboards"
)
async def rebuild(_admin: AdminUserId, services: ServicesDep) -> RebuildOut:
    """Drop and reload from the record every board the index holds, plus the current
    period of every global and activity board. On Redis it first deletes the boards of
    the previous key layout (left by an upgrade), and rebuilds those it held loaded.
    Answers when done; for a large community, `fitboard rebuild` shows its progress."""
    rebuilt = await services.maintenance.rebuild()
    return RebuildOut(boards=rebuilt.boards, entries=rebuilt.entries)


@router.get("/dead-letters", summary="List dead letters", operation_id="list_dead_letters")
async def dead_letters(
    _admin: AdminUserId,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> DeadLettersOut:
    """Workout messages that were given up on, oldest first, with the reason."""
    letters = await services.operations.dead_letters(limit)
    return DeadLettersOut(
        items=[
            DeadLetterOut(
                message_id=letter.message.message_id,
                routing_key=letter.message.routing_key,
                reason=letter.reason,
                attempts=letter.attempts,
                failed_at=letter.failed_at,
            )
            for letter in letters
        ]
    )


@router.post(
    "/dead-letters/replay",
    summary="Replay dead letters",
    responses=responses(413),
    operation_id="replay_dead_letters",
)
async def replay(body: ReplayIn, _admin: AdminUserId, services: ServicesDep) -> ReplayOut:
    """Put dead letters back on the queue with a fresh attempt count (after the cause was
    fixed); all of them, or those ids."""
    moved = await services.operations.replay_dead_letters(body.ids)
    return ReplayOut(replayed=moved)


@router.get(
    "/workouts", summary="List workouts for review", operation_id="list_workouts_for_review"
)
async def workouts_for_review(
    _admin: AdminUserId,
    services: ServicesDep,
    status: Literal["flagged", "processed", "rejected"] = "flagged",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> ReviewPage:
    """Every athlete's workouts of a status, newest first, each with the latest decision
    on it: by default the flagged ones, which wait for an admin's review."""
    items, next_cursor = await services.moderation.list_by_status(
        WorkoutStatus(status), limit=limit, cursor=cursor
    )
    return ReviewPage(items=[_reviewed(item) for item in items], next_cursor=next_cursor)


def _reviewed(item: UnderReview) -> ReviewedWorkoutOut:
    decision = item.decision
    return ReviewedWorkoutOut(
        **workout_out(item.workout).model_dump(exclude={"decision"}),
        user_id=item.workout.user_id,
        decision=None
        if decision is None
        else ReviewedDecisionOut(
            **decision_out(decision).model_dump(), decided_by=decision.decided_by
        ),
    )


_DECISION_QUEUED: dict[int | str, dict[str, Any]] = {
    **responses(413),
    202: {"description": "Queued; the worker applies and records it, and the boards follow."},
    404: refusal(
        404,
        "No stored workout with this id (a queued one cannot be decided yet)",
        f"no stored workout {examples.WORKOUT_ID} (a queued one cannot be decided yet)",
    ),
    409: refusal(
        409,
        "The decision changes nothing: the workout already counts, or is already rejected",
        f"workout {examples.WORKOUT_ID} is already rejected",
    ),
}


@router.post(
    "/workouts/{workout_id}/approve",
    status_code=202,
    summary="Approve a workout",
    responses=_DECISION_QUEUED,
    operation_id="approve_workout",
)
async def approve(
    workout_id: UUID, admin_id: AdminUserId, services: ServicesDep, body: DecisionIn | None = None
) -> DecisionQueued:
    """Approve a flagged (or rejected) workout: it counts from then on, on every board,
    in the athlete's totals, achievements and reports."""
    return await _decide(workout_id, ChangeKind.APPROVE, admin_id, services, body)


@router.post(
    "/workouts/{workout_id}/reject",
    status_code=202,
    summary="Reject a workout",
    responses=_DECISION_QUEUED,
    operation_id="reject_workout",
)
async def reject(
    workout_id: UUID, admin_id: AdminUserId, services: ServicesDep, body: DecisionIn | None = None
) -> DecisionQueued:
    """Reject a workout: it never counts. If it counted, the athlete's totals and boards
    go down and the achievements that depended on it are taken back."""
    return await _decide(workout_id, ChangeKind.REJECT, admin_id, services, body)


async def _decide(
    workout_id: UUID,
    kind: ChangeKind,
    admin_id: UUID,
    services: ServicesDep,
    body: DecisionIn | None,
) -> DecisionQueued:
    reason = None if body is None else body.reason
    decision_id = await services.moderation.decide(
        workout_id, kind, admin_id=admin_id, reason=reason
    )
    return DecisionQueued(id=workout_id, decision_id=decision_id)
