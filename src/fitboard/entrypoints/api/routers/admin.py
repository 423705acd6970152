"""Operating fitboard over HTTP, for admins: rebuild the boards, see and replay dead
letters. The same operations as `fitboard rebuild` and `fitboard dead-letters`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fitboard.application.boards.maintenance import boards_to_rebuild, rebuild_boards
from fitboard.entrypoints.api.deps import AdminUserId, ContainerDep
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
async def rebuild(_admin: AdminUserId, container: ContainerDep) -> RebuildOut:
    """Drop and reload from the record every board the index holds, plus the current
    period of every global and activity board. Answers when done; for a large community,
    `fitboard rebuild` shows its progress."""
    keys = await boards_to_rebuild(
        container.ranking, container.clock.now(), container.rules.board_zone
    )
    entries = await rebuild_boards(keys, store=container.store, ranking=container.ranking)
    return RebuildOut(boards=len(keys), entries=entries)


@router.get("/dead-letters", operation_id="list_dead_letters")
async def dead_letters(
    _admin: AdminUserId,
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> DeadLettersOut:
    """Workout messages that were given up on, oldest first, with the reason."""
    letters = await container.broker.dead_letters(container.workouts_queue, limit)
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
async def replay(body: ReplayIn, _admin: AdminUserId, container: ContainerDep) -> ReplayOut:
    """Put dead letters back on the queue with a fresh attempt count (after the cause was
    fixed); all of them, or those ids."""
    moved = await container.broker.replay_dead_letters(container.workouts_queue, body.ids)
    return ReplayOut(replayed=moved)
