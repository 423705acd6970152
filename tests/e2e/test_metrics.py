"""Metrics appear and move when workouts flow: the API's /metrics in process, and a
worker's own metrics port."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from fitboard.adapters.queue_sqlite import SqliteBroker
from fitboard.application.messaging.ports import Message
from fitboard.application.workouts.messages import WORKOUT_SUBMITTED, workouts_queue
from fitboard.bootstrap import Container
from fitboard.entrypoints.api.operations_sampler import sample_once
from tests.e2e.conftest import Api, run_at
from tests.integration.processes import eventually, free_port

from ..contract.queue_adapters import bounded

FITBOARD = str(Path(sys.executable).with_name("fitboard"))


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text `text` (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


async def test_the_api_counts_answers_by_route_and_its_worker_what_it_settled(api: Api) -> None:
    assert api.app is not None
    queue = api.app.state.container.workouts_queue.name
    before = (await api.client.get("/metrics")).text
    token, _ = await api.register("ada")
    workout_id = await api.submit_ok(token, activity="run", started_at=run_at(), duration_s=1800)
    await api.wait_processed(token, workout_id)
    refused = await api.submit(token, activity="run", started_at=run_at(), duration_s=-1)
    assert refused.status_code == 422
    assert (await api.client.get("/v1/nowhere")).status_code == 404
    after = (await api.client.get("/metrics")).text

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    route = {"method": "POST", "route": "/v1/workouts"}
    assert moved("fitboard_http_requests_total", **route, status="202") == 1
    assert moved("fitboard_http_requests_total", **route, status="422") == 1
    assert moved("fitboard_http_requests_total", method="GET", route="unmatched", status="404") == 1
    # The path's template, not the workout's own path.
    polled = {"method": "GET", "route": "/v1/workouts/{workout_id}", "status": "200"}
    assert moved("fitboard_http_requests_total", **polled) >= 1
    assert moved("fitboard_http_request_duration_seconds_count", **route) == 2
    if api.app.state.container.embedded:
        # The worker runs in this process: its metrics are served here too. The workout
        # reads as processed once its transaction commits; the ack (and its count) comes
        # after the projection, so wait for it rather than race it.
        first = {"achievement": "first-workout"}

        async def settled() -> bool:
            now = (await api.client.get("/metrics")).text
            acked = {"queue": queue, "outcome": "acked"}
            return (
                sample(now, "fitboard_messages_settled_total", **acked)
                - sample(before, "fitboard_messages_settled_total", **acked)
                >= 1
                and sample(now, "fitboard_workout_freshness_seconds_count")
                - sample(before, "fitboard_workout_freshness_seconds_count")
                >= 1
                and sample(now, "fitboard_consumer_batch_messages_count", queue=queue)
                - sample(before, "fitboard_consumer_batch_messages_count", queue=queue)
                >= 1
                # Ada's first workout.
                and sample(now, "fitboard_achievements_awarded_total", **first)
                - sample(before, "fitboard_achievements_awarded_total", **first)
                == 1
            )

        await eventually(settled, within_s=30, every_s=0.1)


@bounded(90)
async def test_a_worker_serves_its_metrics_on_its_own_port(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITBOARD_")}
    env |= {
        "FITBOARD_MODE": "embedded",
        "FITBOARD_DATA_DIR": str(tmp_path),
        "FITBOARD_METRICS_PORT": str(port),
    }
    worker = subprocess.Popen(  # noqa: ASYNC220 - started once, then only polled
        [FITBOARD, "worker"], env=env, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        async with httpx.AsyncClient(trust_env=False) as client:

            async def scrape() -> str | None:
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/metrics")
                except httpx.TransportError:
                    return None
                return answer.text

            await eventually(lambda: scrape_ok(scrape), within_s=60, every_s=0.2)
            queue = workouts_queue("fitboard", 5)
            # A poison message on the worker's queue: the worker dead-letters it.
            publisher = SqliteBroker(tmp_path / "queue.db")
            try:
                await publisher.publish(Message(WORKOUT_SUBMITTED, b"[]", str(uuid.uuid4())))
            finally:
                await publisher.close()

            async def dead_lettered() -> bool:
                text = await scrape()
                labels = {"queue": queue.name, "outcome": "dead_lettered"}
                return (
                    text is not None
                    and sample(text, "fitboard_messages_settled_total", **labels) == 1
                )

            await eventually(dead_lettered, within_s=30, every_s=0.2)
            # The worker's own database pool (every process with a store exports it).
            text = await scrape()
            assert text is not None
            assert sample(text, "fitboard_database_pool_max_connections") > 0
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 30)


async def scrape_ok(scrape: Callable[[], Awaitable[str | None]]) -> bool:
    text = await scrape()
    return text is not None and "fitboard_messages_settled_total" in text


async def test_the_backlog_and_the_boards_are_sampled_for_metrics(api: Api) -> None:
    assert api.app is not None
    container: Container = api.app.state.container
    queue = container.workouts_queue.name
    token, _ = await api.register("ada")
    workout_id = await api.submit_ok(token, activity="run", started_at=run_at(), duration_s=1800)
    await api.wait_processed(token, workout_id)
    await api.board(token, "points/all")  # loads the board
    await container.broker.publish(Message(WORKOUT_SUBMITTED, b"[]", str(uuid.uuid4())))

    async def dead_lettered() -> bool:
        return (await container.broker.depth(container.workouts_queue)).dead_letters == 1

    await eventually(dead_lettered, within_s=30, every_s=0.1)
    await sample_once(container.services.operations)
    text = (await api.client.get("/metrics")).text
    assert sample(text, "fitboard_queue_messages", queue=queue, state="dead_letters") == 1
    assert sample(text, "fitboard_queue_messages", queue=queue, state="ready") == 0
    assert sample(text, "fitboard_boards") >= 1
    assert sample(text, "fitboard_largest_board_entries") >= 1
    if not container.embedded:
        assert sample(text, "fitboard_redis_memory_used_bytes") > 0
        assert sample(text, "fitboard_queue_consumers", queue=queue) >= 1
