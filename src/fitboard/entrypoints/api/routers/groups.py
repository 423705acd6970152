from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from fitboard.entrypoints.api.deps import CurrentUserId, ServicesDep
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.schemas import GroupIn, GroupOut, JoinIn, MyGroupOut

router = APIRouter(prefix="/v1/groups", tags=["groups"], responses=responses(401, 503))


@router.get("", summary="List my groups", operation_id="list_my_groups")
async def list_mine(user_id: CurrentUserId, services: ServicesDep) -> list[MyGroupOut]:
    """The caller's groups (created or joined), the earliest joined first."""
    return [
        MyGroupOut(
            id=m.group.id,
            name=m.group.name,
            invite_code=m.group.invite_code,
            owner_id=m.group.owner_id,
            member_count=m.member_count,
        )
        for m in await services.groups.groups_of(user_id)
    ]


@router.post(
    "",
    status_code=201,
    summary="Create a group",
    responses=responses(413),
    operation_id="create_group",
)
async def create(body: GroupIn, user_id: CurrentUserId, services: ServicesDep) -> GroupOut:
    """Create a group; share its invite code with the people who may join."""
    group = await services.groups.create_group(user_id, body.name)
    return GroupOut(id=group.id, name=group.name, invite_code=group.invite_code)


@router.post(
    "/{group_id}/join",
    summary="Join a group",
    responses=responses(403, 404, 413),
    operation_id="join_group",
)
async def join(
    group_id: UUID, body: JoinIn, user_id: CurrentUserId, services: ServicesDep
) -> GroupOut:
    """Join with the group's invite code (403 for a wrong one); joining again changes
    nothing."""
    group = await services.groups.join_group(group_id, user_id, body.invite_code)
    return GroupOut(id=group.id, name=group.name, invite_code=group.invite_code)


@router.delete(
    "/{group_id}/members/me",
    status_code=204,
    summary="Leave a group",
    responses=responses(404),
    operation_id="leave_group",
)
async def leave(group_id: UUID, user_id: CurrentUserId, services: ServicesDep) -> Response:
    """Leave a group the caller is a member of (404 otherwise)."""
    await services.groups.leave_group(group_id, user_id)
    return Response(status_code=204)
