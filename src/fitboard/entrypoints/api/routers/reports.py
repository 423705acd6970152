from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from fitboard.application.reports.monthly import read_report
from fitboard.domain.periods import board_day
from fitboard.entrypoints.api.deps import ContainerDep, CurrentUserId
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.schemas import MONTH_PATTERN

router = APIRouter(prefix="/v1/me/reports", tags=["reports"], responses=responses(401, 503))


@router.get("/{month}", responses=responses(404), operation_id="get_my_monthly_report")
async def monthly_report(
    month: Annotated[
        str, Path(description="YYYY-MM", json_schema_extra={"pattern": MONTH_PATTERN})
    ],
    user_id: CurrentUserId,
    container: ContainerDep,
) -> Any:
    """The caller's report for a month (YYYY-MM): totals by activity, best workout, active
    days, and, once the month has closed, the final rank on the monthly points board."""
    today = board_day(container.clock.now(), container.rules.board_zone)
    return await read_report(user_id, month, store=container.store, today=today)
