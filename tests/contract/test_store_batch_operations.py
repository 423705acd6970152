"""The store's batch operations (what the batched worker runs): each answers exactly what
the operation it batches answers, one request after another, in one statement. On SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from fitboard.adapters.sql import SqlStore
from fitboard.application.workouts.ports import CandidateSpan
from fitboard.domain.achievements import Award, Measure, PersonalRecord
from fitboard.domain.activities import Activity
from fitboard.domain.boards import Period
from fitboard.domain.changes import ChangeKind, WorkoutChange
from fitboard.domain.groups import Group
from fitboard.domain.periods import PeriodRange, keys_for_day, period_range
from fitboard.domain.recordings import FileFormat, Recording
from fitboard.domain.workouts import Workout, WorkoutStatus

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    StatementLog,
    migrated_postgres_url_fixture,
    plan_of,
    statement_log_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_store_contract import (
    BIG,
    PERIODS_SPAN,
    T0,
    _calories_in_day_order,
    _rollups_around_new_year,
    add_users,
    contribution,
    make_user,
    make_workout,
)

LONGEST = PersonalRecord("longest", "Longest", "d", frozenset({Activity.RUN}), Measure.DISTANCE)
PACE = PersonalRecord("pace", "Pace", "d", frozenset({Activity.RUN}), Measure.PACE, 5000)
CALORIES = PersonalRecord("burn", "Burn", "d", None, Measure.CALORIES)


async def test_lock_and_bump_versions_bumps_each_known_user_once_in_one_statement(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    async with store.unit_of_work() as uow:
        statement_log.clear()
        found = await uow.users.lock_and_bump_versions([grace.id, uuid4(), ada.id, grace.id])
        # On PostgreSQL the athletes' board-write locks are taken by the same statement.
        assert len(statement_log.queries()) == 1
        assert found == {
            ada.id: replace(ada, projection_version=1),
            grace.id: replace(grace, projection_version=1),
        }
        assert await uow.users.lock_and_bump_versions([]) == {}
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert (await uow.users.get(ada.id)) == replace(ada, projection_version=1)


async def test_lock_and_bump_versions_in_opposite_orders_neither_deadlocks_nor_loses_a_bump(
    store: SqlStore,
) -> None:
    users = [make_user(f"u{i}") for i in range(4)]
    await add_users(store, *users)
    ids = [u.id for u in users]

    async def bump(order: list[UUID]) -> None:
        async with store.unit_of_work() as uow:
            await uow.users.lock_and_bump_versions(order)
            await asyncio.sleep(0.01)  # hold the locks while the other one asks for them
            await uow.commit()

    async with asyncio.timeout(30):
        await asyncio.gather(*(bump(ids if n % 2 else ids[::-1]) for n in range(6)))
    async with store.unit_of_work(read_only=True) as uow:
        for user_id in ids:
            user = await uow.users.get(user_id)
            assert user is not None
            assert user.projection_version == 6


async def test_group_ids_of_many_equal_group_ids_of_each(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace, idle = make_user("Ada"), make_user("Grace"), make_user("Idle")
    await add_users(store, ada, grace, idle)
    async with store.unit_of_work() as uow:
        for n in range(3):
            group = Group(uuid4(), f"club{n}", f"INVITE{n}", ada.id, T0 + timedelta(days=3 - n))
            await uow.groups.add(group)
            await uow.groups.add_member(group.id, grace.id, T0 + timedelta(days=n))
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        statement_log.clear()
        found = await uow.groups.group_ids_of_many([ada.id, grace.id, idle.id])
        assert len(statement_log.queries()) == 1
        for user in (ada, grace, idle):
            assert found[user.id] == await uow.groups.group_ids_of(user.id)
        assert len(found[ada.id]) == 3
        assert found[idle.id] == []
        assert found[ada.id] != found[grace.id]  # joined in the opposite order


async def test_workouts_by_id_and_new_ones_in_one_statement_each(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    mine = [make_workout(ada.id, T0 + timedelta(hours=h)) for h in (0, 5, 10, 30)]
    # Every column filled in once (a recording, indoor) and left empty once.
    recorded = replace(
        mine[1].submission,
        recording=Recording(FileFormat.GPX, "a.gpx", "identity-a", 5012.5, 1700, 1800, 171),
        source="gpx",
        indoor=True,
        notes="hills",
    )
    mine[1] = replace(mine[1], submission=recorded, flag_reason="fast", local_day=T0.date())
    theirs = make_workout(grace.id, T0 + timedelta(hours=5))
    async with store.unit_of_work() as uow:
        statement_log.clear()
        assert await uow.workouts.add_new([*mine, theirs]) == {w.id for w in [*mine, theirs]}
        assert len(statement_log.queries()) == 1
        # An id stored already, or twice in one call, is inserted once and not rewritten:
        # of two in one call, the first is stored.
        again = replace(mine[0], points=1)
        new = make_workout(grace.id, T0 + timedelta(hours=50))
        assert await uow.workouts.add_new([again, new, replace(new, points=2)]) == {new.id}
        assert await uow.workouts.add_new([]) == set()
        statement_log.clear()
        found = await uow.workouts.get_many([mine[0].id, theirs.id, uuid4(), mine[0].id])
        assert found == {mine[0].id: mine[0], theirs.id: theirs}
        assert len(statement_log.queries()) == 1
        stored = await uow.workouts.get_many([w.id for w in [*mine, new]])
        assert stored == {w.id: w for w in [*mine, new]}


async def test_the_batch_reads_of_ids_and_spans_have_one_text_whatever_their_count(
    store: SqlStore, statement_log: StatementLog
) -> None:
    # A text per count would be parsed and planned again by PostgreSQL on every connection.
    users = [make_user(f"u{n}") for n in range(3)]
    await add_users(store, *users)
    ids = [u.id for u in users]
    async with store.unit_of_work() as uow:
        statement_log.clear()
        for count in (1, 3):
            assert len(await uow.users.lock_and_bump_versions(ids[:count])) == count
            assert len(await uow.groups.group_ids_of_many(ids[:count])) == count
            assert await uow.workouts.get_many(ids[:count]) == {}
            spans = [
                CandidateSpan(user_id, T0, T0 + timedelta(hours=1), Activity.RUN, False)
                for user_id in ids[:count]
            ]
            assert await uow.workouts.candidates_in_spans(spans) == []
            assert await uow.changes.deleted_among(ids[:count]) == set()
        assert len(statement_log.queries()) == 10
        assert len(set(statement_log.queries())) == 5


async def test_the_batch_writes_have_one_text_whatever_their_count(
    store: SqlStore, statement_log: StatementLog
) -> None:
    # The workouts, rollups and awards a turn of the worker writes: a VALUES list of
    # one row per item would have a text per count.
    users = [make_user(f"u{n}") for n in range(3)]
    await add_users(store, *users)
    ids = [u.id for u in users]
    day = T0.date()
    async with store.unit_of_work() as uow:
        statement_log.clear()
        for count in (1, 3):
            new = [make_workout(i, T0 + timedelta(hours=count)) for i in ids[:count]]
            assert await uow.workouts.add_new(new) == {w.id for w in new}
            await uow.rollups.add_many(
                [(i, day, Activity.RUN, contribution(T0, 1.0 * count)) for i in ids[:count]]
            )
            earned = [(i, Award("early", f"p{count}"), T0, None) for i in ids[:count]]
            assert await uow.achievements.award_many(earned) == [True] * count
        assert len(statement_log.queries()) == 6
        assert len(set(statement_log.queries())) == 3
        for user_id in ids:
            totals = await uow.rollups.totals(user_id, day, day)
            assert totals.by_activity[Activity.RUN].workouts == (2 if user_id == ids[0] else 1)


async def test_candidates_in_spans_are_the_workouts_in_spans_a_duplicate_could_be(
    store: SqlStore, statement_log: StatementLog
) -> None:
    rng = random.Random(31)
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    stored = []
    for n in range(60):
        workout = make_workout(
            rng.choice([ada.id, grace.id]),
            T0 + timedelta(hours=rng.randint(0, 72), microseconds=n),
            activity=rng.choice([Activity.RUN, Activity.CYCLE]),
        )
        # Half from a file (its source the file's format), half typed in.
        from_file = rng.random() < 0.5
        submission = replace(
            workout.submission,
            recording=Recording(FileFormat.GPX, f"{n}.gpx", f"identity-{n}") if from_file else None,
            source="gpx" if from_file else "manual",
        )
        status = rng.choice([WorkoutStatus.PROCESSED, WorkoutStatus.REJECTED])
        stored.append(replace(workout, submission=submission, status=status))
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new(stored)
        await uow.commit()
    spans = [
        CandidateSpan(
            rng.choice([ada.id, grace.id]),
            T0 + timedelta(hours=first),
            T0 + timedelta(hours=first + rng.randint(0, 30)),
            rng.choice([Activity.RUN, Activity.CYCLE]),
            rng.random() < 0.5,
        )
        for first in (rng.randint(0, 60) for _ in range(12))
    ]

    def could_be(workout: Workout) -> bool:
        return workout.status is not WorkoutStatus.REJECTED and any(
            s.user_id == workout.user_id
            and s.first <= workout.submission.started_at <= s.last
            and s.activity is workout.submission.activity
            and (workout.submission.recording is not None or not s.from_files_only)
            for s in spans
        )

    async with store.unit_of_work(read_only=True) as uow:
        statement_log.clear()
        found = await uow.workouts.candidates_in_spans(spans)
        assert len(statement_log.queries()) == 1
        # Every workout of some span's athlete that started in it, by athlete and then
        # oldest first (ties by id), each once.
        in_spans: dict[UUID, Workout] = {}
        for s in spans:
            for w in await uow.workouts.started_between(s.user_id, s.first, s.last):
                in_spans[w.id] = w
        every = sorted(in_spans.values(), key=lambda w: (w.user_id, w.submission.started_at, w.id))
        # Those of them a duplicate could be, in that order, each once.
        assert found == [w for w in every if could_be(w)]
        assert any(w.submission.recording is None for w in found)
        assert len(found) < len([w for w in every if w.status is not WorkoutStatus.REJECTED])
        # A span given three times finds its workouts once.
        once = await uow.workouts.candidates_in_spans(spans[:1])
        assert await uow.workouts.candidates_in_spans(spans[:1] * 3) == once
        assert await uow.workouts.candidates_in_spans([]) == []


async def test_deleted_among_answers_the_deleted_ones_only(store: SqlStore) -> None:
    ada = make_user()
    await add_users(store, ada)
    gone, kept, decided = uuid4(), uuid4(), uuid4()
    async with store.unit_of_work() as uow:
        for workout_id, kind in ((gone, ChangeKind.DELETE), (decided, ChangeKind.REJECT)):
            change = WorkoutChange(uuid4(), kind, workout_id, ada.id, ada.id, T0, "why")
            await uow.changes.record(change, T0.date(), T0)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.changes.deleted_among([gone, kept, decided, gone])
        # Not one never changed, nor one an admin decided on: only the athlete's deletion.
        assert found == {gone}
        assert await uow.changes.deleted_among([]) == set()


async def test_rollups_add_many_adds_as_add_after_add_does(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    day = T0.date()
    # The same row twice, and values whose sum depends on the order they are added in.
    parts = [
        (ada.id, day, Activity.RUN, contribution(T0, BIG, 1.0)),
        (grace.id, day, Activity.RUN, contribution(T0, 1.0)),
        (ada.id, day, Activity.RUN, contribution(T0 + timedelta(hours=1), 1.0, 0.0)),
        (ada.id, day, Activity.RUN, contribution(T0 + timedelta(hours=2), -BIG, 2.5)),
        (ada.id, day + timedelta(1), Activity.SWIM, contribution(T0 + timedelta(1), 7.0)),
    ]
    async with store.unit_of_work() as uow:
        statement_log.clear()
        await uow.rollups.add_many(parts)
        await uow.rollups.add_many([])
        # Ada's run of the day comes three times: a statement for each of its additions,
        # of one text.
        assert len(statement_log.queries()) == 3
        assert len(set(statement_log.queries())) == 1
        at_once = [await uow.rollups.totals(u.id, None, None) for u in (ada, grace)]
        await uow.rollback()
    async with store.unit_of_work() as uow:
        for user_id, on, activity, part in parts:
            await uow.rollups.add(user_id, on, activity, part)
        one_by_one = [await uow.rollups.totals(u.id, None, None) for u in (ada, grace)]
    assert at_once == one_by_one
    # (BIG + 1.0) - BIG is 0.0 in this order; added the other way round it would be 1.0.
    assert at_once[0].by_activity[Activity.RUN].calories == 0.0
    assert at_once[0].by_activity[Activity.RUN].workouts == 3


async def test_totals_by_period_many_equal_totals_by_period_of_each(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace, idle = make_user("Ada"), make_user("Grace"), make_user("Idle")
    await add_users(store, ada, grace, idle)
    rows = await _rollups_around_new_year(store, random.Random(12), ada, grace)
    days = [PERIODS_SPAN[0], PERIODS_SPAN[21], PERIODS_SPAN[-2], date(2024, 6, 1)]
    requests = [
        (user.id, {p: period_range(p, k) for p, k in keys_for_day(day).items()})
        for day in days
        for user in (ada, grace, idle, ada)
    ]
    users = {user.id: user for user in (ada, grace, idle)}
    async with store.unit_of_work(read_only=True) as uow:
        statement_log.clear()
        found = await uow.rollups.totals_by_period_many(requests)
        assert len(statement_log.queries()) == 1
        assert await uow.rollups.totals_by_period_many([]) == []
        # The statement's text is the same whatever the number of requests (a new text
        # is parsed and planned again by PostgreSQL on every connection).
        await uow.rollups.totals_by_period_many(requests[:3])
        await uow.rollups.totals_by_period_many(requests * 30)
        assert len(set(statement_log.queries())) == 1
        nonzero = 0
        for (user_id, ranges), totals in zip(requests, found, strict=True):
            # Equal to the last bit: the float sums are added in the same order.
            assert totals == await uow.rollups.totals_by_period(user_id, ranges)
            nonzero += any(t.by_activity for t in totals.values())
            # Each activity's days in day order, as the sums over a range alone are.
            for period, rng in ranges.items():
                for activity, part in totals[period].by_activity.items():
                    in_order = _calories_in_day_order(
                        rows, users[user_id], activity, rng, reverse=False
                    )
                    assert part.calories == in_order, (period, activity)
        assert nonzero >= 2 * len(days)
        assert await uow.rollups.totals_by_period_many(requests * 30) == found * 30
        # Requests of other kinds of ranges are answered too (a statement each).
        mixed = [requests[1], (grace.id, {Period.ALL: PeriodRange(None, None)})]
        found = await uow.rollups.totals_by_period_many(mixed)
        assert found == [await uow.rollups.totals_by_period(*request) for request in mixed]


History = tuple[list[UUID], list[tuple[UUID, datetime, UUID]]]


@pytest.fixture(name="history")
async def history_fixture(store: SqlStore) -> History:
    """Two athletes with runs and rides over two weeks, some not counted; returns the
    athletes and (athlete, start, workout id) of every workout."""
    rng = random.Random(7)
    users = [make_user("Ada"), make_user("Grace")]
    await add_users(store, *users)
    stored = []
    async with store.unit_of_work() as uow:
        for user in users:
            for _ in range(12):
                started = T0 + timedelta(days=rng.randint(0, 13), hours=rng.choice([0, 0, 5]))
                workout = make_workout(user.id, started, activity=rng.choice(list(Activity)[:2]))
                submission = replace(workout.submission, distance_m=rng.uniform(0, 15000))
                status = rng.choice([WorkoutStatus.PROCESSED] * 3 + [WorkoutStatus.REJECTED])
                local_day = started.date()
                workout = replace(
                    workout,
                    submission=submission,
                    status=status,
                    local_day=local_day,
                    calories=rng.uniform(0, 800),
                )
                await uow.workouts.add(workout)
                stored.append((user.id, started, workout.id))
        await uow.commit()
    return [u.id for u in users], stored


async def test_judging_reads_of_many_workouts_equal_those_of_each(
    store: SqlStore,
    statement_log: StatementLog,
    history: History,
) -> None:
    athletes, stored = history
    places = [*stored[::3], (athletes[0], T0 + timedelta(days=5), uuid4())]
    spans = [(T0.date() + timedelta(n), T0.date() + timedelta(n + 3)) for n in (0, 4)]
    day_requests = [(user_id, first, last) for user_id in athletes for first, last in spans]
    rules = [LONGEST, PACE, CALORIES]
    async with store.unit_of_work(read_only=True) as uow:
        statement_log.clear()
        days = await uow.achievements.active_local_days_many(day_requests)
        bests = await uow.achievements.bests_before_many(rules, places)
        later = await uow.achievements.counted_after_many(places)
        assert len(statement_log.queries()) == 3
        # Their texts are the same whatever the number of requests (a new text is parsed
        # and planned again by PostgreSQL on every connection).
        await uow.achievements.active_local_days_many(day_requests[:1] * 7)
        await uow.achievements.bests_before_many(rules, places[:1] * 7)
        await uow.achievements.counted_after_many(places[:1] * 7)
        assert len(set(statement_log.queries())) == 3
        for (user_id, first, last), found in zip(day_requests, days, strict=True):
            assert found == await uow.achievements.active_local_days(user_id, first, last)
        assert any(days)
        for (user_id, before, exclude), best, after in zip(places, bests, later, strict=True):
            assert best == await uow.achievements.bests_before(user_id, rules, before, exclude)
            for rule in rules:
                alone = await uow.achievements.best_before(user_id, rule, before, exclude)
                assert best[rule.id] == alone
            assert after == await uow.achievements.counted_after(user_id, before, exclude)
        assert any(b["longest"] is not None for b in bests)
        assert any(later)
        assert await uow.achievements.bests_before_many([], places) == [{} for _ in places]
        for empty in (
            uow.achievements.active_local_days_many([]),
            uow.achievements.bests_before_many(rules, []),
            uow.achievements.counted_after_many([]),
        ):
            assert await empty == []


async def test_award_many_records_what_one_award_after_another_would(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    held, workout = Award("run-5k", "all", 5000.0), uuid4()
    async with store.unit_of_work() as uow:
        assert await uow.achievements.award(ada.id, held, T0, None)
        await uow.commit()
    earned = [
        (ada.id, held, T0, workout),  # already held
        (grace.id, held, T0, workout),  # the same award, another athlete
        (ada.id, Award("longest", "w1", 9.0), T0 + timedelta(1), workout),
        (grace.id, held, T0, None),  # a repeat: the first one wins
        (ada.id, Award("early", "all"), T0, None),
    ]
    async with store.unit_of_work() as uow:
        statement_log.clear()
        at_once = await uow.achievements.award_many(earned)
        assert len(statement_log.queries()) == 1
        assert await uow.achievements.award_many([]) == []
        await uow.rollback()
    async with store.unit_of_work() as uow:
        one_by_one = [await uow.achievements.award(*row) for row in earned]
        await uow.commit()
    assert at_once == one_by_one == [False, True, True, False, True]
    async with store.unit_of_work(read_only=True) as uow:
        # Ada's record and Grace's 5k (Ada's 5k was held already, for no workout).
        assert await uow.achievements.for_workout(workout) == ["longest", "run-5k"]
        held_by_grace = await uow.achievements.for_user(grace.id)
        assert [(h.workout_id, h.value) for h in held_by_grace] == [(workout, 5000.0)]


async def test_award_many_sends_each_award_once(
    store: SqlStore, statement_log: StatementLog
) -> None:
    # Each of an athlete's workouts in a batch earns the awards it qualifies for, held or
    # not: a repeat can never be recorded, so it is not sent.
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    first, five_k = Award("first-workout", "all", 1.0), Award("run-5k", "all", 5000.0)
    earned = [
        (ada.id, first, T0, uuid4()),
        (ada.id, five_k, T0, None),
        (grace.id, first, T0, None),
        (ada.id, first, T0 + timedelta(1), uuid4()),
        (ada.id, five_k, T0 + timedelta(1), None),
        (ada.id, first, T0 + timedelta(2), None),
    ]
    async with store.unit_of_work() as uow:
        statement_log.clear()
        assert await uow.achievements.award_many(earned) == [True, True, True, False, False, False]
        await uow.commit()
    (parameters,) = statement_log.parameters
    assert rows_bound(parameters) == 3


def rows_bound(parameters: object) -> int:
    """The rows a RequestRows statement bound: SQLite's one JSON array of rows, or
    PostgreSQL's one array per column."""
    assert isinstance(parameters, dict | list | tuple)
    values = list(parameters.values() if isinstance(parameters, dict) else parameters)
    texts = [v for v in values if isinstance(v, str)]
    if texts:
        (rows,) = texts
        return len(json.loads(rows))
    lengths = {len(v) for v in values if isinstance(v, list | tuple)}
    (count,) = lengths
    return count


async def test_a_typed_in_submissions_candidates_are_read_by_the_index_of_files(
    store: SqlStore,
) -> None:
    # A typed-in submission can only duplicate a workout from a file. Its span must be read
    # through the partial index of those (migration 0013), not by every workout of the
    # athlete's fortnight before it: the statement's plan, on each engine, names it.
    ada = make_user("Ada")
    await add_users(store, ada)
    typed = [make_workout(ada.id, T0 + timedelta(minutes=10 * n)) for n in range(300)]
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new(typed)
        await uow.commit()

    async def read() -> None:
        async with store.unit_of_work(read_only=True) as uow:
            span = CandidateSpan(ada.id, T0, T0 + timedelta(days=3), Activity.RUN, True)
            assert await uow.workouts.candidates_in_spans([span]) == []

    plan = await plan_of(store, read, "file_spans")
    assert "ix_workouts_files_user_id_started_at" in plan, plan


async def test_active_days_of_many_spans_are_the_days_of_their_counted_workouts(
    store: SqlStore,
) -> None:
    # Read as a loose index scan (one lookup per active day), the days of each span must be
    # exactly the local days of the athlete's counted workouts in it: days with many
    # workouts, days with only flagged or rejected ones, spans that start or end on an
    # active day, spans with none, one athlete's days never another's.
    rng = random.Random(14)
    athletes = [make_user(f"athlete {n}") for n in range(4)]
    await add_users(store, *athletes)
    statuses = [WorkoutStatus.PROCESSED] * 3 + [WorkoutStatus.FLAGGED, WorkoutStatus.REJECTED]
    stored: list[Workout] = []
    for athlete in athletes:
        for _ in range(rng.randrange(0, 60)):
            day = T0.date() + timedelta(days=rng.randrange(0, 40))
            workout = make_workout(athlete.id, T0 + timedelta(minutes=rng.randrange(10**5)))
            stored.append(replace(workout, status=rng.choice(statuses), local_day=day))
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new(stored)
        await uow.commit()
    requests = []
    for _ in range(80):
        first = T0.date() + timedelta(days=rng.randrange(-5, 45))
        last = first + timedelta(days=rng.randrange(-1, 30))
        requests.append((rng.choice(athletes).id, first, last))
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.achievements.active_local_days_many(requests)
    for (user_id, first, last), days in zip(requests, found, strict=True):
        assert days == {
            w.local_day
            for w in stored
            if w.user_id == user_id
            and w.status is WorkoutStatus.PROCESSED
            and w.local_day is not None
            and first <= w.local_day <= last
        }
    assert sum(map(len, found)) > 100


async def test_active_days_are_read_by_the_index_of_counted_workouts(store: SqlStore) -> None:
    # The loose index scan of active days must descend the partial index of counted
    # workouts' days (migration 0014): without it, each step would read the athlete's
    # workouts from the span's start, or stop at flagged ones.
    ada = make_user("Ada")
    await add_users(store, ada)
    workouts = [
        replace(
            make_workout(ada.id, T0 + timedelta(minutes=10 * n)),
            status=WorkoutStatus.PROCESSED,
            local_day=T0.date() + timedelta(days=n % 5),
        )
        for n in range(300)
    ]
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new(workouts)
        await uow.commit()
    found: list[set[date]] = []

    async def read() -> None:
        async with store.unit_of_work(read_only=True) as uow:
            request = (ada.id, T0.date(), T0.date() + timedelta(days=9))
            found.extend(await uow.achievements.active_local_days_many([request]))

    plan = await plan_of(store, read, "found")
    assert [len(days) for days in found] == [5]
    assert "ix_workouts_counted_user_id_local_day" in plan, plan
