"""Dependencies shared by the routers: the services and the authenticated caller."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fitboard.application.accounts.ports import AccessToken
from fitboard.bootstrap import Services
from fitboard.domain.errors import AuthenticationFailed
from fitboard.entrypoints.api.athletes import KnownAthletes

_bearer = HTTPBearer(auto_error=False, description="The access token from /v1/auth/token")


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


async def get_current_access(
    services: ServicesDep,
    athletes: KnownAthletesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessToken:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed("send Authorization: Bearer <token> (from /v1/auth/token)")
    access = services.tokens.verify(credentials.credentials)
    # A signature proves who issued the token, not that its athlete exists, nor that the
    # token was not revoked since.
    await athletes.require(access, services.sessions)
    return access


CurrentAccess = Annotated[AccessToken, Depends(get_current_access)]


async def get_current_user_id(access: CurrentAccess) -> UUID:
    return access.user_id


CurrentUserId = Annotated[UUID, Depends(get_current_user_id)]


async def get_admin_user_id(user_id: CurrentUserId, services: ServicesDep) -> UUID:
    await services.admins.require_admin(user_id)
    return user_id


AdminUserId = Annotated[UUID, Depends(get_admin_user_id)]
