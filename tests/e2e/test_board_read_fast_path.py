"""The board reads answered by the fast path (entrypoints/api/read_fast_path.py) are
answered as FastAPI's routes answer them: two API processes' apps on the same production
services, one with the fast path and one without, are sent the same requests and must
give the same answers (status, headers, body; request ids aside). Each answer also says
which path gave it: one of FastAPI's routes handles every request the fast path leaves to
the application, and none it serves."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from fitboard.application.ports import RankingUnavailable
from fitboard.entrypoints.api.read_fast_path import BoardReadFastPath
from tests.e2e.conftest import (
    Api,
    _clean_production_state,
    answered,
    count_route_handling,
    with_and_without_a_fast_path,
)

pytestmark = pytest.mark.production

BOARD = "/v1/leaderboards/calories/all"
ME = BOARD + "/me"
# What differs between two answers to the same request by design.
_PER_ANSWER = {"date", "x-request-id"}


class Pair:
    """The same request sent to the app with the fast path and to the one without."""

    def __init__(self, fast: httpx.AsyncClient, routed: httpx.AsyncClient) -> None:
        self.fast = fast
        self.routed = routed
        self.routed_by_fastapi = 0  # requests one of FastAPI's routes has handled
        self.left_by_fast_path = 0  # requests it has handed on to the application

    async def served(
        self, url: str, token: str | None, status: int = 200, **request: Any
    ) -> httpx.Response:
        """The fast path's answer to a GET, checked to be of `status` and the same as the
        route's."""
        fast, routed, served_fast = await self._both(url, token, **request)
        assert served_fast, (url, request)
        assert fast.status_code == status, (url, request, fast.text)
        _same(fast, routed)
        return fast

    async def left(self, url: str, token: str | None, **request: Any) -> httpx.Response:
        """The answer to a GET the fast path leaves to the application, checked to be the
        same as the other app's."""
        fast, routed, served_fast = await self._both(url, token, **request)
        assert not served_fast, (url, request)
        _same(fast, routed)
        return fast

    async def _both(
        self, url: str, token: str | None, **request: Any
    ) -> tuple[httpx.Response, httpx.Response, bool]:
        """Both answers, and whether the fast path served the first: it handed it on to
        no one, and no route of FastAPI's handled it."""
        headers = {} if token is None else _auth(token)
        before = (self.routed_by_fastapi, self.left_by_fast_path)
        fast = await self.fast.get(url, headers=headers, **request)
        served_fast = (self.routed_by_fastapi, self.left_by_fast_path) == before
        routed = await self.routed.get(url, headers=headers, **request)
        return fast, routed, served_fast


def _same(fast: httpx.Response, routed: httpx.Response) -> None:
    def normalized(response: httpx.Response) -> tuple[Any, ...]:
        headers = sorted(
            (key, value) for key, value in response.headers.items() if key not in _PER_ANSWER
        )
        return response.status_code, headers, response.content

    assert normalized(fast) == normalized(routed), (fast.text, routed.text)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def pair(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Pair, FastAPI, FastAPI]]:
    database_url: str = request.getfixturevalue("migrated_postgres")
    await _clean_production_state(database_url)
    namespace = f"readpath-{uuid.uuid4().hex[:12]}"
    async with with_and_without_a_fast_path(database_url, namespace, "board_read_fast_path") as (
        fast_app,
        routed_app,
        fast,
        routed,
    ):
        pair = Pair(fast, routed)

        def route_handled() -> None:
            pair.routed_by_fastapi += 1

        count_route_handling(monkeypatch, route_handled)
        _count_left(fast_app, pair)
        yield pair, fast_app, routed_app


def _count_left(app: FastAPI, pair: Pair) -> None:
    """Counts in `pair.left_by_fast_path` each request the app's fast path hands on to
    the rest of it (a redirect or a 404 for an unknown path is answered by no route)."""
    app.middleware_stack = app.build_middleware_stack()
    layer: Any = app.middleware_stack
    while not isinstance(layer, BoardReadFastPath):
        layer = layer.app
    rest = layer.app

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            pair.left_by_fast_path += 1
        await rest(scope, receive, send)

    layer.app = counted


async def _athletes(api: Api, *names: str) -> dict[str, str]:
    """Each athlete's token, each with a run of their own on the boards, the first named
    burning the least."""
    tokens = {}
    started = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    for minutes, name in enumerate(names, start=1):
        token, _ = await api.register(name, weight_kg=70)
        tokens[name] = token
        workout_id = await api.submit_ok(
            token, activity="run", started_at=started, duration_s=minutes * 600
        )
        await api.wait_processed(token, workout_id)
    board = await api.board_listing(tokens[names[0]], "calories/all", len(names))
    assert board["total"] == len(names), board
    return tokens


async def test_a_board_read_is_the_same_200_from_either_path(
    pair: tuple[Pair, FastAPI, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    both, fast_app, routed_app = pair
    tokens = await _athletes(Api(both.fast, fast_app), "ada", "bob", "cyn", "dee")
    # Both apps' clocks stand still from here: a read without a period key is of the
    # current day's or week's board, and midnight UTC between the two answers to it would
    # make them name two periods.
    frozen = fast_app.state.container.clock.now()
    for app in (fast_app, routed_app):
        monkeypatch.setattr(app.state.container.clock, "now", lambda: frozen)
    ada = tokens["ada"]
    template = "/v1/leaderboards/{metric}/{period}"
    before = answered().get(("GET", template, 200), 0)
    handled = both.routed_by_fastapi
    cases: list[tuple[str, dict[str, Any]]] = [
        (BOARD, {}),
        (BOARD, {"limit": "10"}),
        (BOARD, {"limit": "1", "scope": "global", "period_key": "all"}),
        (BOARD, {"limit": "100"}),
        (BOARD, {"scope": "activity:run"}),
        ("/v1/leaderboards/points/week", {}),
        (ME, {"around": "5"}),
        (ME, {"around": "0", "period_key": "all"}),
        (ME, {"around": "25"}),
        ("/v1/leaderboards/duration/day/me", {}),
    ]
    for url, params in cases:
        await both.served(url, ada, params=params)
    # The routed app's went through FastAPI's routes, the fast app's none.
    assert both.routed_by_fastapi == handled + len(cases)
    # Counted by the metrics under the route's template, as the route's answers are.
    boards = sum(1 for url, _ in cases if not url.endswith("/me"))
    assert answered()[("GET", template, 200)] == before + 2 * boards

    # Paging by the cursor, a page of one at a time, to the end.
    cursor: str | None = None
    names = []
    for _ in range(4):
        params = {"limit": "1"} | ({} if cursor is None else {"cursor": cursor})
        page = (await both.served(BOARD, ada, params=params)).json()
        names += [entry["display_name"] for entry in page["entries"]]
        cursor = page["next_cursor"]
    assert names == ["dee", "cyn", "bob", "ada"]
    assert cursor is None

    # My standing where I have no entry: rank and score null.
    newcomer, _ = await Api(both.fast).register("eve")
    mine = await both.served(ME, newcomer, params={"around": "1"})
    assert mine.json()["rank"] is None, mine.text


async def test_what_the_routes_refuse_goes_to_the_routes(
    pair: tuple[Pair, FastAPI, FastAPI],
) -> None:
    both, fast_app, _ = pair
    ada = (await _athletes(Api(both.fast, fast_app), "ada"))["ada"]
    cases: list[tuple[str, str | None, str]] = [
        ("/v1/leaderboards/kilojoules/all", ada, ""),
        ("/v1/leaderboards/calories/fortnight", ada, ""),
        ("/v1/leaderboards/Calories/all", ada, ""),
        ("/v1/leaderboards/calories/all/you", ada, ""),
        ("/v1/leaderboards/calories/me", ada, ""),
        (BOARD, ada, "limit=5&limit=6"),
        (BOARD, ada, "limit=5&Limit=6"),
        (BOARD, ada, "around=5"),
        (BOARD, ada, "limit"),
        (BOARD, ada, "limit=5&"),
        (BOARD, ada, "limit=0"),
        (BOARD, ada, "limit=101"),
        (BOARD, ada, "limit=+5"),
        (BOARD, ada, "limit=%205"),
        (BOARD, ada, "limit=%2B5"),
        (BOARD, ada, "limit=05"),
        (BOARD, ada, "limit=5.0"),
        (BOARD, ada, "limit=1000000000"),
        (BOARD, ada, "limit=%35"),
        (BOARD, ada, "%6Cimit=5"),
        (BOARD, ada, "limit="),
        (ME, ada, "around=26"),
        (ME, ada, "around=-1"),
        (ME, ada, "limit=5"),
        (ME, ada, "around=1&around=1"),
        (BOARD, None, ""),
        (BOARD, "nonsense", ""),
        (ME, None, "around=5"),
    ]
    for url, token, query in cases:
        await both.left(url + "?" * bool(query) + query, token)
    # A trailing slash: FastAPI's redirect, answered by no route.
    redirected = await both.left(BOARD + "/?limit=5", ada)
    assert redirected.status_code == 307
    # The bounds themselves are served.
    for query in ("limit=1", "limit=100"):
        await both.served(f"{BOARD}?{query}", ada)
    # Other methods are FastAPI's.
    posted = [await client.post(BOARD, headers=_auth(ada)) for client in (both.fast, both.routed)]
    assert posted[0].status_code == 405
    _same(*posted)


async def test_a_revoked_token_goes_to_the_routes(pair: tuple[Pair, FastAPI, FastAPI]) -> None:
    both, fast_app, _ = pair
    ada = (await _athletes(Api(both.fast, fast_app), "ada"))["ada"]
    await both.served(BOARD, ada)
    logout = await both.fast.post("/v1/auth/logout", headers=_auth(ada))
    assert logout.status_code == 204, logout.text
    # The other app learns of the revocation as every other process does: by a message.
    async with asyncio.timeout(10):
        while (await both.routed.get(BOARD, headers=_auth(ada))).status_code != 401:  # noqa: ASYNC110 (no event tells it)
            await asyncio.sleep(0.02)
    for url in (BOARD, ME):
        refused = await both.left(url, ada)
        assert refused.status_code == 401, refused.text


async def test_what_the_work_refuses_is_answered_by_the_same_handler(
    pair: tuple[Pair, FastAPI, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    both, fast_app, routed_app = pair
    api = Api(both.fast, fast_app)
    tokens = await _athletes(api, "ada", "bob")
    created = await both.fast.post(
        "/v1/groups", json={"name": "Bob's"}, headers=_auth(tokens["bob"])
    )
    assert created.status_code == 201, created.text
    group = created.json()["id"]
    refusals: list[tuple[str, dict[str, str], int]] = [
        (BOARD, {"scope": f"group:{group}"}, 403),  # not a member
        (ME, {"scope": f"group:{group}"}, 403),
        (BOARD, {"scope": f"group:{uuid.uuid4()}"}, 404),  # no such group
        (BOARD, {"period_key": "2026-W99"}, 422),
        (ME, {"period_key": "last year", "around": "3"}, 422),
        (BOARD, {"scope": "team:x"}, 422),
        (BOARD, {"cursor": "not a cursor"}, 422),
    ]
    for url, params, status in refusals:
        await both.served(url, tokens["ada"], status, params=params)
    # A member reads the group's board (its scope percent-encoded, as clients send it).
    member = await both.served(BOARD, tokens["bob"], params={"scope": f"group:{group}"})
    assert "group%3A" in str(member.request.url)

    # 503: the rankings unreachable.
    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise RankingUnavailable("Redis is down")

    with monkeypatch.context() as patched:
        for app in (fast_app, routed_app):
            patched.setattr(app.state.services.boards, "read_board", unreachable)
        await both.served(BOARD, tokens["ada"], 503)


async def test_dependency_overrides_leave_reads_to_the_routes(
    pair: tuple[Pair, FastAPI, FastAPI],
) -> None:
    both, fast_app, _ = pair
    ada = (await _athletes(Api(both.fast, fast_app), "ada"))["ada"]
    fast_app.dependency_overrides[lambda: None] = lambda: None
    try:
        await both.left(BOARD, ada)
    finally:
        fast_app.dependency_overrides.clear()
