"""Admins: the check that a caller is one, and making one.

Admins are made with `fitboard users promote USERNAME` and nowhere else: there is no
default admin and no default password."""

from __future__ import annotations

from uuid import UUID

from fitboard.application.accounts.ports import AccountsUnit
from fitboard.application.ports import Store
from fitboard.domain.errors import Forbidden


class Admins:
    """Who is an admin: the check, and an operator's grant or revocation."""

    def __init__(self, store: Store[AccountsUnit]) -> None:
        self._store = store

    async def require_admin(self, user_id: UUID) -> None:
        async with self._store.unit_of_work(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is None or not user.is_admin:
            raise Forbidden(
                "only admins may do this (an operator makes one with `fitboard users promote`)"
            )

    async def promote(self, username: str, *, revoke: bool = False) -> bool:
        """Make the athlete an admin (or take it back); False if there is no such athlete."""
        async with self._store.unit_of_work() as uow:
            user = await uow.users.get_by_username(username)
            if user is None:
                return False
            user.is_admin = not revoke
            await uow.users.update_profile(user)
            await uow.commit()
        return True
