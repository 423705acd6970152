"""Challenges: seasons and events over any window, ranked from the record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fitboard.application.boards.reading import MAX_PAGE, NamedEntry, decode_cursor, encode_cursor
from fitboard.application.groups.ports import ChallengesUnit
from fitboard.application.ids import new_id
from fitboard.application.ports import Clock, Store
from fitboard.domain.boards import Metric, Scope
from fitboard.domain.challenges import Challenge, check_window
from fitboard.domain.errors import Forbidden, InvalidField, NotFound
from fitboard.domain.ranking import ranked


@dataclass(frozen=True)
class ChallengeBoard:
    challenge: Challenge
    total: int
    entries: list[NamedEntry]
    next_cursor: str | None


class Challenges:
    """Seasons and events over any window, ranked from the record."""

    def __init__(self, store: Store[ChallengesUnit], clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create_challenge(
        self,
        *,
        creator: UUID,
        name: str,
        metric: Metric,
        starts_at: datetime,
        ends_at: datetime,
        scope: Scope,
        goal: int | None,
    ) -> Challenge:
        """Admins create any challenge; a group's owner creates challenges for that group."""
        check_window(starts_at, ends_at)
        if goal is not None and goal <= 0:
            raise InvalidField("goal", "must be more than 0")
        async with self._store.unit_of_work() as uow:
            user = await uow.users.get(creator)
            if user is None:
                raise NotFound("no such user")
            group_id = scope.group_id
            if group_id is not None:
                group = await uow.groups.get(group_id)
                if group is None:
                    raise NotFound("no such group")
                if group.owner_id != creator and not user.is_admin:
                    raise Forbidden("only the group's owner or an admin can create its challenges")
            elif not user.is_admin:
                raise Forbidden("only admins create challenges outside a group")
            challenge = Challenge(
                id=new_id(),
                name=name.strip(),
                metric=metric,
                scope=scope,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=creator,
                created_at=self._clock.now(),
                goal=goal,
            )
            await uow.challenges.add(challenge)
            await uow.commit()
        return challenge

    async def list_challenges(self, viewer: UUID, *, limit: int = 50) -> list[Challenge]:
        async with self._store.unit_of_work(read_only=True) as uow:
            return await uow.challenges.visible_to(viewer, limit)

    async def check_access(self, challenge_id: UUID, viewer: UUID) -> Challenge:
        """The challenge, if `viewer` may see its board (NotFound otherwise): the rule of
        `challenge_board`, for a live subscription."""
        async with self._store.unit_of_work(read_only=True) as uow:
            return await _visible(uow, challenge_id, viewer)

    async def overlapping(self, since: datetime, until: datetime) -> list[Challenge]:
        """The challenges whose window overlaps [since, until)."""
        async with self._store.unit_of_work(read_only=True) as uow:
            return await uow.challenges.overlapping(since, until)

    async def top(self, challenge_id: UUID, limit: int) -> list[NamedEntry]:
        """The first `limit` entries of a challenge's board, for whoever was let in by
        `check_access` (a live snapshot to the challenge's room)."""
        async with self._store.unit_of_work(read_only=True) as uow:
            challenge = await uow.challenges.get(challenge_id)
            if challenge is None:
                raise NotFound("no such challenge")
            board = ranked(await uow.challenges.standings(challenge))[:limit]
            names = await uow.users.display_names([s.user_id for _, s in board])
        return [NamedEntry(r, s.user_id, names.get(s.user_id, "?"), s.score) for r, s in board]

    async def challenge_board(
        self, challenge_id: UUID, *, viewer: UUID, cursor: str | None, limit: int
    ) -> ChallengeBoard:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidField("limit", f"must be between 1 and {MAX_PAGE}")
        offset = decode_cursor(cursor)
        async with self._store.unit_of_work(read_only=True) as uow:
            challenge = await _visible(uow, challenge_id, viewer)
            board = ranked(await uow.challenges.standings(challenge))
            window = board[offset : offset + limit]
            names = await uow.users.display_names([s.user_id for _, s in window])
        entries = [NamedEntry(r, s.user_id, names.get(s.user_id, "?"), s.score) for r, s in window]
        following = offset + len(entries)
        return ChallengeBoard(
            challenge=challenge,
            total=len(board),
            entries=entries,
            next_cursor=encode_cursor(following) if following < len(board) else None,
        )


async def _visible(uow: ChallengesUnit, challenge_id: UUID, viewer: UUID) -> Challenge:
    challenge = await uow.challenges.get(challenge_id)
    if challenge is None:
        raise NotFound("no such challenge")
    group_id = challenge.scope.group_id
    if group_id is not None and not await uow.groups.is_member(group_id, viewer):
        raise NotFound("no such challenge")  # a group's challenges are its own business
    return challenge
