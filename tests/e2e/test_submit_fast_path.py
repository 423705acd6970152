"""`POST /v1/workouts` answered by the fast path (entrypoints/api/submit_fast_path.py) is
answered as FastAPI's route answers it: two API processes' apps on the same production
services, one with the fast path and one without, are sent the same requests and must
give the same answers (status, headers, body; ids and request ids aside). Each answer
also says which path gave it: one of FastAPI's routes handles every request the fast path
leaves to the application, and none it serves."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fitboard.application.ports import QueueUnavailable
from tests.e2e.conftest import (
    _clean_production_state,
    answered,
    count_route_handling,
    with_and_without_a_fast_path,
)

pytestmark = pytest.mark.production

WORKOUT = {"activity": "run", "duration_s": 1800, "distance_m": 5000.0}
# What differs between two answers to the same request by design.
_PER_ANSWER = {"date", "x-request-id"}


def _workout(**fields: Any) -> dict[str, Any]:
    started = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    return {**WORKOUT, "started_at": started, **fields}


class Pair:
    """The same request sent to the app with the fast path and to the one without."""

    def __init__(self, fast: httpx.AsyncClient, routed: httpx.AsyncClient) -> None:
        self.fast = fast
        self.routed = routed
        self.routed_by_fastapi = 0  # requests one of FastAPI's routes has handled

    async def both(self, **request: Any) -> tuple[httpx.Response, httpx.Response, bool]:
        """Both answers, and whether the fast path served the first (no route of
        FastAPI's handled it)."""
        before = self.routed_by_fastapi
        fast = await self.fast.request("POST", **request)
        served_fast = self.routed_by_fastapi == before
        routed = await self.routed.request("POST", **request)
        return fast, routed, served_fast


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A rate limit's wait, in whole seconds: the second answer may come a second later.
_SECONDS = re.compile(r"(?<=retry in )\d+(?= s)|^\d+$")


def _normalized(response: httpx.Response) -> tuple[Any, ...]:
    """The answer with each workout id named by its order of appearance, so that two
    answers naming different new ids compare equal, and a rate limit's wait left out."""
    ids: dict[str, str] = {}

    def name(match: re.Match[str]) -> str:
        return ids.setdefault(match.group(0), f"<id{len(ids)}>")

    def plain(text: str) -> str:
        text = _UUID.sub(name, text)
        return _SECONDS.sub("<s>", text) if response.status_code == 429 else text

    headers = sorted(
        (key, plain(value)) for key, value in response.headers.items() if key not in _PER_ANSWER
    )
    return response.status_code, headers, plain(response.text)


def _same(fast: httpx.Response, routed: httpx.Response) -> None:
    assert _normalized(fast) == _normalized(routed), (fast.text, routed.text)


@pytest.fixture
async def pair(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Pair, FastAPI, FastAPI]]:
    database_url: str = request.getfixturevalue("migrated_postgres")
    await _clean_production_state(database_url)
    namespace = f"fastpath-{uuid.uuid4().hex[:12]}"
    # A budget small enough to spend in a test, the same in both apps.
    budget = {"workouts_per_minute_per_athlete": 8}
    async with with_and_without_a_fast_path(
        database_url, namespace, "submit_fast_path", **budget
    ) as (fast_app, routed_app, fast, routed):
        pair = Pair(fast, routed)

        def route_handled() -> None:
            pair.routed_by_fastapi += 1

        count_route_handling(monkeypatch, route_handled)
        yield pair, fast_app, routed_app


async def _register(client: httpx.AsyncClient, username: str) -> str:
    body = {"username": username, "password": "correct horse battery"}
    response = await client.post("/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_accepted_workout_is_the_same_202_from_either_path(
    pair: tuple[Pair, FastAPI, FastAPI],
) -> None:
    both, _, _ = pair
    token = await _register(both.fast, "ada")
    before = answered().get(("POST", "/v1/workouts", 202), 0)
    handled = both.routed_by_fastapi
    for headers, body in [
        ({}, _workout()),
        ({"Content-Type": "application/json; charset=utf-8"}, _workout(notes="Früh")),
        ({}, _workout(id=str(uuid.uuid4()))),
    ]:
        fast, routed, served_fast = await both.both(
            url="/v1/workouts",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **_auth(token), **headers},
        )
        assert served_fast
        assert fast.status_code == 202, fast.text
        assert fast.headers["location"] == f"/v1/workouts/{fast.json()['id']}"
        _same(fast, routed)
    # The routed app's three went through FastAPI's route, the fast app's none.
    assert both.routed_by_fastapi == handled + 3
    # Counted by the metrics under the route's template, as the route's answers are.
    assert answered()[("POST", "/v1/workouts", 202)] == before + 6


async def test_what_the_route_refuses_goes_to_the_route(
    pair: tuple[Pair, FastAPI, FastAPI],
) -> None:
    both, _, _ = pair
    token = await _register(both.fast, "ada")
    good = json.dumps(_workout()).encode()
    json_type = {"Content-Type": "application/json"}
    cases: list[dict[str, Any]] = [
        {"content": good, "headers": json_type},  # no token
        {"content": good, "headers": {**json_type, "Authorization": "Bearer nonsense"}},
        {"content": b"{not json", "headers": {**json_type, **_auth(token)}},
        {"content": b"", "headers": {**json_type, **_auth(token)}},
        {"content": b"[1, 2]", "headers": {**json_type, **_auth(token)}},
        {"content": json.dumps(_workout(duration_s=-5)).encode(), "headers": _auth(token)},
        {"content": good, "headers": {"Content-Type": "text/plain", **_auth(token)}},
        {"content": good, "headers": {"Content-Type": "application/vnd.x+json", **_auth(token)}},
        {"content": good, "headers": _auth(token) | {"Content-Type": ""}},
    ]
    for case in cases:
        fast, routed, served_fast = await both.both(url="/v1/workouts", **case)
        assert not served_fast, case
        assert fast.status_code != 202 or case["headers"].get("Content-Type", "").endswith(
            "+json"
        ), (case, fast.text)
        _same(fast, routed)


async def test_what_the_work_refuses_is_answered_by_the_same_handler(
    pair: tuple[Pair, FastAPI, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    both, fast_app, routed_app = pair
    ada = await _register(both.fast, "ada")
    bob = await _register(both.fast, "bob")
    headers = {"Content-Type": "application/json", **_auth(bob)}

    # 409: an id that is another athlete's.
    taken = str(uuid.uuid4())
    first = await both.fast.post("/v1/workouts", json=_workout(id=taken), headers=_auth(ada))
    assert first.status_code == 202, first.text
    refusals: list[Callable[[], dict[str, Any]]] = [
        lambda: _workout(id=taken),
        # 422 from the domain's own check (it ends past the clock's allowance), not the model.
        lambda: _workout(started_at=(datetime.now(UTC) + timedelta(days=2)).isoformat()),
    ]
    for make in refusals:
        fast, routed, served_fast = await both.both(
            url="/v1/workouts", content=json.dumps(make()).encode(), headers=headers
        )
        assert served_fast
        assert fast.status_code in (409, 422), fast.text
        _same(fast, routed)

    # 503: the queue could not store it.
    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise QueueUnavailable("the broker is down")

    with monkeypatch.context() as patched:
        for app in (fast_app, routed_app):
            patched.setattr(app.state.services.ingest, "submit_workout", refused)
        fast, routed, served_fast = await both.both(
            url="/v1/workouts", content=json.dumps(_workout()).encode(), headers=headers
        )
    assert served_fast
    assert fast.status_code == 503, fast.text
    _same(fast, routed)

    # 429: the athlete's budget (8 a minute, shared by both apps) spent.
    statuses = []
    for _ in range(6):
        fast, routed, served_fast = await both.both(
            url="/v1/workouts", content=json.dumps(_workout()).encode(), headers=headers
        )
        assert served_fast
        statuses.append(fast.status_code)
        if fast.status_code == 429:
            _same(fast, routed)
            assert fast.headers["retry-after"]
    assert 429 in statuses, statuses


async def test_other_paths_and_methods_are_left_to_the_application(
    pair: tuple[Pair, FastAPI, FastAPI],
) -> None:
    both, _, _ = pair
    token = await _register(both.fast, "ada")
    good = json.dumps(_workout()).encode()
    headers = {"Content-Type": "application/json", **_auth(token)}
    fast, routed, served_fast = await both.both(
        url="/v1/workouts:batch", content=b'{"workouts": [%s]}' % good, headers=headers
    )
    assert not served_fast
    assert fast.status_code == 207, fast.text
    _same(fast, routed)
    for url in ("/v1/workouts/", "/v1/workoutsx", "/v1/workouts?note=1"):
        fast, routed, _ = await both.both(url=url, content=good, headers=headers)
        _same(fast, routed)
    listed = await both.fast.get("/v1/workouts", headers=_auth(token))
    assert listed.status_code == 200
