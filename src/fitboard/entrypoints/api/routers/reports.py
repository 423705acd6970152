from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from fitboard.application.reports import read_report
from fitboard.domain.periods import board_day
from fitboard.entrypoints.api.deps import ContainerDep, CurrentUserId

router = APIRouter(prefix="/v1/me/reports", tags=["reports"])


@router.get("/{month}", operation_id="get_my_monthly_report")
async def monthly_report(month: str, user_id: CurrentUserId, container: ContainerDep) -> Any:
    """The caller's report for a month (YYYY-MM): totals by activity, best workout, active
    days, and, once the month has closed, the final rank on the monthly points board."""
    today = board_day(container.clock.now(), container.rules.board_zone)
    return await read_report(user_id, month, store=container.store, today=today)
