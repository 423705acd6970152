"""Embedded mode keeps a message for every consumer from the start, whichever process
opens the data directory first: bootstrap declares the whole topology, so a
`workout.processed` published before the reports consumer ever ran waits for it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from fitboard.application.messaging.ports import Message
from fitboard.application.workouts.messages import WORKOUT_PROCESSED
from fitboard.bootstrap import Role, started, topology
from fitboard.config import Settings


@pytest.mark.parametrize("role", [Role.WORKER, Role.API, Role.MAINTENANCE])
async def test_every_process_declares_the_reports_queue(tmp_path: Path, role: Role) -> None:
    settings = Settings(mode="embedded", data_dir=tmp_path)
    async with started(settings, role) as container:
        assert container.reports_queue in topology(settings.namespace, settings.worker_max_attempts)
        # As the worker publishes it: not mandatory, so a queue that did not exist yet
        # would have dropped it.
        message = Message(WORKOUT_PROCESSED, b"{}", f"{uuid.uuid4()}:processed")
        await container.broker.publish(message, mandatory=False)
        depth = await container.broker.depth(container.reports_queue)
        assert depth.ready == 1
