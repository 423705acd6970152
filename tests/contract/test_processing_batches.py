"""A batch of submissions, processed in one unit (`Processing.process_batch`), ends exactly
where processing them one at a time in the same order ends: the same record, the same
awards, the same board scores. Redelivering a whole batch changes nothing; two batches
holding the same athletes at once neither deadlock nor lose a workout. On SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.ranking_memory import MemoryRanking
from fitboard.adapters.sql import SqlStore
from fitboard.application.achievements.judging import award_for_workout, read_for_judging
from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.workouts.processing import (
    Overtaken,
    Processed,
    Processing,
    RankChange,
)
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardKey, RankedEntry, Standing, VersionedStanding
from fitboard.domain.recordings import FileFormat, Recording
from fitboard.domain.workouts import WorkoutStatus, WorkoutSubmission

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    migrated_postgres_url_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_records_order import CATALOG, NOW, RULES, FixedClock
from .test_store_contract import T0, add_users, make_user

# (day, minutes, metres, activity) of one workout; the shipped catalog judges them.
Spec = tuple[int, int, float, Activity]


class Worker:
    """The worker's use case over the store under test, with boards of its own."""

    def __init__(self, store: SqlStore, tmp_path: Path, name: str) -> None:
        self.store = store
        self.ranking = MemoryRanking()
        self.inflight = SqliteInFlight(tmp_path / f"inflight-{name}.db")
        self.processing = Processing(
            store, self.ranking, self.inflight, FixedClock(), RULES, achievement_rules=CATALOG
        )

    async def one_at_a_time(self, batch: Sequence[WorkoutSubmission]) -> list[Processed]:
        return [await self.processing.process_submission(s) for s in batch]

    async def scores(self, user_id: UUID, keys: set[BoardKey]) -> dict[str, int | None]:
        """The athlete's score on each board."""
        found: dict[str, int | None] = {}
        for key in keys:
            found[str(key)] = (await self.ranking.scores(key)).get(user_id)
        return found


@pytest.fixture(name="workers")
async def workers_fixture(store: SqlStore, tmp_path: Path) -> AsyncIterator[list[Worker]]:
    workers = [Worker(store, tmp_path, "single"), Worker(store, tmp_path, "batched")]
    yield workers
    for worker in workers:
        await worker.inflight.close()


async def athlete(store: SqlStore) -> UUID:
    user = make_user(f"a{uuid4().hex[:12]}")
    await add_users(store, user)
    return user.id


def submission(user_id: UUID, n: int, spec: Spec) -> WorkoutSubmission:
    day, minutes, metres, activity = spec
    return WorkoutSubmission(
        id=UUID(int=(user_id.int >> 64 << 64) | n),
        user_id=user_id,
        activity=activity,
        started_at=T0 + timedelta(days=day, hours=n % 12),
        duration_s=minutes * 60,
        submitted_at=NOW,
        distance_m=metres,
    )


async def held(store: SqlStore, user_id: UUID) -> set[tuple[str, str]]:
    """(achievement, period key) held, with workout ids reduced to their own numbering."""
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.achievements.for_user(user_id)
    return {(h.achievement_id, h.period_key.split("-")[-1]) for h in found}


async def stored(store: SqlStore, user_id: UUID) -> list[tuple[int, str, int]]:
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.workouts.list_for_user(user_id, limit=100)
    return sorted((w.id.int & 0xFFFF, w.status.value, w.points) for w in found)


def awarded(batch: Sequence[Processed]) -> list[list[tuple[str, int]]]:
    return [
        sorted((a.rule.id, a.workout_id.int & 0xFFFF if a.workout_id else -1) for a in p.awarded)
        for p in batch
    ]


specs = st.tuples(
    st.integers(0, 3),
    st.sampled_from([20, 45, 90]),
    st.sampled_from([0.0, 3000.0, 5000.0, 10000.0, 21100.0]),
    st.sampled_from([Activity.RUN, Activity.CYCLE]),
)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=st.lists(specs, min_size=2, max_size=8), cut=st.integers(1, 7))
async def test_a_batch_ends_where_one_at_a_time_ends(
    workers: list[Worker], plan: list[Spec], cut: int
) -> None:
    single, batched = workers
    one, other = await athlete(single.store), await athlete(batched.store)
    # The same workouts for each athlete, a second athlete's in between in the batch.
    bystander = await athlete(batched.store)
    alone = [submission(one, n, spec) for n, spec in enumerate(plan)]
    mine = [submission(other, n, spec) for n, spec in enumerate(plan)]
    theirs = [submission(bystander, 100 + n, spec) for n, spec in enumerate(plan)]
    together = [s for pair in zip(mine, theirs, strict=True) for s in pair]

    expected = await single.one_at_a_time(alone)
    cut = min(cut, len(together) - 1)
    got = await batched.processing.process_batch(together[:cut])
    got += await batched.processing.process_batch(together[cut:])
    got_mine = [p for p in got if p.workout.user_id == other]

    assert [p.workout.id for p in got] == [s.id for s in together]
    assert awarded(got_mine) == awarded(expected)
    assert await held(batched.store, other) == await held(single.store, one)
    assert await stored(batched.store, other) == await stored(single.store, one)
    keys = {u.key for p in expected for u in p.updates}
    assert await batched.scores(other, keys) == await single.scores(one, keys)

    # The whole batch again, as after a crash before its ack: nothing changes.
    again = await batched.processing.process_batch(together)
    assert all(p.duplicate and not p.awarded for p in again)
    assert await held(batched.store, other) == await held(single.store, one)
    assert await batched.scores(other, keys) == await single.scores(one, keys)


async def test_two_workouts_of_one_athlete_in_a_batch_award_what_one_at_a_time_does(
    workers: list[Worker],
) -> None:
    single, batched = workers
    one, other = await athlete(single.store), await athlete(batched.store)
    # Two half marathons: the second reaches a cumulative distance the first does not.
    plan: list[Spec] = [(0, 110, 21100.0, Activity.RUN), (0, 115, 21100.0, Activity.RUN)]
    expected = await single.one_at_a_time([submission(one, n, s) for n, s in enumerate(plan)])
    got = await batched.processing.process_batch(
        [submission(other, n, s) for n, s in enumerate(plan)]
    )
    assert awarded(got) == awarded(expected)
    assert awarded(got)[0] != awarded(got)[1]
    # The athlete's board moves are told once, with their last workout of the batch.
    assert got[0].rank_changes == []
    assert got[1].version == got[0].version
    assert await held(batched.store, other) == await held(single.store, one)


async def test_a_batch_tells_each_athletes_moves_and_whom_they_passed_once(
    workers: list[Worker],
) -> None:
    single, batched = workers
    one, other = await athlete(single.store), await athlete(batched.store)
    plan: list[Spec] = [(0, 30, 5000.0, Activity.RUN), (0, 40, 6000.0, Activity.RUN)]
    (alone,) = await single.one_at_a_time([submission(one, 0, plan[0])])
    keys = {u.key for u in alone.updates}
    # Every board the workouts move is loaded, with a rival on 1 on it.
    rival = uuid4()
    for key in keys:
        await batched.ranking.load(key, [VersionedStanding(Standing(rival, 1, T0), 1)])

    first, last = await batched.processing.process_batch(
        [submission(other, n, spec) for n, spec in enumerate(plan)]
    )

    assert (first.rank_changes, first.overtaken) == ([], [])
    scored = [(u.key, u.score) for u in last.updates if u.score is not None]
    assert {key for key, _ in scored} <= keys
    # New on every board: first (a tie with the rival shares their rank), and past the
    # rival wherever above them.
    assert last.rank_changes == [
        RankChange(key, None, RankedEntry(1, other, score)) for key, score in scored
    ]
    assert last.overtaken == [
        Overtaken(key, RankedEntry(2, rival, 1)) for key, score in scored if score > 1
    ]
    assert any(score == 1 for _, score in scored)
    assert any(score > 1 for _, score in scored)


async def test_a_failing_submission_rolls_the_whole_batch_back(workers: list[Worker]) -> None:
    _, batched = workers
    user_id = await athlete(batched.store)
    good = submission(user_id, 1, (0, 30, 5000.0, Activity.RUN))
    stranger = submission(uuid4(), 2, (0, 30, 5000.0, Activity.RUN))
    with pytest.raises(PermanentFailure, match="no athlete"):
        await batched.processing.process_batch([good, stranger])
    assert await stored(batched.store, user_id) == []
    # Alone, the good one goes through.
    (processed,) = await batched.processing.process_batch([good])
    assert not processed.duplicate
    assert await stored(batched.store, user_id) != []


async def test_two_batches_holding_the_same_athletes_at_once_both_commit(
    workers: list[Worker],
) -> None:
    first, second = workers
    athletes = [await athlete(first.store) for _ in range(4)]
    rounds = 3
    for r in range(rounds):
        # Opposite orders of the same athletes: locks taken in batch order would deadlock.
        forward = [
            submission(a, 10 * r + i, (0, 30, 5000.0, Activity.RUN)) for i, a in enumerate(athletes)
        ]
        backward = [
            submission(a, 10 * r + 5 + i, (0, 30, 5000.0, Activity.RUN))
            for i, a in enumerate(reversed(athletes))
        ]
        async with asyncio.timeout(30):
            await asyncio.gather(
                first.processing.process_batch(forward), second.processing.process_batch(backward)
            )
    for user_id in athletes:
        assert len(await stored(first.store, user_id)) == 2 * rounds


async def test_duplicates_within_a_batch_are_judged_as_one_at_a_time_judges_them(
    workers: list[Worker],
) -> None:
    single, batched = workers
    one, other = await athlete(single.store), await athlete(batched.store)

    def plan(user_id: UUID) -> list[WorkoutSubmission]:
        run = submission(user_id, 1, (0, 60, 10000.0, Activity.RUN))
        recording = Recording(FileFormat.GPX, "run.gpx", f"gpx-{user_id}")
        recorded = replace(run, id=UUID(int=run.id.int + 1), recording=recording, source="gpx")
        later = submission(user_id, 5, (0, 30, 5000.0, Activity.RUN))
        # The run, its file (the same activity: stored rejected), the run delivered again,
        # then the file's twin typed in again with another id (a duplicate of the run).
        again = replace(recorded, id=UUID(int=run.id.int + 2), recording=None, source="manual")
        return [run, recorded, run, later, again]

    expected = await single.one_at_a_time(plan(one))
    got = await batched.processing.process_batch(plan(other))
    assert [(p.duplicate, p.workout.status) for p in got] == [
        (p.duplicate, p.workout.status) for p in expected
    ]
    assert [p.workout.status.value for p in got][:3] == ["processed", "rejected", "processed"]
    assert got[2].duplicate
    assert await stored(batched.store, other) == await stored(single.store, one)
    assert awarded(got) == awarded(expected)


async def test_an_id_of_another_athletes_workout_fails_the_batch_stored_or_in_it(
    workers: list[Worker],
) -> None:
    _, batched = workers
    ada, grace = await athlete(batched.store), await athlete(batched.store)
    (first,) = await batched.processing.process_batch(
        [submission(ada, 1, (0, 30, 5000.0, Activity.RUN))]
    )
    stolen = replace(submission(grace, 2, (3, 30, 5000.0, Activity.RUN)), id=first.workout.id)
    twice = submission(ada, 3, (1, 30, 5000.0, Activity.RUN))
    for batch in (
        [submission(grace, 4, (0, 45, 5000.0, Activity.RUN)), stolen],
        [twice, replace(submission(grace, 5, (2, 30, 5000.0, Activity.RUN)), id=twice.id)],
    ):
        with pytest.raises(PermanentFailure, match="belongs to another athlete"):
            await batched.processing.process_batch(batch)
    assert await stored(batched.store, grace) == []
    assert len(await stored(batched.store, ada)) == 1


async def test_a_batch_reads_what_is_stored_under_an_id_its_athletes_next_workout_rests_on(
    workers: list[Worker],
) -> None:
    single, batched = workers
    one, other = await athlete(single.store), await athlete(batched.store)

    async def reject(store: SqlStore, workout_id: UUID) -> None:
        """As a moderator would: the stored run no longer counts."""
        async with store.unit_of_work() as uow:
            found = await uow.workouts.get_many([workout_id])
            await uow.workouts.replace(
                replace(found[workout_id], status=WorkoutStatus.REJECTED, flag_reason="no")
            )
            await uow.commit()

    def plan(user_id: UUID) -> list[WorkoutSubmission]:
        run = submission(user_id, 1, (0, 60, 10000.0, Activity.RUN))
        recording = Recording(FileFormat.GPX, "run.gpx", f"gpx-{user_id}")
        recorded = replace(run, id=UUID(int=run.id.int + 1), recording=recording, source="gpx")
        return [run, recorded]

    for store, who in ((single.store, one), (batched.store, other)):
        run, _ = plan(who)
        await batched.processing.process_batch([run])
        await reject(store, run.id)
    # The run again (stored, and rejected since), then its file: not a duplicate of a
    # run that no longer counts, so it counts.
    expected = await single.one_at_a_time(plan(one))
    got = await batched.processing.process_batch(plan(other))
    assert [(p.duplicate, p.workout.status.value) for p in expected] == [
        (True, "rejected"),
        (False, "processed"),
    ]
    assert [(p.duplicate, p.workout.status) for p in got] == [
        (p.duplicate, p.workout.status) for p in expected
    ]
    assert await stored(batched.store, other) == await stored(single.store, one)


async def test_the_bests_a_batch_keeps_count_a_record_delivered_after_a_later_workout(
    workers: list[Worker],
) -> None:
    _, batched = workers
    who = await athlete(batched.store)
    await batched.processing.process_batch([submission(who, 0, (0, 30, 5000.0, Activity.RUN))])
    # One batch: a run on day 3 too fast to count (flagged), then the longest run yet, on
    # day 1. The bests kept at the latest place judged (day 3's) hold the longest run.
    flagged = submission(who, 1, (3, 10, 5000.0, Activity.RUN))
    longest = submission(who, 2, (1, 60, 10000.0, Activity.RUN))
    got = await batched.processing.process_batch([flagged, longest])
    assert got[0].workout.status is WorkoutStatus.FLAGGED
    assert ("record-longest-run", 2) in awarded(got)[1]
    # Day 4, shorter than day 1's: no record (the kept bests must not miss day 1's).
    (later,) = await batched.processing.process_batch(
        [submission(who, 3, (4, 40, 7000.0, Activity.RUN))]
    )
    assert "record-longest-run" not in {a.rule.id for a in later.awarded}


def revoked(batch: Sequence[Processed]) -> list[list[tuple[str, int]]]:
    return [sorted((r.rule.id, r.workout_id.int & 0xFFFF) for r in p.revoked) for p in batch]


@pytest.mark.parametrize(
    ("stored_first", "late"),
    [
        # A record the first late run gives (day 5 now beats day 1), the second takes back.
        (
            [(5, 60, 10000.0, Activity.RUN)],
            [(1, 50, 8000.0, Activity.RUN), (2, 70, 12000.0, Activity.RUN)],
        ),
        # A record held since before (day 6's) that the second late run takes back.
        (
            [
                (5, 60, 10000.0, Activity.RUN),
                (6, 70, 12000.0, Activity.RUN),
                (7, 65, 11000.0, Activity.RUN),
            ],
            [
                (1, 65, 11500.0, Activity.RUN),
                (2, 75, 13000.0, Activity.RUN),
                (3, 30, 5000.0, Activity.RUN),
            ],
        ),
    ],
)
async def test_several_late_workouts_of_an_athlete_in_one_batch_rejudge_as_one_at_a_time(
    workers: list[Worker], stored_first: list[Spec], late: list[Spec]
) -> None:
    # As when another worker's batch of the athlete's later workouts committed first:
    # every workout of this batch comes before ones the record holds, in date order.
    single, batched = workers
    one, other = await athlete(single.store), await athlete(batched.store)
    await single.one_at_a_time([submission(one, n, s) for n, s in enumerate(stored_first)])
    await batched.processing.process_batch(
        [submission(other, n, s) for n, s in enumerate(stored_first)]
    )
    first = len(stored_first)
    expected = await single.one_at_a_time(
        [submission(one, first + n, s) for n, s in enumerate(late)]
    )
    got = await batched.processing.process_batch(
        [submission(other, first + n, s) for n, s in enumerate(late)]
    )
    assert awarded(got) == awarded(expected)
    assert revoked(got) == revoked(expected)
    assert any(revoked(expected))
    assert await held(batched.store, other) == await held(single.store, one)


async def test_a_workout_stored_without_its_local_day_is_judged_and_makes_no_day_active(
    workers: list[Worker],
) -> None:
    # Workouts stored before the record kept local days (migration 0002) have none: the
    # record's read of active days does not see them, and judging one (as a correction
    # does) must not count its day either, nor fail.
    _, batched = workers
    who = await athlete(batched.store)
    got = await batched.processing.process_batch(
        [submission(who, n, (n, 30, 5000.0, Activity.RUN)) for n in range(3)]
    )
    middle = got[1].workout
    async with batched.store.unit_of_work() as uow:
        await uow.workouts.replace(replace(middle, local_day=None))
        await uow.commit()
    async with batched.store.unit_of_work() as uow:
        user = await uow.users.get(who)
        assert user is not None
        all_time = await uow.rollups.totals(who, None, None)
        judged = await award_for_workout(
            uow, replace(middle, local_day=None), user, all_time, CATALOG, NOW
        )
        # Three days in a row only while the middle one's day counts.
        (seen,) = await read_for_judging(uow, [(got[2].workout, user)], CATALOG)
    assert judged.awarded == []
    assert middle.local_day is not None
    assert middle.local_day not in seen.days
    assert {got[0].workout.local_day, got[2].workout.local_day} <= seen.days
