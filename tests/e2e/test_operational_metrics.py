"""The metrics of issue 18 move when workouts flow, in both modes: the queue's shared
publishes (publish-to-confirm time, messages per write), the database pool, and the age
of the oldest unprocessed workout."""

from __future__ import annotations

import asyncio
import uuid

from fitboard.bootstrap import Container
from fitboard.entrypoints.api.operations_sampler import sample_once
from tests.e2e.conftest import Api, run_at
from tests.e2e.test_metrics import sample

OLDEST = "fitboard_oldest_unprocessed_workout_age_seconds"


async def test_publishes_the_pool_and_the_oldest_unprocessed_workout(api: Api) -> None:
    assert api.app is not None
    container: Container = api.app.state.container
    commit = {"commit": "sqlite queue publish" if container.embedded else "rabbitmq publish"}
    before = (await api.client.get("/metrics")).text
    token, _ = await api.register("ada")
    ids = await asyncio.gather(
        *(
            api.submit_ok(token, activity="run", started_at=run_at(hours), duration_s=1800)
            for hours in (2, 4, 6)
        )
    )
    for workout_id in ids:
        await api.wait_processed(token, workout_id)
    await sample_once(container.services.operations, boards=False)
    after = (await api.client.get("/metrics")).text

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    # Three submissions in shared writes (and, the worker being in this process, its
    # workout.processed events); each write timed. A publish of the worker's may still be
    # in a write as /metrics is read: the group commit observes both histograms once a
    # write has ended, so they count the same writes.
    writes = moved("fitboard_group_commit_write_items_count", **commit)
    assert writes >= 1
    assert moved("fitboard_group_commit_write_items_sum", **commit) >= 3
    assert moved("fitboard_group_commit_write_duration_seconds_count", **commit) == writes
    assert moved("fitboard_group_commit_write_duration_seconds_sum", **commit) > 0
    # The pool of this process's store: open connections, none held between requests.
    assert sample(after, "fitboard_database_pool_max_connections") > 0
    assert sample(after, "fitboard_database_pool_connections", state="idle") >= 1
    # Processed workouts are no longer waiting.
    assert sample(after, OLDEST) == 0

    # A workout accepted whose message has not reached the record (a stopped worker):
    # the gauge counts from its 202, and drops once it is processed (its mark cleared).
    waiting = uuid.uuid4()
    await container.inflight.mark(waiting, uuid.uuid4())
    await asyncio.sleep(1.1)
    await sample_once(container.services.operations, boards=False)
    assert sample((await api.client.get("/metrics")).text, OLDEST) >= 1
    await container.inflight.clear_many([waiting])
    await sample_once(container.services.operations, boards=False)
    assert sample((await api.client.get("/metrics")).text, OLDEST) == 0
