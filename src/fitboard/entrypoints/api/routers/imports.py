"""POST /v1/workouts/import: workouts from GPX, TCX and FIT files, or a zip of them."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse

from fitboard.application.imports.importing import ImportedWorkout, ImportFile, ImportStatus
from fitboard.application.imports.ports import ReadersBusy, UnreadableFile
from fitboard.domain.activities import Activity
from fitboard.entrypoints.api import examples
from fitboard.entrypoints.api.deps import CurrentUserId, ServicesDep
from fitboard.entrypoints.api.errors import refusal, responses
from fitboard.entrypoints.api.schemas import (
    ArchiveImportOut,
    ImportAccepted,
    ImportDuplicate,
    ImportItemOut,
    ImportRefused,
)

IMPORT_PATH = "/v1/workouts/import"

router = APIRouter(prefix="/v1", tags=["workouts"], responses=responses(401, 503))

_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": ImportAccepted,
        "description": "One activity file, durably queued; poll the Location for the result.",
        "headers": {"Location": {"schema": {"type": "string"}}},
    },
    207: {
        "model": ArchiveImportOut,
        "description": "A .zip: one result per workout in it (queued, duplicate or invalid).",
    },
    409: {
        "model": ImportDuplicate,
        "description": "The same activity as an existing workout, whose `id` this is; "
        "nothing was queued.",
    },
    400: refusal(400),
    413: refusal(
        413,
        "The upload is larger than FITBOARD_IMPORT_MAX_BYTES.",
        "the upload is larger than this server accepts (33554432 bytes); upload fewer "
        "files at a time (split a large archive)",
    ),
    422: {
        "model": ImportRefused,
        "description": "The file cannot be read as an activity; `detail` says why.",
    },
    **responses(429),
    503: refusal(
        503,
        "Nothing was saved: the queue cannot store a workout, or the file readers are busy "
        "(too many uploads waiting, the server too loaded to finish reading this one, or a "
        "reader stopped while reading it). Retry after Retry-After seconds.",
        "the workout could not be stored durably; nothing was saved, please retry",
    ),
}


def _item(workout: ImportedWorkout) -> ImportItemOut:
    return ImportItemOut(
        file=workout.file, id=workout.id, status=workout.status.value, error=workout.error
    )


def _refused(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=422)


def _one_file(workouts: list[ImportedWorkout]) -> JSONResponse:
    """One file: 202 if anything in it was queued, else 409 if it repeats a workout the
    athlete has, else 422 with why it cannot be imported."""
    results = [_item(w).model_dump(mode="json") for w in workouts]
    queued = [w for w in workouts if w.status is ImportStatus.QUEUED]
    if queued:
        body = ImportAccepted(id=queued[0].id, results=[_item(w) for w in workouts])
        return JSONResponse(
            body.model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/v1/workouts/{queued[0].id}"},
        )
    duplicate = next((w for w in workouts if w.status is ImportStatus.DUPLICATE), None)
    if duplicate is not None:
        return JSONResponse(
            {
                "detail": f"this is the same activity as workout {duplicate.id}, which you "
                "already have; nothing was imported",
                "id": str(duplicate.id),
                "results": results,
            },
            status_code=409,
        )
    errors = "; ".join(w.error or "invalid" for w in workouts)
    return _refused(errors or "the file holds no activity")


@router.post(
    "/workouts/import",
    status_code=202,
    response_model=None,
    summary="Import activity files",
    responses=_RESPONSES,
    operation_id="import_workouts",
    openapi_extra={
        "requestBody": {"content": {"multipart/form-data": {"example": examples.IMPORT_FORM}}}
    },
)
async def import_workouts(
    user_id: CurrentUserId,
    services: ServicesDep,
    file: Annotated[
        UploadFile,
        File(description="A .gpx, .tcx or .fit activity file, or a .zip of them."),
    ],
    activity: Annotated[
        Activity | None,
        Form(description="The sport of every workout uploaded; else each file's own."),
    ] = None,
) -> JSONResponse:
    """Workouts from a GPX, TCX or FIT file as a device recorded them (docs/import.md),
    or from a .zip of such files: each is queued like a submitted workout, and an
    activity the athlete already has is a duplicate, never counted twice."""
    # Charged before the file is read and parsed, which is what costs: an upload counts as
    # one workout against the athlete's budget, whatever it holds.
    await services.rate_limits.charge_workouts(user_id, 1)
    # Only API processes can read uploads; this route is served by nothing else.
    assert services.imports is not None
    data = await file.read()
    name = file.filename or "upload"
    try:
        outcome = await services.imports.import_file(
            ImportFile(user_id=user_id, file_name=name, data=data, activity=activity)
        )
    except UnreadableFile as exc:
        return _refused(str(exc))
    except ReadersBusy as exc:
        return JSONResponse(
            {"detail": str(exc)},
            status_code=503,
            headers={"Retry-After": str(math.ceil(exc.retry_after_s))},
        )
    if outcome.is_archive:
        body = ArchiveImportOut(results=[_item(w) for w in outcome.workouts])
        return JSONResponse(body.model_dump(mode="json"), status_code=207)
    return _one_file(outcome.workouts)
