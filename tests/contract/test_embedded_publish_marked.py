"""Embedded mode writes an accepted workout's message and its in-flight mark in one
transaction (`SqliteInFlight.publish_marked`, the queue's `publish_many_then`): the mark
if and only if the message is stored, so a stored workout polls as queued and a refused
one is not marked."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.application.messaging.ports import Message
from fitboard.application.ports import QueueUnavailable
from tests.sqlite_refusals import refuse_inserts, refuse_messages_holding

from .queue_adapters import bounded
from .sqlite_queue_file import (  # noqa: F401 (fixtures, found by name)
    broker_fixture,
    inflight_fixture,
    queue_file_fixture,
    stored_messages,
)


def _writes(commit: str) -> float:
    return (
        REGISTRY.get_sample_value("fitboard_group_commit_write_items_count", {"commit": commit})
        or 0.0
    )


@bounded(30)
async def test_a_stored_message_and_its_mark_are_one_write(
    queue_file: Path, inflight: SqliteInFlight
) -> None:
    """One write each time: the first also purges the expired marks (once a minute), in
    the same write."""
    await inflight.owner(uuid.uuid4())  # opens the table before counting writes
    for round_ in range(2):
        workouts = [(uuid.uuid4(), uuid.uuid4()) for _ in range(3)]
        ids = [f"m{round_}-{n}" for n in range(3)]
        queue_writes = _writes("sqlite queue publish")
        mark_writes = _writes("sqlite in-flight mark")
        outcomes = await inflight.publish_marked(
            [(Message("work.item", b"w", i), w, u) for i, (w, u) in zip(ids, workouts, strict=True)]
        )
        assert outcomes == [None, None, None]
        assert set(ids) <= stored_messages(queue_file)
        for workout_id, user_id in workouts:
            assert await inflight.owner(workout_id) == user_id
        assert _writes("sqlite queue publish") == queue_writes + 1
        assert _writes("sqlite in-flight mark") == mark_writes


@bounded(30)
async def test_a_refused_message_is_not_marked(queue_file: Path, inflight: SqliteInFlight) -> None:
    await inflight.owner(uuid.uuid4())
    refuse_messages_holding(queue_file, "poison")
    workout_id = uuid.uuid4()
    (outcome,) = await inflight.publish_marked(
        [(Message("work.item", b"poison", "m-poison"), workout_id, uuid.uuid4())]
    )
    assert isinstance(outcome, QueueUnavailable)
    assert await inflight.owner(workout_id) is None
    assert stored_messages(queue_file) == set()


@bounded(30)
async def test_a_message_no_queue_takes_is_refused_and_not_marked(
    queue_file: Path, inflight: SqliteInFlight
) -> None:
    routed, unrouted = uuid.uuid4(), uuid.uuid4()
    outcomes = await inflight.publish_marked(
        [
            (Message("work.item", b"w", "m-routed"), routed, uuid.uuid4()),
            (Message("elsewhere.item", b"w", "m-unrouted"), unrouted, uuid.uuid4()),
        ]
    )
    assert outcomes[0] is None
    assert isinstance(outcomes[1], QueueUnavailable)
    assert await inflight.owner(routed) is not None
    assert await inflight.owner(unrouted) is None
    assert stored_messages(queue_file) == {"m-routed"}


@bounded(30)
async def test_a_refused_mark_leaves_its_message_stored(
    queue_file: Path, inflight: SqliteInFlight
) -> None:
    """The mark only serves polling; a workout safely queued is accepted without it."""
    await inflight.owner(uuid.uuid4())
    refused_owner = uuid.uuid4()
    refuse_inserts(queue_file, "inflight_workouts", f"NEW.user_id = '{refused_owner}'")
    workout_id = uuid.uuid4()
    (outcome,) = await inflight.publish_marked(
        [(Message("work.item", b"w", "m-kept"), workout_id, refused_owner)]
    )
    assert outcome is None
    assert stored_messages(queue_file) == {"m-kept"}
    assert await inflight.owner(workout_id) is None


@bounded(30)
async def test_a_table_of_its_own_does_not_publish(tmp_path: Path) -> None:
    inflight = SqliteInFlight(tmp_path / "inflight.db")
    try:
        with pytest.raises(RuntimeError):
            await inflight.publish_marked([])
    finally:
        await inflight.close()
