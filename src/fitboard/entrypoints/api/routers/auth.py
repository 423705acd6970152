from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from fitboard.application import accounts
from fitboard.entrypoints.api.deps import ContainerDep
from fitboard.entrypoints.api.schemas import RegisteredOut, RegisterIn, TokenOut
from fitboard.entrypoints.api.views import user_out

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/register", status_code=201, operation_id="register")
async def register(body: RegisterIn, container: ContainerDep) -> RegisteredOut:
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
    token, ttl = container.tokens.issue(user.id)
    return RegisteredOut(user=user_out(user), access_token=token, expires_in=ttl)


@router.post("/token", operation_id="issue_token")
async def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], container: ContainerDep
) -> TokenOut:
    user = await accounts.authenticate(
        form.username, form.password, store=container.store, hasher=container.passwords
    )
    token, ttl = container.tokens.issue(user.id)
    return TokenOut(access_token=token, expires_in=ttl)
