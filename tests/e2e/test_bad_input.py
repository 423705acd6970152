"""Input an attacker's probing found: each gets a 4xx naming the field (never a 5xx), and
no refused workout is queued. In both modes: PostgreSQL refuses some text SQLite keeps."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from tests.e2e.conftest import TEST_SECRET, Api, run_at

RUN = {"activity": "run", "duration_s": 1800, "distance_m": 5000}


async def _send(
    api: Api, method: str, path: str, text: str, token: str | None = None
) -> httpx.Response:
    """Raw JSON as an attacker sends it: NaN, Infinity and "\\ud800" are spelled out, since
    a well-behaved encoder would refuse to produce them."""
    headers = {"Content-Type": "application/json", **(api.auth(token) if token else {})}
    return await api.client.request(method, path, content=text.encode(), headers=headers)


def _names(response: Any, field: str) -> bool:
    return any(field in error["loc"] for error in response.json()["detail"])


async def _nothing_queued(api: Api, token: str) -> None:
    """A valid workout sent after the refused ones is processed, and it is the athlete's only
    one; nothing was dead-lettered."""
    marker = await api.submit_ok(token, started_at=run_at(1), **RUN)
    await api.wait_processed(token, marker)
    listing = await api.client.get("/v1/workouts", headers=api.auth(token))
    assert [item["id"] for item in listing.json()["items"]] == [marker]
    assert api.app is not None
    container = api.app.state.container
    assert await container.broker.dead_letters(container.workouts_queue) == []


@pytest.fixture
async def athlete(api: Api) -> str:
    token, _ = await api.register("prober")
    return token


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ('"distance_m": NaN', "distance_m"),
        ('"calories": Infinity', "calories"),
        ('"elevation_gain_m": -Infinity', "elevation_gain_m"),
        ('"notes": "a\\u0000b"', "notes"),
        ('"notes": "\\ud800"', "notes"),
        ('"calories": false', "calories"),
        ('"avg_heart_rate": true', "avg_heart_rate"),
        ('"duration_s": 1800.0', "duration_s"),
        ('"started_at": 1700000000', "started_at"),
    ],
)
async def test_a_bad_workout_is_422_naming_the_field_and_never_queued(
    api: Api, athlete: str, fields: str, field: str
) -> None:
    body = f'{{"activity": "run", "started_at": "{run_at()}", "duration_s": 1800, {fields}}}'
    response = await _send(api, "POST", "/v1/workouts", body, athlete)
    assert response.status_code == 422, response.text
    assert _names(response, field), response.text
    # In a batch the bad item is that item's error, named, never a 422 for the batch.
    batch = await _send(api, "POST", "/v1/workouts:batch", f'{{"workouts": [{body}]}}', athlete)
    assert batch.status_code == 207, batch.text
    [item] = batch.json()["results"]
    assert item["status"] == "invalid", batch.text
    assert item["error"].startswith(f"{field}:"), batch.text
    await _nothing_queued(api, athlete)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ('"display_name": "\\ud800"', "display_name"),
        ('"display_name": "Ada\\u0000"', "display_name"),
        ('"weight_kg": NaN', "weight_kg"),
        ('"weight_kg": Infinity', "weight_kg"),
        ('"birth_year": 1990.5', "birth_year"),
        ('"timezone": "Europe/\\u0000Berlin"', "timezone"),
        ('"\\ud800": 1', "body"),  # an unknown field whose very name is not text
    ],
)
async def test_a_bad_profile_is_422_naming_the_field(
    api: Api, athlete: str, fields: str, field: str
) -> None:
    registration = f'{{"username": "newcomer", "password": "correct horse battery", {fields}}}'
    response = await _send(api, "POST", "/v1/auth/register", registration)
    assert response.status_code == 422, response.text
    assert _names(response, field), response.text
    patch = await _send(api, "PATCH", "/v1/me", f"{{{fields}}}", athlete)
    assert patch.status_code == 422, patch.text
    assert _names(patch, field), patch.text
    me = await api.client.get("/v1/me", headers=api.auth(athlete))
    assert me.json()["display_name"] == "prober"


@pytest.mark.parametrize("username", ["pro\x00ber", "prober\n"])
async def test_a_bad_username_is_422_at_registration_and_refused_at_sign_in(
    api: Api, athlete: str, username: str
) -> None:
    registered = await api.client.post(
        "/v1/auth/register", json={"username": username, "password": "correct horse battery"}
    )
    assert registered.status_code == 422, registered.text
    assert _names(registered, "username")
    signed_in = await api.client.post(
        "/v1/auth/token", data={"username": username, "password": "correct horse battery"}
    )
    assert signed_in.status_code in (401, 422), signed_in.text


async def test_a_nul_in_the_sign_in_form_is_422_naming_the_field(api: Api, athlete: str) -> None:
    for form, field in (
        ({"username": "pro\x00ber", "password": "correct horse battery"}, "username"),
        ({"username": "prober", "password": "correct\x00horse"}, "password"),
    ):
        response = await api.client.post("/v1/auth/token", data=form)
        assert response.status_code == 422, response.text
        assert _names(response, field)


@pytest.mark.parametrize(
    "name", ['"Club\\u0000"', '"\\udfff"', '"\\ud83d"'], ids=["nul", "low", "high"]
)
async def test_a_bad_group_or_challenge_name_is_422(api: Api, athlete: str, name: str) -> None:
    group = await _send(api, "POST", "/v1/groups", f'{{"name": {name}}}', athlete)
    assert group.status_code == 422, group.text
    assert _names(group, "name")
    challenge = await _send(
        api,
        "POST",
        "/v1/challenges",
        f'{{"name": {name}, "metric": "points", "starts_at": "2026-01-01T00:00:00Z", '
        '"ends_at": "2026-02-01T00:00:00Z"}',
        athlete,
    )
    assert challenge.status_code == 422, challenge.text
    assert _names(challenge, "name")


@pytest.mark.parametrize("code", ["é", "Club\x00", "🏃"])
async def test_an_invite_code_that_cannot_be_one_is_422(api: Api, athlete: str, code: str) -> None:
    created = await api.client.post("/v1/groups", json={"name": "Club"}, headers=api.auth(athlete))
    joiner, _ = await api.register("joiner")
    response = await api.client.post(
        f"/v1/groups/{created.json()['id']}/join",
        json={"invite_code": code},
        headers=api.auth(joiner),
    )
    assert response.status_code == 422, response.text
    assert _names(response, "invite_code")


def _token_for(user_id: str) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "iss": "fitboard", "iat": now, "exp": now + 600}
    return jwt.encode(claims, TEST_SECRET, "HS256")


async def test_a_signed_token_for_an_athlete_who_does_not_exist_is_401_everywhere(
    api: Api, athlete: str
) -> None:
    ghost = api.auth(_token_for(str(uuid.uuid4())))
    workout = {"started_at": run_at(), **RUN}
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/v1/workouts", workout),
        ("POST", "/v1/workouts:batch", {"workouts": [workout]}),
        ("GET", "/v1/workouts", None),
        ("GET", "/v1/me", None),
        ("PATCH", "/v1/me", {"display_name": "Ghost"}),
        ("POST", "/v1/groups", {"name": "Haunt"}),
        ("POST", f"/v1/groups/{uuid.uuid4()}/join", {"invite_code": "boo"}),
        ("GET", "/v1/leaderboards/points/week", None),
        ("GET", "/v1/achievements", None),
        ("GET", "/v1/challenges", None),
    ]
    for method, path, body in calls:
        response = await api.client.request(method, path, json=body, headers=ghost)
        assert response.status_code == 401, (method, path, response.text)
        assert "does not exist" in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
    await _nothing_queued(api, athlete)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/me", "DELETE, GET, PATCH"),
        ("DELETE", "/v1/workouts", "GET, POST"),
        ("PUT", "/v1/challenges", "GET, POST"),
        ("GET", "/v1/workouts:batch", "POST"),
    ],
)
async def test_405_names_every_method_the_path_serves(
    api: Api, athlete: str, method: str, path: str, allowed: str
) -> None:
    response = await api.client.request(method, path, headers=api.auth(athlete))
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


async def test_a_body_that_is_not_utf8_is_422(api: Api, athlete: str) -> None:
    response = await api.client.post(
        "/v1/groups",
        content=b'{"name": "\xff\xfe"}',
        headers={**api.auth(athlete), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert _names(response, "body")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/leaderboards/points/week", {"scope": "group:" + "-" * 36}, "scope"),
        ("/v1/leaderboards/points/week/me", {"scope": "group:" + "0" * 36}, "scope"),
        ("/v1/leaderboards/points/day", {"period_key": "9999-12-31"}, "period_key"),
        ("/v1/leaderboards/points/week", {"period_key": "9999-W52"}, "period_key"),
        ("/v1/leaderboards/points/year", {"period_key": "0001"}, "period_key"),
        ("/v1/leaderboards/points/month", {"period_key": "9999-12"}, "period_key"),
    ],
)
async def test_a_board_outside_what_can_exist_is_422_naming_the_parameter(
    api: Api, athlete: str, path: str, params: dict[str, str], field: str
) -> None:
    response = await api.client.get(path, params=params, headers=api.auth(athlete))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", field]


async def test_an_instant_before_the_calendar_is_422(api: Api, athlete: str) -> None:
    challenge = await api.client.post(
        "/v1/challenges",
        json={
            "name": "Forever",
            "metric": "points",
            "starts_at": "0001-01-01T00:00:00+14:00",
            "ends_at": "2026-01-01T00:00:00Z",
        },
        headers=api.auth(athlete),
    )
    assert challenge.status_code == 422, challenge.text
    assert _names(challenge, "starts_at")
    workout = await api.submit(
        athlete, activity="run", started_at="0001-01-01T00:00:00+14:00", duration_s=60
    )
    assert workout.status_code == 422, workout.text
    assert _names(workout, "started_at")
    await _nothing_queued(api, athlete)
