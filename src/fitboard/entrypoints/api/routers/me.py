from __future__ import annotations

from fastapi import APIRouter

from fitboard.application.accounts.athletes import ProfileChanges
from fitboard.entrypoints.api.deps import CurrentUserId, ServicesDep
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.schemas import ProfilePatch, UserOut
from fitboard.entrypoints.api.views import user_out

router = APIRouter(prefix="/v1/me", tags=["me"], responses=responses(401, 503))


@router.get("", operation_id="get_me")
async def get_me(user_id: CurrentUserId, services: ServicesDep) -> UserOut:
    return user_out(await services.athletes.get_user(user_id))


@router.patch("", responses=responses(413), operation_id="update_me")
async def update_me(body: ProfilePatch, user_id: CurrentUserId, services: ServicesDep) -> UserOut:
    user = await services.athletes.update_profile(
        user_id, ProfileChanges(**body.model_dump(exclude_none=True))
    )
    return user_out(user)
