"""Dependencies shared by the routers: the services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from fitboard.application.accounts.ports import AccessToken
from fitboard.bootstrap import Services
from fitboard.domain.errors import AuthenticationFailed
from fitboard.entrypoints.api.athletes import KnownAthletes
from fitboard.entrypoints.api.verified_tokens import VerifiedTokens

# The name the OpenAPI document has always given the scheme (HTTPBearer's class name).
SCHEME_NAME = "HTTPBearer"
_DESCRIPTION = "The access token from /v1/auth/token"


# Both are `async def` though they never await: FastAPI runs a plain `def` dependency in
# its thread pool, a thread hop on every request for what takes microseconds.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_known_athletes(request: Request) -> KnownAthletes:
    athletes: KnownAthletes = request.app.state.athletes
    return athletes


KnownAthletesDep = Annotated[KnownAthletes, Depends(get_known_athletes)]


def bearer_token(request: Request) -> str:
    """The token of `Authorization: Bearer <token>`, parsed as FastAPI's HTTPBearer does
    (the scheme case-insensitive, the token stripped); AuthenticationFailed without one."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if token and scheme.lower() == "bearer":
            return token
    raise AuthenticationFailed("send Authorization: Bearer <token> (from /v1/auth/token)")


async def authenticate(request: Request) -> AccessToken:
    """The caller's access token: validly signed, unexpired, of an athlete that exists,
    and of their current token generation; AuthenticationFailed otherwise."""
    # From the app's state directly rather than through ServicesDep and KnownAthletesDep:
    # each dependency FastAPI resolves costs more than reading them does, on every request.
    state = request.app.state
    services: Services = state.services
    athletes: KnownAthletes = state.athletes
    tokens: VerifiedTokens = state.verified_tokens
    access = tokens.verify(bearer_token(request), services.tokens)
    # A signature proves who issued the token, not that its athlete exists, nor that the
    # token was not revoked since.
    await athletes.require(access, services.sessions)
    return access


class _Bearer(SecurityBase):
    """One dependency that both declares the bearer scheme in the OpenAPI document (FastAPI
    documents a dependency that is a SecurityBase) and authenticates the caller. Not
    FastAPI's HTTPBearer as a sub-dependency of ours: that was a second dependency to
    resolve, and a credentials model to build, on every authenticated request."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(description=_DESCRIPTION)
        self.scheme_name = SCHEME_NAME


class _BearerAccess(_Bearer):
    async def __call__(self, request: Request) -> AccessToken:
        return await authenticate(request)


class _BearerUserId(_Bearer):
    async def __call__(self, request: Request) -> UUID:
        return (await authenticate(request)).user_id


CurrentAccess = Annotated[AccessToken, Depends(_BearerAccess())]
# Not through CurrentAccess: one level of dependency less on every authenticated request.
CurrentUserId = Annotated[UUID, Depends(_BearerUserId())]


async def get_admin_user_id(user_id: CurrentUserId, services: ServicesDep) -> UUID:
    await services.admins.require_admin(user_id)
    return user_id


AdminUserId = Annotated[UUID, Depends(get_admin_user_id)]
