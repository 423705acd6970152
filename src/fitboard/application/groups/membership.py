"""Groups: private boards for a club, a team, a group of friends."""

from __future__ import annotations

import secrets
import uuid
from typing import Protocol
from uuid import UUID

from fitboard.application.boards.ports import BoardsUnit, RankingIndex
from fitboard.application.boards.projection import reproject_user
from fitboard.application.groups.ports import GroupsUnit
from fitboard.application.ports import Clock, Store
from fitboard.domain.errors import Forbidden, InvalidField, NotFound
from fitboard.domain.groups import Group


class MembershipUnit(GroupsUnit, BoardsUnit, Protocol):
    """Joining or leaving changes the memberships and which group boards the athlete is on."""


async def create_group(
    owner: UUID,
    name: str,
    *,
    store: Store[MembershipUnit],
    ranking: RankingIndex,
    clock: Clock,
) -> Group:
    name = name.strip()
    if not name:
        raise InvalidField("name", "must not be blank")
    group = Group(
        id=uuid.uuid4(),
        name=name,
        invite_code=secrets.token_urlsafe(9),
        owner_id=owner,
        created_at=clock.now(),
    )
    async with store.unit_of_work() as uow:
        await uow.groups.add(group)
        await uow.commit()
    await reproject_user(owner, store=store, ranking=ranking)
    return group


async def join_group(
    group_id: UUID,
    user_id: UUID,
    invite_code: str,
    *,
    store: Store[MembershipUnit],
    ranking: RankingIndex,
    clock: Clock,
) -> Group:
    async with store.unit_of_work() as uow:
        group = await uow.groups.get(group_id)
        if group is None:
            raise NotFound("no such group")
        # Constant-time: the code is the only thing that keeps a group private. As bytes:
        # compare_digest refuses text that is not ASCII, and a guess may be anything.
        if not secrets.compare_digest(group.invite_code.encode(), invite_code.encode()):
            raise Forbidden("that invite code does not open this group")
        joined = await uow.groups.add_member(group_id, user_id, clock.now())
        await uow.commit()
    if joined:
        await reproject_user(user_id, store=store, ranking=ranking)
    return group


async def leave_group(
    group_id: UUID, user_id: UUID, *, store: Store[MembershipUnit], ranking: RankingIndex
) -> None:
    async with store.unit_of_work() as uow:
        if await uow.groups.get(group_id) is None:
            raise NotFound("no such group")
        left = await uow.groups.remove_member(group_id, user_id)
        await uow.commit()
    if not left:
        raise NotFound("you are not a member of this group")
    await reproject_user(user_id, store=store, ranking=ranking, left_groups=[group_id])
