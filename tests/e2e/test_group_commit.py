"""Group commit at ingest, embedded: submissions that arrive together share one queue
transaction, and each is answered by the fate of its own write — 202 only once its
workout is stored, 503 to exactly those whose transaction failed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Api, run_at, settings_for
from tests.sqlite_refusals import refuse_messages_holding

REFUSED = "refused-by-the-disk"


@pytest.fixture(name="embedded")
async def embedded_fixture(tmp_path: Path) -> AsyncIterator[tuple[Api, Path]]:
    from fitboard.entrypoints.api import create_app

    settings = settings_for(tmp_path)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fitboard") as client:
            yield Api(client, app), settings.queue_path


async def test_a_failed_group_write_answers_503_to_exactly_the_workouts_not_stored(
    embedded: tuple[Api, Path],
) -> None:
    api, queue_path = embedded
    token, _ = await api.register("crowd")
    # In a thread: the in-process worker's transaction must be able to finish meanwhile.
    await asyncio.to_thread(refuse_messages_holding, queue_path, REFUSED)

    ids = [str(uuid.uuid4()) for _ in range(24)]
    refused = set(ids[::6])

    async def submit(workout_id: str) -> httpx.Response:
        return await api.submit(
            token,
            id=workout_id,
            activity="run",
            started_at=run_at(),
            duration_s=1800,
            notes=REFUSED if workout_id in refused else "fine",
        )

    # Sent together, so they share transactions with the refused ones.
    responses = dict(zip(ids, await asyncio.gather(*(submit(i) for i in ids)), strict=True))
    assert {r.status_code for r in responses.values()} <= {202, 503}
    accepted = {i for i, r in responses.items() if r.status_code == 202}
    unavailable = {i for i, r in responses.items() if r.status_code == 503}
    # Each refused workout's transaction failed, and whichever workouts shared it were
    # answered 503 with it (how the burst was grouped is the event loop's business).
    assert refused <= unavailable
    # The next write is not held back by the failed ones.
    later = str(uuid.uuid4())
    assert (await submit(later)).status_code == 202
    accepted.add(later)

    # Every 202'd workout reaches the record; a 503'd one was never queued, so once the
    # others are processed it is known to the API as nothing at all.
    for workout_id in accepted:
        assert (await api.wait_processed(token, workout_id))["id"] == workout_id
    for workout_id in unavailable:
        response = await api.client.get(f"/v1/workouts/{workout_id}", headers=api.auth(token))
        assert response.status_code == 404, response.text
    listed = await api.client.get("/v1/workouts", params={"limit": 100}, headers=api.auth(token))
    assert {item["id"] for item in listed.json()["items"]} == accepted


async def test_a_batch_is_one_write_stored_whole_or_answered_unavailable_whole(
    embedded: tuple[Api, Path],
) -> None:
    api, queue_path = embedded
    token, _ = await api.register("batcher")
    await asyncio.to_thread(refuse_messages_holding, queue_path, REFUSED)

    def item(notes: str) -> dict[str, object]:
        return {"activity": "run", "started_at": run_at(), "duration_s": 1800, "notes": notes}

    async def batch(*items: dict[str, object]) -> list[dict[str, object]]:
        response = await api.client.post(
            "/v1/workouts:batch", json={"workouts": list(items)}, headers=api.auth(token)
        )
        assert response.status_code == 207, response.text
        results: list[dict[str, object]] = response.json()["results"]
        return results

    invalid = {"activity": "run", "started_at": run_at(), "duration_s": -1}
    # One item refused by the disk fails the batch's one transaction: no item is queued,
    # and an item refused by validation is still answered as invalid.
    failed = await batch(item("fine"), item(REFUSED), invalid, item("fine too"))
    assert [r["status"] for r in failed] == ["unavailable", "unavailable", "invalid", "unavailable"]
    assert [r["index"] for r in failed] == [0, 1, 2, 3]

    stored = await batch(item("fine"), invalid, item("fine too"))
    assert [r["status"] for r in stored] == ["queued", "invalid", "queued"]
    ids = {str(r["id"]) for r in stored if r["status"] == "queued"}
    for workout_id in ids:
        await api.wait_processed(token, workout_id)
    listed = await api.client.get("/v1/workouts", params={"limit": 100}, headers=api.auth(token))
    assert {item["id"] for item in listed.json()["items"]} == ids


def _mark_writes() -> float:
    from prometheus_client import REGISTRY

    return (
        REGISTRY.get_sample_value(
            "fitboard_group_commit_write_items_count", {"commit": "sqlite in-flight mark"}
        )
        or 0.0
    )


async def test_a_submission_and_its_in_flight_mark_are_one_write(
    embedded: tuple[Api, Path],
) -> None:
    """Embedded, a workout's in-flight mark is written in its message's transaction (no
    write of the in-flight table's own), so an accepted workout polls as queued (or
    processed) from its 202 on."""
    api, _ = embedded
    token, _ = await api.register("one-write")
    before = _mark_writes()
    single = await api.submit_ok(token, activity="run", started_at=run_at(), duration_s=1800)
    response = await api.client.post(
        "/v1/workouts:batch",
        json={"workouts": [{"activity": "cycle", "started_at": run_at(5), "duration_s": 3600}]},
        headers=api.auth(token),
    )
    assert response.status_code == 207, response.text
    (result,) = response.json()["results"]
    assert result["status"] == "queued", result
    batched = str(result["id"])
    for workout_id in (single, batched):
        polled = await api.client.get(f"/v1/workouts/{workout_id}", headers=api.auth(token))
        assert polled.status_code in (200, 202), polled.text
    assert _mark_writes() == before
    for workout_id in (single, batched):
        await api.wait_processed(token, workout_id)
