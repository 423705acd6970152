"""`Ingest.submit_workouts` on its own: one time of acceptance for the whole batch."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from fitboard.application.messaging.ports import Message, MessageBroker
from fitboard.application.ports import QueueUnavailable, Store
from fitboard.application.workouts.ingest import Ingest, SubmitWorkout
from fitboard.application.workouts.ports import InFlightWorkouts, WorkoutsUnit
from fitboard.domain.activities import Activity

START = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class SteppingClock:
    """A second later at every reading."""

    def __init__(self) -> None:
        self.readings = 0

    def now(self) -> datetime:
        self.readings += 1
        return START + timedelta(seconds=self.readings)


class Broker:
    def __init__(self) -> None:
        self.published: list[Message] = []

    async def publish_many(
        self, messages: Sequence[Message], *, mandatory: bool = True
    ) -> list[QueueUnavailable | None]:
        self.published.extend(messages)
        return [None] * len(messages)


class Marks:
    def __init__(self) -> None:
        self.marked: list[tuple[uuid.UUID, uuid.UUID]] = []

    async def mark_many(self, marks: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        self.marked.extend(marks)


def _body(message: Message) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(message.body)
    return body


async def test_a_batch_is_submitted_at_one_time_and_each_item_is_marked() -> None:
    broker, marks, clock = Broker(), Marks(), SteppingClock()
    ingest = Ingest(
        cast(MessageBroker, broker),
        cast(InFlightWorkouts, marks),
        cast(Store[WorkoutsUnit], None),
        clock,
        clock_skew_s=300,
    )
    athlete = uuid.uuid4()
    commands = [
        SubmitWorkout(
            user_id=athlete,
            activity=Activity.RUN,
            started_at=START - timedelta(hours=2, minutes=n),
            duration_s=600,
            distance_m=2000.0,
        )
        for n in range(3)
    ]

    outcomes = await ingest.submit_workouts(commands)

    assert all(isinstance(outcome, uuid.UUID) for outcome in outcomes)
    bodies = [_body(message) for message in broker.published]
    assert [body["id"] for body in bodies] == [str(outcome) for outcome in outcomes]
    # One reading of the clock, the batch's time of acceptance for all three.
    submitted = {datetime.fromisoformat(body["submitted_at"]) for body in bodies}
    assert submitted == {START + timedelta(seconds=1)}
    assert marks.marked == [(outcome, athlete) for outcome in outcomes]
