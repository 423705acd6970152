"""Sessions: access tokens issued, renewed and revoked, and changing the password.

An access token is a signed JWT that names its athlete's token generation
(`User.token_generation`). Signing out, changing the password and deleting the account
raise the generation in the record, and a token of an older generation is refused from
then on: the API reads the generation when it checks a token and keeps what it read
(entrypoints/api/athletes.py); every change is told after its commit (`GenerationChanges`)
so that every API process forgets the athlete's at once. docs/accounts.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

from fitboard.application.accounts.ports import (
    AccessToken,
    AccountsUnit,
    GenerationChanges,
    KeptGenerations,
    PasswordHasher,
    TokenService,
)
from fitboard.application.ports import Store
from fitboard.domain.errors import AuthenticationFailed, Forbidden, InvalidField
from fitboard.domain.passwords import check_password
from fitboard.domain.users import User


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


class LocalGenerationChanges:
    """`GenerationChanges` where the process is the only one that keeps generations
    (embedded mode): a change is told to this process's listeners, which hear every one."""

    def __init__(self) -> None:
        self._kept: list[KeptGenerations] = []

    async def changed(self, user_id: UUID) -> None:
        for kept in self._kept:
            kept.forget(user_id)

    def listen(self, kept: KeptGenerations) -> None:
        self._kept.append(kept)
        # Nothing can change elsewhere: every change is heard, for as long as it runs.
        kept.heard(float("inf"))


class Sessions:
    """Issuing, renewing and revoking an athlete's access tokens; changing the password."""

    def __init__(
        self,
        store: Store[AccountsUnit],
        hasher: PasswordHasher,
        tokens: TokenService,
        generation_changes: GenerationChanges,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._tokens = tokens
        self._generation_changes = generation_changes

    def issue(self, user: User) -> IssuedToken:
        """A token of the athlete's current generation (after registering or signing in)."""
        return IssuedToken(*self._tokens.issue(user.id, user.token_generation))

    async def generation(self, user_id: UUID) -> int:
        """The athlete's current token generation; AuthenticationFailed when the athlete
        does not exist (a token from another deployment, or of a deleted account)."""
        async with self._store.unit_of_work(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise AuthenticationFailed(
                "the token's athlete does not exist here; register or sign in again"
            )
        return user.token_generation

    def renew(self, access: AccessToken) -> IssuedToken:
        """A fresh token for a session whose token is still valid (checked by the caller,
        generation included): same athlete, same generation, a new expiry."""
        return IssuedToken(*self._tokens.issue(access.user_id, access.generation))

    async def sign_out(self, user_id: UUID) -> None:
        """Revoke every token of the athlete, on every device."""
        async with self._store.unit_of_work() as uow:
            await uow.users.revoke_tokens(user_id)
            await uow.commit()
        await self._generation_changes.changed(user_id)

    async def change_password(
        self, user_id: UUID, current_password: str, new_password: str
    ) -> IssuedToken:
        """Check the current password, set the new one (same policy as at registration),
        revoke every token issued before, and return a token of the new generation.

        A wrong current password is Forbidden (403), not AuthenticationFailed: the token
        is fine, and a client that signs out on 401 must not for a typo."""
        async with self._store.unit_of_work(read_only=True) as uow:
            user = await uow.users.get(user_id)
        if user is None:
            raise AuthenticationFailed("the token's athlete does not exist here")
        # Argon2 is slow on purpose: no transaction stays open while it runs.
        if not await asyncio.to_thread(self._hasher.verify, user.password_hash, current_password):
            raise Forbidden("current_password is not your password")
        try:
            check_password(new_password, user.username)
        except InvalidField as exc:
            raise InvalidField("new_password", exc.message) from None
        new_hash = await asyncio.to_thread(self._hasher.hash, new_password)
        async with self._store.unit_of_work() as uow:
            current = await uow.users.lock(user_id)
            if current is None:
                raise AuthenticationFailed("the token's athlete does not exist here")
            if current.password_hash != user.password_hash:
                # Another change won the race: this one proved a password that is gone.
                raise Forbidden("the password was changed meanwhile; sign in again")
            current.password_hash = new_hash
            await uow.users.update_profile(current)
            generation = await uow.users.revoke_tokens(user_id)
            await uow.commit()
        await self._generation_changes.changed(user_id)
        assert generation is not None  # the row is locked: it cannot have gone
        return IssuedToken(*self._tokens.issue(user_id, generation))
