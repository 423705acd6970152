"""A refused field is located where the client sent it, as the OpenAPI document's
FieldErrorOut says: `path`, `query` or `body` first, whether the schema or a domain rule
refused it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from fitboard.entrypoints.api import create_app
from tests.e2e.conftest import Api, settings_for

CASES: list[tuple[str, str, dict[str, Any] | None, list[str]]] = [
    # Refused by the schema (FastAPI's validation).
    ("GET", "/v1/workouts/not-a-uuid", None, ["path", "workout_id"]),
    ("GET", "/v1/leaderboards/speed/week", None, ["path", "metric"]),
    ("GET", "/v1/workouts?limit=0", None, ["query", "limit"]),
    ("POST", "/v1/workouts", {"activity": "run"}, ["body", "started_at"]),
    # Refused by a domain rule (InvalidField).
    ("GET", "/v1/me/reports/2026-13", None, ["path", "month"]),
    ("GET", "/v1/leaderboards/points/week?scope=team:1", None, ["query", "scope"]),
    ("GET", "/v1/leaderboards/points/week?period_key=2026-W99", None, ["query", "period_key"]),
    ("GET", "/v1/workouts?cursor=not-a-cursor", None, ["query", "cursor"]),
    # A query parameter the route does not take does not move a body field there.
    ("POST", "/v1/groups?name=x", {"name": "   "}, ["body", "name"]),
]


async def test_a_refused_field_is_located_where_it_was_sent(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fitboard") as client:
            api = Api(client, app)
            token, _ = await api.register("locator")
            wrong = []
            for method, url, body, loc in CASES:
                answer = await client.request(method, url, json=body, headers=api.auth(token))
                located = answer.status_code == 422 and loc in [
                    error["loc"] for error in answer.json()["detail"]
                ]
                if not located:
                    wrong.append(f"{method} {url}: {answer.status_code} {answer.text}")
    assert not wrong, wrong
