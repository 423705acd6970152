"""What only admins may do, and the check that they are one.

Admins are made with `fitboard users promote USERNAME` and nowhere else: there is no
default admin and no default password."""

from __future__ import annotations

from uuid import UUID

from fitboard.application.accounts.ports import AccountsUnit
from fitboard.application.ports import Store
from fitboard.domain.errors import Forbidden


async def require_admin(user_id: UUID, *, store: Store[AccountsUnit]) -> None:
    async with store.unit_of_work(read_only=True) as uow:
        user = await uow.users.get(user_id)
    if user is None or not user.is_admin:
        raise Forbidden(
            "only admins may do this (an operator makes one with `fitboard users promote`)"
        )
