"""Registering athletes, signing them in, and their profiles."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, replace
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fitboard.application.accounts.ports import AccountsUnit, PasswordHasher, UsernameTaken
from fitboard.application.boards.ports import BoardsUnit, NameChanges
from fitboard.application.boards.projection import Projection
from fitboard.application.ids import new_id
from fitboard.application.ports import Clock, Store
from fitboard.domain.activities import Sex
from fitboard.domain.errors import AuthenticationFailed, Conflict, InvalidField, NotFound
from fitboard.domain.passwords import check_password
from fitboard.domain.text import check_display_name
from fitboard.domain.users import User

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$")
MAX_USERNAME_LENGTH = 32


@dataclass(frozen=True)
class ProfileChanges:
    """Fields an athlete may change; None leaves a field as it is."""

    display_name: str | None = None
    weight_kg: float | None = None
    birth_year: int | None = None
    sex: Sex | None = None
    timezone: str | None = None
    show_on_leaderboards: bool | None = None


def _display_name(given: str | None) -> str | None:
    """The name to show, or None when only blanks were given."""
    if given is None:
        return None
    check_display_name(given)
    return given.strip() or None


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidField(
            "timezone", f"{value!r} is not an IANA time zone such as Europe/Berlin"
        ) from None
    return value


# Verifying against a real hash when the user does not exist keeps the answer's timing
# from telling which usernames are registered.
_dummy_hashes: dict[int, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    return _dummy_hashes.setdefault(id(hasher), hasher.hash("fitboard-timing-equaliser"))


class ProfileUnit(AccountsUnit, BoardsUnit, Protocol):
    """A change of leaderboard visibility re-projects the athlete's boards."""


class Athletes:
    """Registering athletes, signing them in, and their profiles."""

    def __init__(
        self,
        store: Store[ProfileUnit],
        hasher: PasswordHasher,
        projection: Projection,
        clock: Clock,
        name_changes: NameChanges,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._projection = projection
        self._clock = clock
        self._name_changes = name_changes

    async def register(
        self,
        *,
        username: str,
        password: str,
        display_name: str | None,
        weight_kg: float | None,
        birth_year: int | None,
        sex: Sex | None,
        timezone: str | None,
    ) -> User:
        # fullmatch: `$` alone would let a trailing newline through.
        if not USERNAME.fullmatch(username):
            raise InvalidField(
                "username",
                "must be 3-32 characters of letters, digits, '_', '.' or '-', starting with a "
                "letter or digit",
            )
        check_password(password, username)
        user = User(
            id=new_id(),
            username=username,
            display_name=_display_name(display_name) or username,
            # Argon2 is slow on purpose; hashing in a thread keeps other requests moving.
            password_hash=await asyncio.to_thread(self._hasher.hash, password),
            created_at=self._clock.now(),
            timezone=check_timezone(timezone) if timezone else "UTC",
            weight_kg=weight_kg,
            birth_year=birth_year,
            sex=sex,
        )
        async with self._store.unit_of_work() as uow:
            try:
                await uow.users.add(user)
            except UsernameTaken:
                raise Conflict(f"the username {username!r} is taken") from None
            await uow.commit()
        return user

    async def authenticate(self, username: str, password: str) -> User:
        # Argon2 is slow on purpose, so no transaction stays open while it runs: a write
        # transaction held across it would keep every other writer waiting (on SQLite, the
        # whole database), and even a read would keep a pooled connection from others.
        async with self._store.unit_of_work(read_only=True) as uow:
            user = await uow.users.get_by_username(username)
        if user is None:
            await asyncio.to_thread(self._hasher.verify, _dummy_hash(self._hasher), password)
            raise AuthenticationFailed("wrong username or password")
        if not await asyncio.to_thread(self._hasher.verify, user.password_hash, password):
            raise AuthenticationFailed("wrong username or password")
        if self._hasher.needs_rehash(user.password_hash):
            rehashed = await asyncio.to_thread(self._hasher.hash, password)
            async with self._store.unit_of_work() as uow:
                # Read again under the lock: the profile may have changed since.
                current = await uow.users.lock(user.id)
                if current is not None and current.password_hash == user.password_hash:
                    current.password_hash = rehashed
                    await uow.users.update_profile(current)
                    await uow.commit()
                    user = current
        return user

    async def get_user(self, user_id: uuid.UUID) -> User:
        async with self._store.unit_of_work(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise NotFound("no such user")
        return user

    async def update_profile(self, user_id: uuid.UUID, changes: ProfileChanges) -> User:
        """Change a profile. Past workouts keep the calories they were given; switching
        leaderboard visibility re-projects every board the athlete has a score on; a
        display name given is told to every process that keeps names (even when it is
        the same: a client trying again after a 503 tells it again)."""
        if changes.timezone is not None:
            check_timezone(changes.timezone)
        async with self._store.unit_of_work() as uow:
            user = await uow.users.lock(user_id)
            if user is None:
                raise NotFound("no such user")
            updated = replace(
                user,
                **{k: v for k, v in vars(changes).items() if v is not None},
            )
            if changes.display_name is not None:
                updated.display_name = _display_name(changes.display_name) or user.display_name
            await uow.users.update_profile(updated)
            visibility_changed = updated.show_on_leaderboards != user.show_on_leaderboards
            await uow.commit()
        if visibility_changed:
            await self._projection.reproject_user(user_id)
        if changes.display_name is not None:
            await self._name_changes.changed([user_id])
        return updated
