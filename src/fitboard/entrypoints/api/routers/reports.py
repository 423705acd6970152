from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from fitboard.application.reports.monthly import MonthlyReports
from fitboard.entrypoints.api import examples
from fitboard.entrypoints.api.deps import CurrentUserId
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.schemas import MONTH_PATTERN


# `async def` for the reason deps.py gives.
async def get_reports(request: Request) -> MonthlyReports:
    """The reports, bound by the application's start-up (app.py)."""
    reports: MonthlyReports = request.app.state.reports
    return reports


router = APIRouter(prefix="/v1/me/reports", tags=["reports"], responses=responses(401, 503))


@router.get(
    "/{month}",
    summary="Read my monthly report",
    responses={
        200: {
            "description": "The report, as the worker last computed it",
            "content": {"application/json": {"example": examples.REPORT}},
        },
        **responses(404),
    },
    operation_id="get_my_monthly_report",
)
async def monthly_report(
    month: Annotated[
        str, Path(description="YYYY-MM", json_schema_extra={"pattern": MONTH_PATTERN})
    ],
    user_id: CurrentUserId,
    reports: Annotated[MonthlyReports, Depends(get_reports)],
) -> Any:
    """The caller's report for a month (YYYY-MM): totals by activity, best workout, active
    days, and, once the month has closed, the final rank on the monthly points board."""
    return await reports.read_report(user_id, month)
