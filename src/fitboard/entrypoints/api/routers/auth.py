from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from fitboard.application.accounts import athletes as accounts
from fitboard.domain.passwords import MAX_PASSWORD_LENGTH
from fitboard.domain.text import check_text
from fitboard.entrypoints.api.deps import ContainerDep, KnownAthletesDep
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.rate_limits import charge_sign_in, charge_sign_up
from fitboard.entrypoints.api.schemas import RegisteredOut, RegisterIn, TokenOut
from fitboard.entrypoints.api.views import user_out

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/register", status_code=201, responses=responses(409, 413, 429, 503), operation_id="register"
)
async def register(
    body: RegisterIn, request: Request, container: ContainerDep, athletes: KnownAthletesDep
) -> RegisteredOut:
    await charge_sign_up(request, container)
    user = await accounts.register(
        username=body.username,
        password=body.password,
        display_name=body.display_name,
        weight_kg=body.weight_kg,
        birth_year=body.birth_year,
        sex=body.sex,
        timezone=body.timezone,
        store=container.store,
        hasher=container.passwords,
        clock=container.clock,
    )
    athletes.remember(user.id)
    token, ttl = container.tokens.issue(user.id)
    return RegisteredOut(user=user_out(user), access_token=token, expires_in=ttl)


@router.post("/token", responses=responses(401, 413, 429, 503), operation_id="issue_token")
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    container: ContainerDep,
    athletes: KnownAthletesDep,
) -> TokenOut:
    # Registration never accepted anything longer, nor text the record cannot hold.
    check_text("username", form.username, max_chars=accounts.MAX_USERNAME_LENGTH)
    check_text("password", form.password, max_chars=MAX_PASSWORD_LENGTH)
    # Charged before the password is checked: a wrong guess costs as much as a right one.
    await charge_sign_in(request, container, form.username)
    user = await accounts.authenticate(
        form.username, form.password, store=container.store, hasher=container.passwords
    )
    athletes.remember(user.id)
    token, ttl = container.tokens.issue(user.id)
    return TokenOut(access_token=token, expires_in=ttl)
