from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fitboard.application.boards.reading import MAX_AROUND, MAX_PAGE, NamedEntry
from fitboard.domain.boards import BoardId, Metric, Period, Scope
from fitboard.entrypoints.api.deps import CurrentUserId, ServicesDep
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.schemas import (
    PERIOD_KEY_DESCRIPTION,
    PERIOD_KEY_PATTERN,
    SCOPE_DESCRIPTION,
    SCOPE_PATTERN,
    BoardOut,
    EntryOut,
    MyStandingOut,
)

# 403: a group board the caller is not a member of; 404: no such group.
router = APIRouter(
    prefix="/v1/leaderboards", tags=["leaderboards"], responses=responses(401, 403, 404, 503)
)

# The domain checks scope and period key, naming the field; the patterns document them.
ScopeQuery = Annotated[
    str, Query(description=SCOPE_DESCRIPTION, json_schema_extra={"pattern": SCOPE_PATTERN})
]
PeriodKeyQuery = Annotated[
    str | None,
    Query(description=PERIOD_KEY_DESCRIPTION, json_schema_extra={"pattern": PERIOD_KEY_PATTERN}),
]


def _board(metric: Metric, period: Period, scope: str) -> BoardId:
    return BoardId(metric, period, Scope.parse(scope))


def _entries(entries: list[NamedEntry]) -> list[EntryOut]:
    return [
        EntryOut(rank=e.rank, user_id=e.user_id, display_name=e.display_name, score=e.score)
        for e in entries
    ]


@router.get("/{metric}/{period}", operation_id="get_leaderboard")
async def get_board(
    metric: Metric,
    period: Period,
    user_id: CurrentUserId,
    services: ServicesDep,
    scope: ScopeQuery = "global",
    period_key: PeriodKeyQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: str | None = None,
) -> BoardOut:
    board = _board(metric, period, scope)
    view = await services.boards.read_board(
        board, period_key, viewer=user_id, cursor=cursor, limit=limit
    )
    return BoardOut(
        metric=board.metric.value,
        period=board.period.value,
        period_key=view.key.period_key,
        scope=str(board.scope),
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        total=view.total,
        entries=_entries(view.entries),
        next_cursor=view.next_cursor,
    )


@router.get("/{metric}/{period}/me", operation_id="get_my_standing")
async def get_my_standing(
    metric: Metric,
    period: Period,
    user_id: CurrentUserId,
    services: ServicesDep,
    scope: ScopeQuery = "global",
    period_key: PeriodKeyQuery = None,
    around: Annotated[int, Query(ge=0, le=MAX_AROUND)] = 2,
) -> MyStandingOut:
    board = _board(metric, period, scope)
    mine = await services.boards.read_my_standing(board, period_key, viewer=user_id, around=around)
    return MyStandingOut(
        rank=mine.rank, score=mine.score, total=mine.total, neighbors=_entries(mine.neighbors)
    )
