"""Registering, signing in, and the session: renewing the token, changing the password,
signing out (docs/accounts.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from fitboard.application.accounts.athletes import MAX_USERNAME_LENGTH
from fitboard.domain.passwords import MAX_PASSWORD_LENGTH
from fitboard.domain.text import check_text
from fitboard.entrypoints.api import examples
from fitboard.entrypoints.api.deps import CurrentAccess, KnownAthletesDep, ServicesDep
from fitboard.entrypoints.api.errors import refusal, responses
from fitboard.entrypoints.api.live import disconnect_athlete
from fitboard.entrypoints.api.rate_limits import client_address
from fitboard.entrypoints.api.schemas import PasswordChangeIn, RegisteredOut, RegisterIn, TokenOut
from fitboard.entrypoints.api.views import user_out

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=201,
    summary="Register an athlete",
    responses=responses(409, 413, 429, 503),
    operation_id="register",
)
async def register(
    body: RegisterIn, request: Request, services: ServicesDep, athletes: KnownAthletesDep
) -> RegisteredOut:
    """Create an athlete and sign them in: the answer holds the profile and a token.
    409 when the username is taken (case-insensitively); sign-ups are limited per client
    address (429)."""
    await services.rate_limits.charge_sign_up(client_address(request))
    user = await services.athletes.register(
        username=body.username,
        password=body.password,
        display_name=body.display_name,
        weight_kg=body.weight_kg,
        birth_year=body.birth_year,
        sex=body.sex,
        timezone=body.timezone,
    )
    athletes.remember(user.id, user.token_generation)
    issued = services.sessions.issue(user)
    return RegisteredOut(
        user=user_out(user), access_token=issued.access_token, expires_in=issued.expires_in
    )


@router.post(
    "/token",
    summary="Sign in",
    responses={
        **responses(400, 413, 429, 503),
        401: refusal(401, "Wrong username or password", "wrong username or password"),
    },
    operation_id="issue_token",
    openapi_extra={
        "requestBody": {
            "content": {"application/x-www-form-urlencoded": {"example": examples.TOKEN_FORM}}
        }
    },
)
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    services: ServicesDep,
    athletes: KnownAthletesDep,
) -> TokenOut:
    """A token for a username and password, sent as a form (OAuth2's password flow).
    401 for a wrong username or password; attempts are limited per client address and
    per username (429), wrong or right."""
    # Registration never accepted anything longer, nor text the record cannot hold.
    check_text("username", form.username, max_chars=MAX_USERNAME_LENGTH)
    check_text("password", form.password, max_chars=MAX_PASSWORD_LENGTH)
    # Charged before the password is checked: a wrong guess costs as much as a right one.
    await services.rate_limits.charge_sign_in(client_address(request), form.username)
    user = await services.athletes.authenticate(form.username, form.password)
    athletes.remember(user.id, user.token_generation)
    issued = services.sessions.issue(user)
    return TokenOut(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post(
    "/refresh", summary="Renew a token", responses=responses(401, 503), operation_id="refresh_token"
)
async def refresh_token(access: CurrentAccess, services: ServicesDep) -> TokenOut:
    """A new token for the session of a valid one (same athlete, a new expiry). Renew
    before the token expires: an expired or revoked token cannot be renewed."""
    issued = services.sessions.renew(access)
    return TokenOut(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post(
    "/password",
    summary="Change the password",
    responses=responses(401, 403, 413, 429, 503),
    operation_id="change_password",
)
async def change_password(
    body: PasswordChangeIn, access: CurrentAccess, request: Request, services: ServicesDep
) -> TokenOut:
    """Change the password: every token issued before, this one included, is refused from
    then on, and live connections opened with them are closed. Answers a token of the new
    session. A wrong `current_password` is 403 (the token itself is fine)."""
    user = await services.athletes.get_user(access.user_id)
    # A stolen token must not make guessing the password cheaper than signing in.
    await services.rate_limits.charge_sign_in(client_address(request), user.username)
    issued = await services.sessions.change_password(
        access.user_id, body.current_password, body.new_password
    )
    await disconnect_athlete(request.app.state.container.gateway, access.user_id)
    return TokenOut(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post(
    "/logout",
    status_code=204,
    summary="Sign out everywhere",
    responses=responses(401, 503),
    operation_id="logout",
)
async def logout(access: CurrentAccess, request: Request, services: ServicesDep) -> Response:
    """Sign out everywhere: every token of the athlete is refused from then on, and live
    connections opened with them are closed."""
    await services.sessions.sign_out(access.user_id)
    await disconnect_athlete(request.app.state.container.gateway, access.user_id)
    return Response(status_code=204)
