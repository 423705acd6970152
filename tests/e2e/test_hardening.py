"""The API's surface as a browser and an operator meet it: security headers, CORS for the
HTTP API and the live gateway alike, what /readyz tells strangers, the embedded data
directory's permissions, and the docs and metrics switches."""

from __future__ import annotations

import stat
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import socketio
from fastapi import FastAPI
from pydantic import ValidationError

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.config import Settings
from fitboard.entrypoints.api import create_app
from tests.e2e.conftest import TEST_SECRET, Api, settings_for
from tests.live.conftest import serving
from tests.services.redis import private_redis

from ..contract.queue_adapters import bounded

ALLOWED = "https://app.example.com"


@asynccontextmanager
async def embedded(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[FastAPI, Api]]:
    app = create_app(settings_for(tmp_path).model_copy(update=overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fitboard") as client:
            yield app, Api(client, app)


async def test_answers_carry_security_headers(api: Api) -> None:
    answer = await api.client.get("/healthz")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    # Errors too.
    refused = await api.client.get("/v1/me")
    assert refused.status_code == 401
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_a_display_name_that_disguises_itself_is_refused(api: Api) -> None:
    body = {"username": "ada", "password": "correct horse battery", "display_name": "adm\u202ein"}
    refused = await api.client.post("/v1/auth/register", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "display_name"]
    assert "U+202E" in refused.json()["detail"][0]["msg"]
    token, _ = await api.register("grace")
    patch = await api.client.patch(
        "/v1/me", json={"display_name": "Grace\u200bH"}, headers=api.auth(token)
    )
    assert patch.status_code == 422, patch.text


async def test_a_guessable_password_is_refused(api: Api) -> None:
    body = {"username": "ada", "password": "qwerty12"}
    refused = await api.client.post("/v1/auth/register", json=body)
    assert refused.status_code == 422, refused.text
    assert "most common passwords" in refused.text


async def test_cors_allows_the_configured_origin_and_refuses_others(tmp_path: Path) -> None:
    async with embedded(tmp_path, cors_origins=[ALLOWED]) as (_, api):
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = await api.client.options("/v1/workouts", headers={"Origin": ALLOWED, **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ALLOWED
        other = await api.client.options(
            "/v1/workouts", headers={"Origin": "https://evil.example", **preflight}
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers
        simple = await api.client.get("/healthz", headers={"Origin": ALLOWED})
        assert simple.headers["access-control-allow-origin"] == ALLOWED


async def test_without_cors_origins_no_origin_is_allowed(api: Api) -> None:
    answer = await api.client.get("/healthz", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in answer.headers


async def live_connect(url: str, token: str, origin: str) -> bool:
    # A session of our own: the client leaves its own open when the server refuses the
    # websocket itself (as it does an origin it does not allow).
    async with aiohttp.ClientSession() as session:
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False, http_session=session)
        try:
            await client.connect(
                url,
                auth={"token": token},
                headers={"Origin": origin},
                transports=["websocket"],
                wait_timeout=10,
            )
        except socketio.exceptions.ConnectionError:
            return False
        await client.disconnect()
        return True


@bounded(60)
async def test_the_live_gateway_applies_the_same_origins(tmp_path: Path) -> None:
    async with embedded(tmp_path, cors_origins=[ALLOWED]) as (app, api):
        token, _ = await api.register("ada")
        async with serving(app) as url:
            assert await live_connect(url, token, ALLOWED)
            assert not await live_connect(url, token, "https://evil.example")


@pytest.mark.production
@bounded(90)
async def test_readyz_names_a_dependency_but_not_its_error(
    request: pytest.FixtureRequest,
) -> None:
    """Redis is killed under a production API: /readyz says the ranking is unavailable,
    and nothing of the driver's message (addresses, errno) reaches the answer."""
    async with private_redis() as redis_server:
        settings = Settings(
            mode="production",
            database_url=request.getfixturevalue("migrated_postgres"),
            redis_url=redis_server.url,
            amqp_url=request.getfixturevalue("amqp_url"),
            jwt_secret=TEST_SECRET,
            namespace=f"ready-{uuid.uuid4().hex[:12]}",
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://f") as client:
                assert (await client.get("/readyz")).status_code == 200
                await redis_server.stop()
                answer = await client.get("/readyz")
            container = app.state.container
            assert isinstance(container.broker, RabbitBroker)
            for queue in (container.workouts_queue, container.reports_queue):
                await container.broker.delete(queue)
            await container.broker.delete_exchanges()
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "not ready",
        "checks": {"store": "ok", "ranking": "unavailable", "queue": "ok"},
    }


async def test_the_embedded_data_directory_is_its_owners_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with embedded(data, data_dir=data) as (_, api):
        await api.register("ada")
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        files = [p for p in data.iterdir() if p.is_file()]
        assert {p.name for p in files} >= {"fitboard.db", "queue.db", "serve.lock"}
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


async def test_docs_and_metrics_can_be_hidden(tmp_path: Path) -> None:
    async with embedded(tmp_path, expose_docs=False, expose_metrics=False) as (_, api):
        for path in ("/docs", "/redoc", "/openapi.json", "/metrics"):
            assert (await api.client.get(path)).status_code == 404, path
    async with embedded(tmp_path / "shown") as (_, api):
        for path in ("/docs", "/openapi.json", "/metrics"):
            assert (await api.client.get(path)).status_code == 200, path


@pytest.mark.parametrize("secret", ["a" * 48, "ab" * 24, "0123456789" * 4 + "0"])
def test_a_long_secret_that_is_a_pattern_is_refused(secret: str) -> None:
    urls = {
        "database_url": "postgresql+asyncpg://x@127.0.0.1/x",
        "redis_url": "redis://127.0.0.1:6379/0",
        "amqp_url": "amqp://guest:guest@127.0.0.1/",
    }
    distinct = "".join(sorted(set(secret)))
    if len(distinct) >= 10:
        Settings(mode="production", jwt_secret=secret, **urls)  # type: ignore[arg-type]
        return
    with pytest.raises(ValidationError, match="FITBOARD_JWT_SECRET"):
        Settings(mode="production", jwt_secret=secret, **urls)  # type: ignore[arg-type]


def test_production_mode_refuses_a_record_that_is_not_postgresql() -> None:
    # Its processes share the boards, and only PostgreSQL's advisory locks keep each
    # athlete's board writes in order across them.
    urls = {
        "database_url": "sqlite+aiosqlite:///tmp/record.db",
        "redis_url": "redis://127.0.0.1:6379/0",
        "amqp_url": "amqp://guest:guest@127.0.0.1/",
    }
    secret = "Xq3v" + "".join(chr(ord("a") + n % 26) + str(n) for n in range(24))
    with pytest.raises(ValidationError, match="production mode needs PostgreSQL"):
        Settings(mode="production", jwt_secret=secret, **urls)  # type: ignore[arg-type]
    urls["database_url"] = "postgresql+asyncpg://x@127.0.0.1/x"
    Settings(mode="production", jwt_secret=secret, **urls)  # type: ignore[arg-type]
