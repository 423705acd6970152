"""Registering, signing in and the profile, through the HTTP API."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.e2e.conftest import TEST_SECRET, Api


async def test_register_returns_the_user_and_a_working_token(api: Api) -> None:
    token, user = await api.register(
        "ada",
        display_name="Ada L.",
        weight_kg=61.5,
        birth_year=1990,
        sex="female",
        timezone="Europe/London",
    )
    assert user["username"] == "ada"
    assert user["display_name"] == "Ada L."
    me = await api.client.get("/v1/me", headers=api.auth(token))
    assert me.status_code == 200
    assert me.json()["weight_kg"] == 61.5
    assert me.json()["timezone"] == "Europe/London"
    assert me.json()["show_on_leaderboards"] is True


async def test_a_taken_username_is_409_whatever_its_case(api: Api) -> None:
    await api.register("grace")
    response = await api.client.post(
        "/v1/auth/register", json={"username": "GRACE", "password": "another fine passphrase"}
    )
    assert response.status_code == 409
    assert "taken" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "bob", "password": "short"}, "password"),
        ({"username": "bob", "password": "password123"}, "password"),
        ({"username": "bob", "password": "bob-is-my-password"}, "password"),
        ({"username": "b", "password": "correct horse battery"}, "username"),
        (
            {"username": "bob", "password": "correct horse battery", "timezone": "Mars/Base"},
            "timezone",
        ),
        ({"username": "bob", "password": "correct horse battery", "weight_kg": 5}, "weight_kg"),
        ({"username": "bob", "password": "correct horse battery", "admin": True}, "admin"),
    ],
)
async def test_bad_registrations_are_422_naming_the_field(
    api: Api, body: dict[str, object], field: str
) -> None:
    response = await api.client.post("/v1/auth/register", json=body)
    assert response.status_code == 422, response.text
    assert any(field in error["loc"] for error in response.json()["detail"])


async def test_token_with_the_password_form(api: Api) -> None:
    await api.register("linus")
    ok = await api.client.post(
        "/v1/auth/token", data={"username": "Linus", "password": "correct horse battery"}
    )
    assert ok.status_code == 200
    assert ok.json()["token_type"] == "bearer"
    assert ok.json()["expires_in"] > 0
    me = await api.client.get("/v1/me", headers=api.auth(ok.json()["access_token"]))
    assert me.json()["username"] == "linus"


@pytest.mark.parametrize(
    ("username", "password"), [("linus", "wrong password!"), ("nobody", "correct horse battery")]
)
async def test_wrong_credentials_are_401(api: Api, username: str, password: str) -> None:
    await api.register("linus")
    response = await api.client.post(
        "/v1/auth/token", data={"username": username, "password": password}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_calls_without_a_valid_token_are_401(api: Api) -> None:
    _token, user = await api.register("eve")
    forged = jwt.encode(
        {
            "sub": user["id"],
            "iss": "fitboard",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        },
        "not-the-server-secret-at-all-no-never",
        "HS256",
    )
    expired = jwt.encode(
        {
            "sub": user["id"],
            "iss": "fitboard",
            "iat": int(time.time()) - 7200,
            "exp": int(time.time()) - 3600,
        },
        TEST_SECRET,
        "HS256",
    )
    for headers in ({}, {"Authorization": "Bearer nonsense"}, api.auth(forged), api.auth(expired)):
        for path in ("/v1/me", "/v1/workouts", "/v1/leaderboards/calories/week"):
            response = await api.client.get(path, headers=headers)
            assert response.status_code == 401, (path, headers)
    assert "expired" in (await api.client.get("/v1/me", headers=api.auth(expired))).text


async def test_profile_update(api: Api) -> None:
    token, _ = await api.register("mary")
    response = await api.client.patch(
        "/v1/me",
        json={"weight_kg": 58, "timezone": "Asia/Tokyo", "display_name": "Mary K"},
        headers=api.auth(token),
    )
    assert response.status_code == 200
    assert response.json()["weight_kg"] == 58
    assert response.json()["display_name"] == "Mary K"
    bad = await api.client.patch(
        "/v1/me", json={"timezone": "Nowhere/Land"}, headers=api.auth(token)
    )
    assert bad.status_code == 422
    unknown = await api.client.patch("/v1/me", json={"is_admin": True}, headers=api.auth(token))
    assert unknown.status_code == 422
