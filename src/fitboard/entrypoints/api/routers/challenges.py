from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from fitboard.application.boards.reading import MAX_PAGE
from fitboard.domain.boards import Scope, parse_metric
from fitboard.domain.challenges import Challenge
from fitboard.entrypoints.api.deps import CurrentUserId, ServicesDep
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.schemas import (
    ChallengeBoardOut,
    ChallengeIn,
    ChallengeOut,
    EntryOut,
)

router = APIRouter(prefix="/v1/challenges", tags=["challenges"], responses=responses(401, 503))


def _out(c: Challenge) -> ChallengeOut:
    return ChallengeOut(
        id=c.id,
        name=c.name,
        metric=c.metric.value,
        scope=str(c.scope),
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        goal=c.goal,
        created_by=c.created_by,
    )


@router.post(
    "",
    status_code=201,
    summary="Create a challenge",
    responses=responses(403, 404, 413),
    operation_id="create_challenge",
)
async def create(body: ChallengeIn, user_id: CurrentUserId, services: ServicesDep) -> ChallengeOut:
    """Admins create any challenge; a group's owner creates challenges for that group."""
    challenge = await services.challenges.create_challenge(
        creator=user_id,
        name=body.name,
        metric=parse_metric(body.metric),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        scope=Scope.parse(body.scope),
        goal=body.goal,
    )
    return _out(challenge)


@router.get("", summary="List challenges", operation_id="list_challenges")
async def list_all(user_id: CurrentUserId, services: ServicesDep) -> list[ChallengeOut]:
    """The challenges the caller can see (the global ones and their groups'), the 50
    created last, newest first."""
    return [_out(c) for c in await services.challenges.list_challenges(user_id)]


@router.get(
    "/{challenge_id}/leaderboard",
    summary="Read a challenge's leaderboard",
    responses=responses(403, 404),
    operation_id="get_challenge_leaderboard",
)
async def leaderboard(
    challenge_id: UUID,
    user_id: CurrentUserId,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> ChallengeBoardOut:
    """A challenge's board, best first, a page at a time: the metric summed over the
    challenge's own span, for its scope."""
    board = await services.challenges.challenge_board(
        challenge_id, viewer=user_id, cursor=cursor, limit=limit
    )
    c = board.challenge
    return ChallengeBoardOut(
        challenge=_out(c),
        metric=c.metric.value,
        period_key=str(c.id),
        scope=str(c.scope),
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        total=board.total,
        entries=[
            EntryOut(rank=e.rank, user_id=e.user_id, display_name=e.display_name, score=e.score)
            for e in board.entries
        ],
        next_cursor=board.next_cursor,
    )
