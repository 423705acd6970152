"""Every status an e2e test got is one its route documents in /openapi.json.

tests/e2e/conftest.py records (method, route template, status) of every answer an app in
this process gave while an e2e test ran, and runs this file after every other test of the
session, so only what this session observed is compared: a subset of the e2e tests checks
the statuses that subset saw. Apps in other processes (the servers some tests start with
`fitboard serve`) are not observed. The counter it reads counts a request its test gave up
on (a timeout cancelling it before it answered) as a 500, though no client got one: such a line
names a test that failed by itself."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from fitboard.entrypoints.api import create_app, web
from fitboard.entrypoints.api.http_metrics import CLIENT_CLOSED_REQUEST
from tests.e2e.conftest import OBSERVED, answered, settings_for

# Served, but by design not operations of the interface: the docs pages, the schema
# itself, the Socket.IO mount (docs/live.md) and whatever no route matched (the browser
# app or a 404).
OUTSIDE_THE_SCHEMA = {
    web.DOCS_URL,
    web.REDOC_URL,
    web.OPENAPI_URL,
    web.OAUTH2_REDIRECT_URL,
    "/socket.io",
    "unmatched",
}

Observation = tuple[str, str, int]


def undocumented(observed: Mapping[Observation, str], document: dict[str, Any]) -> list[str]:
    """One line per observed answer the document does not account for: a status its
    operation does not list, an operation it lacks (unless the answer was 405, which any
    method a path does not serve gets), or a route it does not have."""
    problems = []
    for (method, route, status), seen_by in sorted(observed.items()):
        if route in OUTSIDE_THE_SCHEMA or status == CLIENT_CLOSED_REQUEST:
            # 499 is no answer: the request's client went away before one began.
            continue
        where = f"{method} {route} answered {status} (first in {seen_by})"
        path_item = document["paths"].get(route)
        if path_item is None:
            problems.append(f"{where}: the route is not in the schema")
            continue
        operation = path_item.get(method.lower())
        if operation is None:
            if status != 405:
                problems.append(f"{where}: the schema has no such operation")
        elif str(status) not in operation["responses"]:
            documented = ", ".join(sorted(operation["responses"]))
            problems.append(f"{where}: it documents only {documented}")
    return problems


def _document() -> dict[str, Any]:
    # Every optional route served (docs and metrics are on by default, as in the e2e apps).
    document: dict[str, Any] = create_app(settings_for(Path("unused"))).openapi()
    return document


def test_an_undocumented_status_is_reported() -> None:
    document: dict[str, Any] = {
        "paths": {"/v1/things/{thing_id}": {"get": {"responses": {"200": {}, "404": {}}}}}
    }
    observed = {
        ("GET", "/v1/things/{thing_id}", 200): "a",
        ("GET", "/v1/things/{thing_id}", 404): "a",
        ("GET", "/v1/things/{thing_id}", 409): "b",
        ("PUT", "/v1/things/{thing_id}", 405): "c",
        ("PUT", "/v1/things/{thing_id}", 200): "c",
        ("GET", "/v1/other", 200): "d",
        ("GET", "unmatched", 404): "e",
    }
    assert undocumented(observed, document) == [
        "GET /v1/other answered 200 (first in d): the route is not in the schema",
        "GET /v1/things/{thing_id} answered 409 (first in b): it documents only 200, 404",
        "PUT /v1/things/{thing_id} answered 200 (first in c): the schema has no such operation",
    ]


async def test_every_status_the_e2e_tests_observed_is_documented(tmp_path: Path) -> None:
    # A few answers of its own first, so that the check never passes for want of
    # observations: run alone, or after tests that sent nothing, it still compares these,
    # and it fails if the counter it reads stops seeing answers.
    app = create_app(settings_for(tmp_path))
    before = answered()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fitboard") as client:
            probes = {
                ("GET", "/healthz"): (await client.get("/healthz")).status_code,
                ("GET", "/v1/me"): (await client.get("/v1/me")).status_code,
                ("PUT", "/v1/me"): (await client.put("/v1/me")).status_code,
            }
    assert probes == {("GET", "/healthz"): 200, ("GET", "/v1/me"): 401, ("PUT", "/v1/me"): 405}
    after = answered()
    own = {key: "this test" for key, count in after.items() if count > before.get(key, 0)}
    assert {(method, route, status) for method, route, status in own} >= {
        (method, route, status) for (method, route), status in probes.items()
    }, f"the counter of answers did not see this test's own requests: {own}"
    problems = undocumented({**own, **OBSERVED}, _document())
    assert not problems, "statuses the e2e tests got that /openapi.json does not document:\n" + (
        "\n".join(problems)
    )
