"""What accounts need: athletes' rows, password hashing and access tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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

    async def lock_and_bump_version(self, user_id: UUID) -> User | None:
        """`lock` that also increases the user's projection version by one, in one
        statement: hold the user's row lock until the unit of work ends. The user
        comes back with the new version; None, and nothing written, for an unknown user."""
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
    """What a verified access token vouches for: who, and until when (Unix seconds)."""

    user_id: UUID
    expires_at: float


class TokenService(Protocol):
    def issue(self, user_id: UUID) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        ...

    def verify(self, token: str) -> AccessToken:
        """The token's athlete and expiry, or AuthenticationFailed for a missing, expired
        or forged token."""
        ...


class AccountsUnit(Transaction, Protocol):
    """A transaction over athletes' accounts."""

    @property
    def users(self) -> UserRepository: ...
