"""Operating fitboard over HTTP, for admins: rebuild the boards, see and replay dead
letters. The same operations as `fitboard rebuild` and `fitboard dead-letters`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fitboard.entrypoints.api.deps import AdminUserId, ServicesDep
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.schemas_admin import (
    DeadLetterOut,
    DeadLettersOut,
    RebuildOut,
    ReplayIn,
    ReplayOut,
)

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=responses(401, 403, 503))


@router.post("/leaderboards/rebuild", operation_id="rebuild_leaderboards")
async def rebuild(_admin: AdminUserId, services: ServicesDep) -> RebuildOut:
    """Drop and reload from the record every board the index holds, plus the current
    period of every global and activity board. Answers when done; for a large community,
    `fitboard rebuild` shows its progress."""
    keys = await services.maintenance.boards_to_rebuild()
    entries = await services.maintenance.rebuild_boards(keys)
    return RebuildOut(boards=len(keys), entries=entries)


@router.get("/dead-letters", operation_id="list_dead_letters")
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


@router.post("/dead-letters/replay", responses=responses(413), operation_id="replay_dead_letters")
async def replay(body: ReplayIn, _admin: AdminUserId, services: ServicesDep) -> ReplayOut:
    """Put dead letters back on the queue with a fresh attempt count (after the cause was
    fixed); all of them, or those ids."""
    moved = await services.operations.replay_dead_letters(body.ids)
    return ReplayOut(replayed=moved)
