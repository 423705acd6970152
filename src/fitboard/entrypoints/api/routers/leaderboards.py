from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fitboard.application import leaderboards
from fitboard.domain.boards import BoardId, Scope, parse_metric, parse_period
from fitboard.entrypoints.api.deps import ContainerDep, CurrentUserId
from fitboard.entrypoints.api.schemas import BoardOut, EntryOut, MyStandingOut

router = APIRouter(prefix="/v1/leaderboards", tags=["leaderboards"])

ScopeQuery = Annotated[str, Query(description="global, activity:<activity> or group:<group_id>")]
PeriodKeyQuery = Annotated[
    str | None,
    Query(description="2026-11-22, 2026-W47, 2026-11, 2026 or all; default: the current one"),
]


def _board(metric: str, period: str, scope: str) -> BoardId:
    return BoardId(parse_metric(metric), parse_period(period), Scope.parse(scope))


def _entries(entries: list[leaderboards.NamedEntry]) -> list[EntryOut]:
    return [
        EntryOut(rank=e.rank, user_id=e.user_id, display_name=e.display_name, score=e.score)
        for e in entries
    ]


@router.get("/{metric}/{period}", operation_id="get_leaderboard")
async def get_board(
    metric: str,
    period: str,
    user_id: CurrentUserId,
    container: ContainerDep,
    scope: ScopeQuery = "global",
    period_key: PeriodKeyQuery = None,
    limit: Annotated[int, Query(ge=1, le=leaderboards.MAX_PAGE)] = 20,
    cursor: str | None = None,
) -> BoardOut:
    board = _board(metric, period, scope)
    zone = container.rules.board_zone
    key = leaderboards.resolve_key(board, period_key, container.clock.now(), zone)
    view = await leaderboards.read_board(
        key,
        viewer=user_id,
        cursor=cursor,
        limit=limit,
        zone=zone,
        store=container.store,
        ranking=container.ranking,
    )
    return BoardOut(
        metric=board.metric.value,
        period=board.period.value,
        period_key=key.period_key,
        scope=str(board.scope),
        starts_at=view.starts_at,
        ends_at=view.ends_at,
        total=view.total,
        entries=_entries(view.entries),
        next_cursor=view.next_cursor,
    )


@router.get("/{metric}/{period}/me", operation_id="get_my_standing")
async def get_my_standing(
    metric: str,
    period: str,
    user_id: CurrentUserId,
    container: ContainerDep,
    scope: ScopeQuery = "global",
    period_key: PeriodKeyQuery = None,
    around: Annotated[int, Query(ge=0, le=leaderboards.MAX_AROUND)] = 2,
) -> MyStandingOut:
    board = _board(metric, period, scope)
    key = leaderboards.resolve_key(
        board, period_key, container.clock.now(), container.rules.board_zone
    )
    mine = await leaderboards.read_my_standing(
        key, viewer=user_id, around=around, store=container.store, ranking=container.ranking
    )
    return MyStandingOut(
        rank=mine.rank, score=mine.score, total=mine.total, neighbors=_entries(mine.neighbors)
    )
