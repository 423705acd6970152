"""What groups and challenges need: memberships, challenges, and athletes' names."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from fitboard.application.accounts.ports import UserRepository
from fitboard.application.ports import Transaction
from fitboard.domain.boards import (
    Standing,
)
from fitboard.domain.challenges import Challenge
from fitboard.domain.groups import Group, Membership


class GroupRepository(Protocol):
    async def add(self, group: Group) -> None:
        """Insert the group and make its owner a member."""
        ...

    async def get(self, group_id: UUID) -> Group | None: ...

    async def add_member(self, group_id: UUID, user_id: UUID, joined_at: datetime) -> bool:
        """False if the user was already a member."""
        ...

    async def remove_member(self, group_id: UUID, user_id: UUID) -> bool:
        """False if the user was not a member."""
        ...

    async def is_member(self, group_id: UUID, user_id: UUID) -> bool: ...

    async def group_ids_of(self, user_id: UUID) -> list[UUID]: ...

    async def group_ids_of_many(self, user_ids: Sequence[UUID]) -> dict[UUID, list[UUID]]:
        """`group_ids_of` every one of `user_ids` (each a key, with [] for no group), in
        one round trip."""
        ...

    async def memberships_of(self, user_id: UUID) -> list[Membership]:
        """Every group the user is a member of (owned ones too), the earliest joined first."""
        ...


class ChallengeRepository(Protocol):
    async def add(self, challenge: Challenge) -> None: ...

    async def get(self, challenge_id: UUID) -> Challenge | None: ...

    async def overlapping(self, since: datetime, until: datetime) -> list[Challenge]:
        """Every challenge whose window overlaps [since, until), whoever may see it."""
        ...

    async def visible_to(self, user_id: UUID, limit: int) -> list[Challenge]:
        """Global and activity challenges, and those of the user's groups, newest first."""
        ...

    async def standings(self, challenge: Challenge) -> list[Standing]:
        """Every visible athlete's score over the challenge's window (workouts that started
        in it); reached_at is the start of their last counted workout in the window."""
        ...


class GroupsUnit(Transaction, Protocol):
    """Creating, listing, joining and leaving groups."""

    @property
    def groups(self) -> GroupRepository: ...


class ChallengesUnit(GroupsUnit, Protocol):
    """Creating, listing and ranking challenges (a group challenge is for its members)."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def challenges(self) -> ChallengeRepository: ...
