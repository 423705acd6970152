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
    SCOPE_SCHEMA,
    BoardOut,
    EntryOut,
    MyStandingOut,
)

# 403: a group board the caller is not a member of; 404: no such group.
router = APIRouter(
    prefix="/v1/leaderboards", tags=["leaderboards"], responses=responses(401, 403, 404, 503)
)

# The domain checks scope and period key, naming the field; the patterns document them.
ScopeQuery = Annotated[str, Query(json_schema_extra=SCOPE_SCHEMA)]
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


@router.get("/{metric}/{period}", summary="Read a leaderboard", operation_id="get_leaderboard")
async def get_board(
    metric: Metric,
    period: Period,
    user_id: CurrentUserId,
    services: ServicesDep,
    scope: ScopeQuery = "global",
    period_key: PeriodKeyQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> BoardOut:
    """A board's entries, best first, a page at a time: a metric (points, calories...)
    summed over a period (the current one unless `period_key` names another) for a scope:
    everyone, one activity's workouts, or a group's members (403 for others, 404 for no
    such group). Among equal scores, whoever reached the score first ranks first."""
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


@router.get(
    "/{metric}/{period}/me",
    summary="Read my standing on a leaderboard",
    operation_id="get_my_standing",
)
async def get_my_standing(
    metric: Metric,
    period: Period,
    user_id: CurrentUserId,
    services: ServicesDep,
    scope: ScopeQuery = "global",
    period_key: PeriodKeyQuery = None,
    around: Annotated[
        int, Query(ge=0, le=MAX_AROUND, description="Neighbours to show on each side")
    ] = 2,
) -> MyStandingOut:
    """The caller's rank and score on a board, with the athletes just above and below;
    `rank` and `score` are null when the caller has no entry there."""
    board = _board(metric, period, scope)
    mine = await services.boards.read_my_standing(board, period_key, viewer=user_id, around=around)
    return MyStandingOut(
        rank=mine.rank, score=mine.score, total=mine.total, neighbors=_entries(mine.neighbors)
    )
