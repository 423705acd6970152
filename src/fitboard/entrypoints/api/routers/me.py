"""The caller's own account: profile, export, deletion (docs/accounts.md)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from fitboard.application.accounts.athletes import ProfileChanges
from fitboard.application.accounts.export import AccountExport, AccountSummary
from fitboard.entrypoints.api.deps import CurrentUserId, ServicesDep
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.live import disconnect_athlete
from fitboard.entrypoints.api.schemas import (
    AccountDeletedOut,
    AccountExportOut,
    ExportedAward,
    ExportedGroup,
    ExportedReport,
    ProfilePatch,
    UserOut,
)
from fitboard.entrypoints.api.views import user_out, workout_out

router = APIRouter(prefix="/v1/me", tags=["me"], responses=responses(401, 503))


@router.get("", summary="Read my profile", operation_id="get_me")
async def get_me(user_id: CurrentUserId, services: ServicesDep) -> UserOut:
    """The caller's profile."""
    return user_out(await services.athletes.get_user(user_id))


@router.patch("", summary="Update my profile", responses=responses(413), operation_id="update_me")
async def update_me(body: ProfilePatch, user_id: CurrentUserId, services: ServicesDep) -> UserOut:
    """Change the fields sent, keep the others; answers the whole profile. Past workouts
    keep the calories they were given; `show_on_leaderboards: false` takes the athlete off
    every board (and `true` puts them back)."""
    user = await services.athletes.update_profile(
        user_id, ProfileChanges(**body.model_dump(exclude_none=True))
    )
    return user_out(user)


@router.delete("", status_code=202, summary="Delete my account", operation_id="delete_me")
async def delete_me(
    user_id: CurrentUserId, request: Request, services: ServicesDep
) -> AccountDeletedOut:
    """Delete the account: the athlete, every workout, award, report, group membership and
    board entry of theirs. A group they own passes to the member who joined first of the
    others, or is deleted when they are its only member. Their tokens are refused from
    then on (401)."""
    # The deletion tells every API process (this one included) to forget the athlete's
    # token generation (GenerationChanges).
    await services.account_deletion.delete_account(user_id)
    await disconnect_athlete(request.app.state.container.gateway, user_id)
    return AccountDeletedOut(id=user_id)


@router.get(
    "/export",
    summary="Export my data",
    operation_id="export_me",
    response_class=StreamingResponse,
    responses={
        200: {
            "model": AccountExportOut,
            "description": "The caller's data as one JSON document, streamed",
        }
    },
)
async def export_me(user_id: CurrentUserId, services: ServicesDep) -> StreamingResponse:
    """Everything fitboard keeps of the caller, as JSON: profile, groups, awards, monthly
    reports, and every workout (newest first, streamed however long the history)."""
    export = services.account_export
    # Read before the answer starts, so a missing athlete or an unreachable record is a
    # proper 401 or 503 rather than a cut-off document.
    summary = await export.summary(user_id)
    return StreamingResponse(
        _export_document(export, user_id, summary),
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="fitboard-export.json"'},
    )


async def _export_document(
    export: AccountExport, user_id: UUID, summary: AccountSummary
) -> AsyncIterator[bytes]:
    """`AccountExportOut` as JSON text, written a workout at a time."""
    head = AccountExportOut(
        exported_at=datetime.now(UTC),
        profile=user_out(summary.profile),
        groups=[
            ExportedGroup(id=g.group_id, name=g.name, owner=g.owned, joined_at=g.joined_at)
            for g in summary.groups
        ],
        awards=[ExportedAward.model_validate(a, from_attributes=True) for a in summary.awards],
        reports=[
            ExportedReport(month=r.month, report=json.loads(r.body), final_rank=r.final_rank)
            for r in summary.reports
        ],
        workouts=[],
    ).model_dump_json()
    # The document's last member is the empty `workouts` list: open it again and stream.
    closing = '"workouts":[]}'
    assert head.endswith(closing)
    yield (head.removesuffix("]}")).encode()
    separator = ""
    async for workout in export.workouts(user_id):
        yield (separator + workout_out(workout).model_dump_json()).encode()
        separator = ","
    yield b"]}"
