"""What accounts need: athletes' rows, password hashing and access tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from fitboard.application.ports import PortError, Transaction
from fitboard.domain.users import User


class UsernameTaken(PortError):
    """Raised by `UserRepository.add` when the username exists (case-insensitively)."""


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Insert; raises UsernameTaken if the username (case-insensitive) exists."""
        ...

    async def get(self, user_id: UUID) -> User | None: ...

    async def get_by_username(self, username: str) -> User | None:
        """Case-insensitive lookup."""
        ...

    async def update_profile(self, user: User) -> None:
        """Write every profile field of `user` (not its projection_version)."""
        ...

    async def lock(self, user_id: UUID) -> User | None:
        """Read the user and hold a row lock until the unit of work ends.

        This serialises all processing of one athlete's workouts, so totals read inside
        the transaction are never stale when they are projected."""
        ...

    async def lock_many(self, user_ids: Sequence[UUID]) -> set[UUID]:
        """`lock` of every one of `user_ids` in one round trip, their locks taken in the
        order of their ids (so two transactions locking overlapping sets never deadlock);
        the ids of those that exist (the others are left out)."""
        ...

    async def lock_and_bump_version(self, user_id: UUID) -> User | None:
        """`lock` that also increases the user's projection version by one: hold the
        user's row lock until the commit, and the athlete's board-write lock until the
        unit of work ends, after the commit. The user comes back with the new version;
        None, and nothing written, for an unknown user.

        The boards are the writer's to write, in version order, while the unit of work
        lasts: every writer of an athlete's boards bumps the version here, commits, and
        writes the boards before leaving the unit of work, so the next writer's commit,
        and its board writes, come only after them (a loaded Redis board keeps no version
        per member and relies on this order: `RankingIndex.project`). Writing one's own
        boards after leaving the unit of work loses that order."""
        ...

    async def lock_and_bump_versions(self, user_ids: Sequence[UUID]) -> dict[UUID, User]:
        """`lock_and_bump_version` of every one of `user_ids`, in as many round trips as for
        one (two on PostgreSQL: the board-write locks, then the rows), their locks taken
        in one order (so two transactions locking overlapping sets never
        deadlock). The users come back by id with their new versions; unknown
        ids are left out, and nothing is written for them."""
        ...

    async def revoke_tokens(self, user_id: UUID) -> int | None:
        """Raise the user's token generation by one, so that every access token issued
        before is refused; the new generation, or None for an unknown user."""
        ...

    async def display_names(self, user_ids: Sequence[UUID]) -> dict[UUID, str]:
        """One query for all of them; unknown ids are left out."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


@dataclass(frozen=True)
class AccessToken:
    """What a verified access token vouches for: who, until when (Unix seconds), and the
    athlete's token generation it was issued in (`User.token_generation`). Whether that
    generation is still the athlete's is for the caller to check against the record."""

    user_id: UUID
    expires_at: float
    generation: int = 0


class TokenService(Protocol):
    def issue(self, user_id: UUID, generation: int) -> tuple[str, int]:
        """A signed access token of the athlete's `generation`, and its lifetime in
        seconds."""
        ...

    def verify(self, token: str) -> AccessToken:
        """The token's athlete, expiry and generation, or AuthenticationFailed for a
        missing, expired or forged token."""
        ...


class KeptGenerations(Protocol):
    """What an API process keeps of athletes' token generations, so as not to read them
    from the record on every request (entrypoints/api/athletes.py), and how it is told
    whether it may go on trusting them."""

    def forget(self, user_id: UUID) -> None:
        """The athlete's generation changed (or they are gone): read it again."""
        ...

    def heard(self, for_s: float) -> None:
        """Changes are heard: none told before now was missed, and none will be for
        `for_s` seconds unless this is said again (the subscription proved alive)."""
        ...

    def resume(self, for_s: float) -> None:
        """Changes are heard again after a time they may not have been: forget every
        generation kept, then as `heard`."""
        ...

    def deaf(self) -> None:
        """Changes can no longer be heard: trust what was read only briefly."""
        ...


class GenerationChanges(Protocol):
    """How a change of an athlete's token generation (signing out, a new password, the
    account deleted) reaches every process that keeps generations: after the commit, so
    that the revoked tokens are refused everywhere at once."""

    async def changed(self, user_id: UUID) -> None:
        """Tell every process that keeps generations (this one included) to forget the
        athlete's. Never raises: a change that cannot be told is logged, and the other
        processes find it at their next recheck."""
        ...

    def listen(self, kept: KeptGenerations) -> None:
        """Tell `kept`, this process's, of every change from now on, and whether changes
        are heard."""
        ...


class AccountsUnit(Transaction, Protocol):
    """A transaction over athletes' accounts."""

    @property
    def users(self) -> UserRepository: ...


@dataclass(frozen=True)
class OwnedGroup:
    """A group the athlete owns, and who would own it after them: the member who joined
    first of the others (None when the athlete is its only member)."""

    group_id: UUID
    successor: UUID | None


@dataclass(frozen=True)
class Membership:
    group_id: UUID
    name: str
    owned: bool
    joined_at: datetime


@dataclass(frozen=True)
class ReportCopy:
    """A monthly report as the reports consumer stored it (its body is JSON)."""

    month: str
    body: str
    final_rank: int | None


class PersonalDataRepository(Protocol):
    """All of one athlete's data at once, for their export and the deletion of their
    account. The tables of other features are read and erased here for that purpose only."""

    async def owned_groups(self, user_id: UUID) -> list[OwnedGroup]: ...

    async def pass_group(self, group_id: UUID, owner: UUID, successor: UUID) -> None:
        """Make `successor` the group's owner; the group's challenges that `owner` created
        pass with it."""
        ...

    async def delete_group(self, group_id: UUID) -> None:
        """The group, its memberships and its challenges."""
        ...

    async def erase(self, user_id: UUID) -> None:
        """Every row of the athlete: awards, reports, rollups, workouts and the changes
        made to them, memberships, the challenges they created, and the athlete's own row.
        Groups they own must have been passed on or deleted first."""
        ...

    async def memberships(self, user_id: UUID) -> list[Membership]:
        """The groups the athlete is in, in the order they joined."""
        ...

    async def reports(self, user_id: UUID) -> list[ReportCopy]:
        """Every monthly report of the athlete, oldest month first."""
        ...


class PersonalDataUnit(AccountsUnit, Protocol):
    """Exporting an athlete's data, or erasing it."""

    @property
    def personal_data(self) -> PersonalDataRepository: ...
