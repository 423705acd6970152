"""Health, readiness, the OpenAPI document, and a restart that keeps everything."""

from __future__ import annotations

from pathlib import Path

import httpx

from fitboard.entrypoints.api import create_app
from tests.e2e.conftest import Api, run_at, settings_for


async def test_health_readiness_and_openapi(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"store": "ok", "ranking": "ok", "queue": "ok"}
    spec = (await api.client.get("/openapi.json")).json()
    for path in (
        "/v1/auth/register",
        "/v1/auth/token",
        "/v1/me",
        "/v1/workouts",
        "/v1/workouts/{workout_id}",
        "/v1/leaderboards/{metric}/{period}",
        "/v1/leaderboards/{metric}/{period}/me",
    ):
        assert path in spec["paths"], path
    assert (await api.client.get("/docs")).status_code == 200


async def test_boards_are_rebuilt_from_the_record_after_a_restart(tmp_path: Path) -> None:
    started = run_at(2)
    app = create_app(settings_for(tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://a") as client:
            api = Api(client)
            token, user = await api.register("steady")
            workout_id = await api.submit_ok(
                token, activity="row", started_at=started, duration_s=1200, distance_m=4000
            )
            await api.wait_processed(token, workout_id)
    # A new process: the in-memory ranking starts empty and is rebuilt from SQLite.
    app = create_app(settings_for(tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            api = Api(client)
            board = await api.board(token, "distance/all", period_key="all")
            assert [(e["user_id"], e["score"]) for e in board["entries"]] == [(user["id"], 4000)]
            workout = await api.wait_processed(token, workout_id)
            assert workout["status"] == "processed"
