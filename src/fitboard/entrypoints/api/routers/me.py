from __future__ import annotations

from fastapi import APIRouter

from fitboard.application.accounts import athletes as accounts
from fitboard.entrypoints.api.deps import ContainerDep, CurrentUserId
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.schemas import ProfilePatch, UserOut
from fitboard.entrypoints.api.views import user_out

router = APIRouter(prefix="/v1/me", tags=["me"], responses=responses(401, 503))


@router.get("", operation_id="get_me")
async def get_me(user_id: CurrentUserId, container: ContainerDep) -> UserOut:
    return user_out(await accounts.get_user(user_id, store=container.store))


@router.patch("", responses=responses(413), operation_id="update_me")
async def update_me(body: ProfilePatch, user_id: CurrentUserId, container: ContainerDep) -> UserOut:
    user = await accounts.update_profile(
        user_id,
        accounts.ProfileChanges(**body.model_dump(exclude_none=True)),
        store=container.store,
        ranking=container.ranking,
    )
    return user_out(user)
