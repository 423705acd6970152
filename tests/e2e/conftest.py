"""An embedded fitboard per test, driven through its HTTP API (ASGI transport)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fitboard.config import Settings
from fitboard.entrypoints.api import create_app

TEST_SECRET = "e2e-secret-that-is-long-enough-for-hs256-signing"


class Api:
    """A thin client that speaks the public interface of ../shared/API.md."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def register(self, username: str, **profile: Any) -> tuple[str, dict[str, Any]]:
        body = {"username": username, "password": "correct horse battery", **profile}
        response = await self.client.post("/v1/auth/register", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        return data["access_token"], data["user"]

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def submit(self, token: str, **workout: Any) -> httpx.Response:
        return await self.client.post("/v1/workouts", json=workout, headers=self.auth(token))

    async def submit_ok(self, token: str, **workout: Any) -> str:
        response = await self.submit(token, **workout)
        assert response.status_code == 202, response.text
        workout_id: str = response.json()["id"]
        return workout_id

    async def wait_processed(
        self, token: str, workout_id: str, within_s: float = 10
    ) -> dict[str, Any]:
        async with asyncio.timeout(within_s):
            while True:
                response = await self.client.get(
                    f"/v1/workouts/{workout_id}", headers=self.auth(token)
                )
                if response.status_code == 200:
                    data: dict[str, Any] = response.json()
                    return data
                assert response.status_code == 202, response.text
                await asyncio.sleep(0.02)

    async def board(self, token: str, path: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            f"/v1/leaderboards/{path}", params=params, headers=self.auth(token)
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def run_at(hours_ago: float = 2.0) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


def settings_for(data_dir: Path) -> Settings:
    return Settings(mode="embedded", data_dir=data_dir, jwt_secret=TEST_SECRET)  # type: ignore[arg-type]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    app = create_app(settings_for(tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fitboard") as client:
            yield Api(client)
