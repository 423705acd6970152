"""Groups: private boards for a club, a team, a group of friends."""

from __future__ import annotations

import secrets
from typing import Protocol
from uuid import UUID

from fitboard.application.boards.ports import BoardsUnit
from fitboard.application.boards.projection import Projection
from fitboard.application.groups.ports import GroupsUnit
from fitboard.application.ids import new_id
from fitboard.application.ports import Clock, Store
from fitboard.domain.errors import Forbidden, InvalidField, NotFound
from fitboard.domain.groups import Group, Membership


class MembershipUnit(GroupsUnit, BoardsUnit, Protocol):
    """Joining or leaving changes the memberships and which group boards the athlete is on."""


class Groups:
    """Creating groups, listing an athlete's, joining them with their invite code, and
    leaving them."""

    def __init__(self, store: Store[MembershipUnit], projection: Projection, clock: Clock) -> None:
        self._store = store
        self._projection = projection
        self._clock = clock

    async def create_group(self, owner: UUID, name: str) -> Group:
        name = name.strip()
        if not name:
            raise InvalidField("name", "must not be blank")
        group = Group(
            id=new_id(),
            name=name,
            invite_code=secrets.token_urlsafe(9),
            owner_id=owner,
            created_at=self._clock.now(),
        )
        async with self._store.unit_of_work() as uow:
            await uow.groups.add(group)
            await uow.commit()
        await self._projection.reproject_user(owner)
        return group

    async def groups_of(self, user_id: UUID) -> list[Membership]:
        """The athlete's groups, each with its invite code (a member may share it) and its
        number of members; the earliest joined first."""
        async with self._store.unit_of_work(read_only=True) as uow:
            return await uow.groups.memberships_of(user_id)

    async def join_group(self, group_id: UUID, user_id: UUID, invite_code: str) -> Group:
        async with self._store.unit_of_work() as uow:
            group = await uow.groups.get(group_id)
            if group is None:
                raise NotFound("no such group")
            # Constant-time: the code is the only thing that keeps a group private. As
            # bytes: compare_digest refuses text that is not ASCII, and a guess may be
            # anything.
            if not secrets.compare_digest(group.invite_code.encode(), invite_code.encode()):
                raise Forbidden("that invite code does not open this group")
            joined = await uow.groups.add_member(group_id, user_id, self._clock.now())
            await uow.commit()
        if joined:
            await self._projection.reproject_user(user_id)
        return group

    async def leave_group(self, group_id: UUID, user_id: UUID) -> None:
        async with self._store.unit_of_work() as uow:
            if await uow.groups.get(group_id) is None:
                raise NotFound("no such group")
            left = await uow.groups.remove_member(group_id, user_id)
            await uow.commit()
        if not left:
            raise NotFound("you are not a member of this group")
        await self._projection.reproject_user(user_id, left_groups=[group_id])
