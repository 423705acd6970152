from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from fitboard.application.accounts.athletes import MAX_USERNAME_LENGTH
from fitboard.domain.passwords import MAX_PASSWORD_LENGTH
from fitboard.domain.text import check_text
from fitboard.entrypoints.api.deps import KnownAthletesDep, ServicesDep
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.rate_limits import client_address
from fitboard.entrypoints.api.schemas import RegisteredOut, RegisterIn, TokenOut
from fitboard.entrypoints.api.views import user_out

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/register", status_code=201, responses=responses(409, 413, 429, 503), operation_id="register"
)
async def register(
    body: RegisterIn, request: Request, services: ServicesDep, athletes: KnownAthletesDep
) -> RegisteredOut:
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
    athletes.remember(user.id)
    token, ttl = services.tokens.issue(user.id)
    return RegisteredOut(user=user_out(user), access_token=token, expires_in=ttl)


@router.post("/token", responses=responses(401, 413, 429, 503), operation_id="issue_token")
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    services: ServicesDep,
    athletes: KnownAthletesDep,
) -> TokenOut:
    # Registration never accepted anything longer, nor text the record cannot hold.
    check_text("username", form.username, max_chars=MAX_USERNAME_LENGTH)
    check_text("password", form.password, max_chars=MAX_PASSWORD_LENGTH)
    # Charged before the password is checked: a wrong guess costs as much as a right one.
    await services.rate_limits.charge_sign_in(client_address(request), form.username)
    user = await services.athletes.authenticate(form.username, form.password)
    athletes.remember(user.id)
    token, ttl = services.tokens.issue(user.id)
    return TokenOut(access_token=token, expires_in=ttl)
