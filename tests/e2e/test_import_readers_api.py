"""What an athlete hears when the file readers cannot read an upload, through the HTTP API
of an embedded fitboard whose readers have a small processor-time limit: a file past it
is a 422, a reader killed in the middle of a file a 503 with Retry-After, nothing is saved
for either, and the next upload is imported."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fitboard.entrypoints.api import create_app
from tests import activity_files as af
from tests.e2e.conftest import Api, settings_for
from tests.reader_processes import children, until_parsing


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = settings_for(tmp_path).model_copy(
        update={"import_processes": 1, "import_max_waiting": 0, "import_read_cpu_s": 0.3}
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://fitboard"
        ) as client,
    ):
        yield Api(client, app)


async def upload(api: Api, token: str, name: str, data: bytes) -> httpx.Response:
    return await api.client.post(
        "/v1/workouts/import", files={"file": (name, data)}, headers=api.auth(token)
    )


async def imported(api: Api, token: str, hours_ago: float) -> str:
    response = await upload(api, token, "short.gpx", af.gpx(af.Track(af.hours_ago(hours_ago), 60)))
    assert response.status_code == 202, response.text
    workout_id: str = response.json()["id"]
    await api.wait_processed(token, workout_id)
    return workout_id


async def workout_ids(api: Api, token: str) -> set[str]:
    response = await api.client.get("/v1/workouts", headers=api.auth(token))
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_a_slow_file_is_a_422_a_killed_reader_a_503_and_the_next_upload_works(
    api: Api,
) -> None:
    token, _ = await api.register("patient")
    six_hours = af.gpx(af.Track(af.hours_ago(30), 6 * 3600))  # ~0.8 s of processor time

    slow = await upload(api, token, "long.gpx", six_hours)
    if slow.status_code == 503:
        # A machine so loaded that the reader got under a tenth of a core for 3 s: the
        # server's overload, which tests/integration/test_import_readers.py tells apart.
        assert "too busy to finish reading 'long.gpx'" in slow.json()["detail"], slow.text
    else:
        assert slow.status_code == 422, slow.text
        assert "more than 0.3 s of processor time" in slow.json()["detail"]
    others = children()
    first = await imported(api, token, hours_ago=3)

    (pid,) = children() - others  # the reader that took the place of the stopped one
    killed = asyncio.create_task(upload(api, token, "long.gpx", six_hours))
    await until_parsing(pid)
    os.kill(pid, signal.SIGKILL)
    answer = await killed
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "2"
    assert "reader stopped while reading 'long.gpx'" in answer.json()["detail"]

    second = await imported(api, token, hours_ago=5)
    assert await workout_ids(api, token) == {first, second}  # nothing of either long upload
