"""Groups: private boards for a club, a team, a group of friends."""

from __future__ import annotations

import secrets
import uuid
from uuid import UUID

from fitboard.application.ports import Clock, Group, RankingIndex, Store
from fitboard.application.projection import reproject_user
from fitboard.domain.errors import Forbidden, InvalidField, NotFound
from fitboard.domain.evaluation import Rules


async def create_group(
    owner: UUID, name: str, *, store: Store, ranking: RankingIndex, rules: Rules, clock: Clock
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
    await reproject_user(owner, store=store, ranking=ranking, rules=rules)
    return group


async def join_group(
    group_id: UUID,
    user_id: UUID,
    invite_code: str,
    *,
    store: Store,
    ranking: RankingIndex,
    rules: Rules,
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
        await reproject_user(user_id, store=store, ranking=ranking, rules=rules)
    return group


async def leave_group(
    group_id: UUID, user_id: UUID, *, store: Store, ranking: RankingIndex, rules: Rules
) -> None:
    async with store.unit_of_work() as uow:
        if await uow.groups.get(group_id) is None:
            raise NotFound("no such group")
        left = await uow.groups.remove_member(group_id, user_id)
        await uow.commit()
    if not left:
        raise NotFound("you are not a member of this group")
    await reproject_user(user_id, store=store, ranking=ranking, rules=rules, left_groups=[group_id])
