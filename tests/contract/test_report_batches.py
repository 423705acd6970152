"""The reports consumer in batches, on both engines of the record (and, where messages
flow, both queues): a batch stores what one-at-a-time rebuilds would, a redelivered batch
changes nothing, a malformed message or a deleted athlete's is dead-lettered alone while
the rest of its batch is stored once, and batches sharing athletes never deadlock."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from fitboard.adapters.sql import SqlStore
from fitboard.application.messaging.consuming import run_batch_consumer
from fitboard.application.messaging.ports import Delivery, Message, QueueSpec
from fitboard.application.reports.monthly import MonthlyReports, report_body
from fitboard.domain.activities import Activity
from fitboard.domain.boards import Period
from fitboard.domain.periods import period_range
from fitboard.domain.workouts import Workout, WorkoutStatus

from .queue_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    WAIT_S,
    QueueHarness,
    bounded,
    queues_fixture,
    wait_for_dead_letters,
)
from .store_adapters import (  # noqa: F401
    StatementLog,
    migrated_postgres_url_fixture,
    statement_log_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_store_contract import add_users, contribution, make_user, make_workout

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
MONTHS = ("2026-10", "2026-11")
UTC_ZONE = ZoneInfo("UTC")


class FixedClock:
    def now(self) -> datetime:
        return NOW


def processed(user_id: UUID, day: date) -> Message:
    """A `workout.processed` message, with the fields the reports consumer reads."""
    body = {"user_id": str(user_id), "board_day": day.isoformat(), "id": str(uuid4())}
    return Message("workout.processed", json.dumps(body).encode(), message_id=str(uuid4()))


async def seed(store: SqlStore, athletes: int, rng: random.Random) -> dict[UUID, list[Workout]]:
    """Athletes with workouts and rollups on random days of MONTHS (some none in one):
    the workouts stored, by athlete."""
    users = [make_user(f"athlete{i}") for i in range(athletes)]
    stored: dict[UUID, list[Workout]] = {user.id: [] for user in users}
    await add_users(store, *users)
    async with store.unit_of_work() as uow:
        for user in users:
            for _ in range(rng.randrange(0, 7)):
                day = date(2026, rng.choice((10, 11)), rng.randrange(1, 29))
                started = datetime(day.year, day.month, day.day, rng.randrange(5, 20), tzinfo=UTC)
                activity = rng.choice((Activity.RUN, Activity.CYCLE, Activity.SWIM))
                points = rng.randrange(0, 60)
                workout = replace(
                    make_workout(user.id, started, activity=activity),
                    status=WorkoutStatus.PROCESSED,
                    points=points,
                    flag_reason=None,
                )
                await uow.workouts.add(workout)
                stored[user.id].append(workout)
                await uow.rollups.add(
                    user.id,
                    day,
                    activity,
                    contribution(
                        started + timedelta(minutes=30),
                        calories=rng.uniform(50, 700),
                        distance_m=rng.uniform(0, 20_000),
                        duration_s=rng.randrange(600, 7200),
                        points=points,
                    ),
                )
        await uow.commit()
    return stored


async def one_at_a_time(
    store: SqlStore, seeded: dict[UUID, list[Workout]], user_id: UUID, month: str
) -> dict[str, object]:
    """The report as the consumer built it before batches, from the athlete's own totals
    read alone; the best workout picked here from what `seed` stored: the most points,
    ties to the earlier start, then the smaller id."""
    rng = period_range(Period.MONTH, month)
    async with store.unit_of_work(read_only=True) as uow:
        totals = await uow.rollups.totals(user_id, rng.first, rng.last)
    in_month = [w for w in seeded.get(user_id, []) if w.board_day.isoformat()[:7] == month]
    best = min(in_month, key=lambda w: (-w.points, w.submission.started_at, w.id), default=None)
    return report_body(month, totals, best)


async def stored(
    store: SqlStore, pairs: Sequence[tuple[UUID, str]]
) -> dict[tuple[UUID, str], object]:
    async with store.unit_of_work(read_only=True) as uow:
        found = {pair: await uow.reports.get(*pair) for pair in pairs}
    return {
        pair: None if r is None else (json.loads(r.body), r.updated_at) for pair, r in found.items()
    }


async def test_a_batch_stores_the_reports_one_at_a_time_would(store: SqlStore) -> None:
    rng = random.Random(12)
    seeded = await seed(store, 12, rng)
    athletes = list(seeded)
    wanted = [(a, m) for a in athletes for m in MONTHS]
    # Every (athlete, month) at least once, many twice or more, in no order.
    pairs = wanted + rng.choices(wanted, k=30)
    rng.shuffle(pairs)
    reports = MonthlyReports(store, FixedClock(), UTC_ZONE)
    rebuilt, missing = await reports.rebuild_months(pairs)
    assert missing == set()
    expected = {pair: await one_at_a_time(store, seeded, *pair) for pair in wanted}
    assert rebuilt == expected
    assert await stored(store, wanted) == {pair: (body, NOW) for pair, body in expected.items()}
    # The data is not trivial: reports differ, some have a best workout, some have none.
    assert len({json.dumps(b, sort_keys=True) for b in expected.values()}) > len(wanted) // 2
    assert any(b["best_workout"] is None for b in expected.values())
    assert any(b["best_workout"] is not None for b in expected.values())


async def test_the_best_workout_is_the_days_counted_one_with_most_points_ties_to_the_earlier(
    store: SqlStore,
) -> None:
    ada, bob, cy = make_user("ada"), make_user("bob"), make_user("cy")
    await add_users(store, ada, bob, cy)

    def workout(
        user: UUID,
        day: int,
        hour: int,
        points: int,
        status: WorkoutStatus = WorkoutStatus.PROCESSED,
        flag_reason: str | None = None,
    ) -> Workout:
        started = datetime(2026, 11, day, hour, tzinfo=UTC)
        return replace(
            make_workout(user, started), status=status, points=points, flag_reason=flag_reason
        )

    # Ada's best of November: 40 points twice, the earlier start wins; more points outside
    # the days asked, or on a workout not counted (flagged, rejected), do not count.
    later_tie = workout(ada.id, 20, 9, 40)
    earlier_tie = workout(ada.id, 12, 9, 40)
    ada_workouts = [
        workout(ada.id, 3, 7, 10),
        later_tie,
        earlier_tie,
        workout(ada.id, 25, 6, 99, status=WorkoutStatus.FLAGGED, flag_reason="too fast"),
        workout(ada.id, 26, 6, 98, status=WorkoutStatus.REJECTED),
        replace(workout(ada.id, 1, 6, 97), board_day=date(2026, 10, 31)),
        replace(workout(ada.id, 1, 7, 96), board_day=date(2026, 12, 1)),
    ]
    # Bob's two at the same start and points: the smaller id wins.
    same = [workout(bob.id, 9, 8, 30), workout(bob.id, 9, 8, 30)]
    async with store.unit_of_work() as uow:
        for w in [*ada_workouts, *same]:
            await uow.workouts.add(w)
        await uow.commit()
    november = (date(2026, 11, 1), date(2026, 11, 30))
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.reports.best_workouts(
            [(bob.id, *november), (ada.id, *november), (cy.id, *november), (ada.id, *november)]
        )
    assert [w.id if w else None for w in found] == [
        min(w.id for w in same),
        earlier_tie.id,
        None,
        earlier_tie.id,
    ]
    # The whole workout, as stored.
    assert found[1] == earlier_tie


async def test_a_batch_takes_four_statements_however_many_reports_it_rebuilds(
    store: SqlStore, statement_log: StatementLog
) -> None:
    seeded = await seed(store, 10, random.Random(4))
    athletes = list(seeded)
    reports = MonthlyReports(store, FixedClock(), UTC_ZONE)
    for pairs in ([(athletes[0], MONTHS[0])], [(a, m) for a in athletes for m in MONTHS]):
        statement_log.clear()
        await reports.rebuild_months([*pairs, (uuid4(), MONTHS[1])])
        # The athletes' locks, their totals, their best workouts, the reports.
        assert len(statement_log.queries()) == 4, statement_log.queries()


async def test_a_redelivered_batch_changes_nothing(store: SqlStore) -> None:
    seeded = await seed(store, 6, random.Random(3))
    athletes = list(seeded)
    pairs = [(a, m) for a in athletes for m in MONTHS]
    reports = MonthlyReports(store, FixedClock(), UTC_ZONE)
    await reports.rebuild_months(pairs)
    first = await stored(store, pairs)
    async with store.unit_of_work() as uow:
        await uow.reports.set_final_rank(athletes[0], MONTHS[0], 4)
        await uow.commit()
    await reports.rebuild_months(pairs)
    again = await stored(store, pairs)
    assert again == first
    async with store.unit_of_work(read_only=True) as uow:
        kept = await uow.reports.get(athletes[0], MONTHS[0])
    # A rebuild replaces the body and keeps the final rank.
    assert kept is not None
    assert kept.final_rank == 4


async def test_batches_sharing_athletes_never_deadlock(store: SqlStore) -> None:
    """Many batches at once, each over an overlapping set of athletes named in its own
    order: each takes its athletes' locks in one order, so all of them commit (on
    PostgreSQL each on its own connection; on SQLite they take turns on the file)."""
    rng = random.Random(7)
    seeded = await seed(store, 8, rng)
    athletes = list(seeded)
    reports = MonthlyReports(store, FixedClock(), UTC_ZONE)
    batches = []
    for _ in range(12):
        chosen = rng.sample(athletes, 5)
        batches.append([(a, m) for a in chosen for m in MONTHS])
    for _ in range(3):
        results = await asyncio.gather(*(reports.rebuild_months(b) for b in batches))
        assert all(missing == set() for _, missing in results)
    pairs = sorted({p for b in batches for p in b})
    assert await stored(store, pairs) == {
        pair: (await one_at_a_time(store, seeded, *pair), NOW) for pair in pairs
    }


class Recorded:
    """The reports' batch handler, recording the message ids of every batch handed to it."""

    def __init__(self, reports: MonthlyReports) -> None:
        self._reports = reports
        self.calls: list[list[str]] = []

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        self.calls.append([d.message.message_id for d in deliveries])
        await self._reports.handle_processed_batch(deliveries)


async def consume(
    queues: QueueHarness, spec: QueueSpec, handler: Recorded, messages: int, dead: int
) -> None:
    """Run the reports consumer until it was handed `messages` messages and the queue
    holds `dead` dead letters; then stop it (which finishes what it holds)."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_batch_consumer(queues.broker, spec, handler, prefetch=64, batch_size=32, stop=stop)
    )
    try:
        await wait_for_dead_letters(queues, spec, dead)
        async with asyncio.timeout(WAIT_S):
            while True:
                if sum(len(c) for c in handler.calls) >= messages:
                    break
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        async with asyncio.timeout(WAIT_S):
            await task


@bounded()
async def test_a_malformed_message_is_dead_lettered_alone_and_its_batch_stored_once(
    store: SqlStore, queues: QueueHarness
) -> None:
    spec = await queues.declare("reports", ("workout.processed",))
    seeded = await seed(store, 5, random.Random(5))
    athletes = list(seeded)
    good = [processed(a, date(2026, 11, 9)) for a in athletes]
    poison = Message("workout.processed", b'{"user_id": "nobody"}', message_id="poison")
    messages = [*good[:2], poison, *good[2:]]
    assert all(o is None for o in await queues.broker.publish_many(messages))
    handler = Recorded(MonthlyReports(store, FixedClock(), UTC_ZONE))
    await consume(queues, spec, handler, len(messages), dead=1)

    [dead] = await queues.broker.dead_letters(spec)
    assert dead.message == poison
    assert dead.reason.startswith("malformed workout.processed message")
    assert (await stored(store, [(a, "2026-11") for a in athletes])) == {
        (a, "2026-11"): (await one_at_a_time(store, seeded, a, "2026-11"), NOW) for a in athletes
    }
    # The poison shared a batch with valid messages, and no message was handed over twice:
    # the batch was not split and handled again half by half.
    assert any("poison" in call and len(call) > 1 for call in handler.calls)
    assert Counter(i for call in handler.calls for i in call) == Counter(
        m.message_id for m in messages
    )


@bounded()
async def test_a_deleted_athletes_message_is_dead_lettered_alone_and_its_batch_stored_once(
    store: SqlStore, queues: QueueHarness
) -> None:
    spec = await queues.declare("reports", ("workout.processed",))
    seeded = await seed(store, 5, random.Random(9))
    athletes = list(seeded)
    gone = uuid4()  # an athlete who deleted the account after the workout was processed
    good = [processed(a, date(2026, 10, 20)) for a in athletes]
    orphan = processed(gone, date(2026, 10, 21))
    messages = [*good[:3], orphan, *good[3:]]
    assert all(o is None for o in await queues.broker.publish_many(messages))
    handler = Recorded(MonthlyReports(store, FixedClock(), UTC_ZONE))
    await consume(queues, spec, handler, len(messages), dead=1)

    [dead] = await queues.broker.dead_letters(spec)
    assert (dead.message, dead.reason, dead.attempts) == (orphan, f"no athlete with id {gone}", 1)
    assert (await stored(store, [(a, "2026-10") for a in athletes])) == {
        (a, "2026-10"): (await one_at_a_time(store, seeded, a, "2026-10"), NOW) for a in athletes
    }
    assert await stored(store, [(gone, "2026-10")]) == {(gone, "2026-10"): None}
    assert any(orphan.message_id in call and len(call) > 1 for call in handler.calls)
    assert Counter(i for call in handler.calls for i in call) == Counter(
        m.message_id for m in messages
    )
