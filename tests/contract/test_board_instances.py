"""The record's side of reconcile and rebuilds (`SqlRecordedBoards`): every metric's
scores on every instance of a period and scope, from one statement, and one instance's
standings streamed in chunks, are what a rebuild of that one board reads
(`RollupRepository.standings`), on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from fitboard.adapters.sql import SqlStore, board_instances
from fitboard.adapters.sql.board_instances import SqlRecordedBoards
from fitboard.application.boards.maintenance import BOARD_SCOPES
from fitboard.application.boards.record_instances import LoadedInstance
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, Metric, Period, Scope, ScopeKind, VersionedStanding
from fitboard.domain.groups import Group
from fitboard.domain.periods import ALL_TIME_KEY, period_range
from fitboard.domain.users import User
from fitboard.domain.workouts import DailyContribution

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    migrated_postgres_url_fixture,
    store_fixture,
    store_url_fixture,
)

# Five days across a month's end and a week's (Friday 2026-02-27 to Tuesday 2026-03-03).
DAY0 = date(2026, 2, 27)
DAYS = 5
T0 = datetime(2026, 2, 1, tzinfo=UTC)
ACTIVITIES = [Activity.RUN, Activity.SWIM, Activity.STRENGTH]


def user(name: str, *, visible: bool = True) -> User:
    return User(
        id=uuid4(),
        username=name,
        display_name=name,
        password_hash="argon2$hash",
        created_at=T0,
        show_on_leaderboards=visible,
    )


def at(day: date, seconds: int) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds)


async def record(store: SqlStore) -> tuple[User, UUID]:
    """Athletes with irregular rollups over the five days (one hidden from boards, two of
    three in a group), and one whose calories are 25 rollups of 0.1 kcal: 2.5 in decimal,
    a float sum that lands on either side of the half by the order it is added in. Returns
    that athlete and the group's id."""
    rng = random.Random(17)
    athletes = [user(f"athlete{n}") for n in range(4)] + [user("hidden", visible=False)]
    tenths = user("tenths")
    group = Group(uuid4(), "club", "INVITE17", athletes[0].id, T0)
    async with store.unit_of_work() as uow:
        for athlete in [*athletes, tenths]:
            await uow.users.add(athlete)
        await uow.groups.add(group)
        for member in (athletes[0], athletes[1], athletes[4]):
            await uow.groups.add_member(group.id, member.id, T0)
        for athlete in athletes:
            for _ in range(rng.randint(1, 3)):
                await uow.users.lock_and_bump_version(athlete.id)
            for _ in range(rng.randint(3, 8)):
                day = DAY0 + timedelta(days=rng.randint(0, DAYS - 1))
                activity = rng.choice(ACTIVITIES)
                await uow.rollups.add(
                    athlete.id,
                    day,
                    activity,
                    DailyContribution(
                        calories=rng.choice([rng.uniform(0, 900), rng.randint(0, 900) + 0.5]),
                        distance_m=0.0 if activity is Activity.STRENGTH else rng.uniform(0, 9e3),
                        duration_s=rng.randint(60, 7200),
                        workouts=1,
                        points=rng.randint(0, 120),
                        ended_at=at(day, rng.randint(0, 86399)),
                    ),
                )
        for n in range(25):
            day = DAY0 + timedelta(days=n % DAYS)
            activity = [*Activity][n // DAYS]
            await uow.rollups.add(
                tenths.id, day, activity, DailyContribution(0.1, 1.0, 60, 1, 1, at(day, n))
            )
        await uow.commit()
    return tenths, group.id


async def test_every_instance_scores_as_its_rebuild(store: SqlStore) -> None:
    tenths, group_id = await record(store)
    instances = 0
    reading = SqlRecordedBoards(store.engine).reading()
    async with reading as reader, store.unit_of_work(read_only=True) as uow:
        for period in Period:
            implied = set(await reader.implied(period))
            read: set[tuple[str, Scope]] = set()
            for scope in BOARD_SCOPES:
                async for instance in reader.instances(period, scope):
                    read.add((instance.period_key, instance.scope))
                    days = period_range(period, instance.period_key)
                    for metric in Metric:
                        board = BoardId(metric, period, instance.scope)
                        rebuilt = await uow.rollups.standings(board, days.first, days.last)
                        scores = {v.standing.user_id: v.standing.score for v in rebuilt}
                        assert instance.scores[metric] == scores, (board, instance.period_key)
                    instances += 1
            # Every implied instance is read, and only those.
            assert read == implied
    assert instances > 40
    assert Scope.for_group(group_id) in {scope for _, scope in implied}

    async with SqlRecordedBoards(store.engine).reading() as reader:
        (everything,) = [i async for i in reader.instances(Period.ALL, Scope.global_())]
    # 25 x 0.1 kcal: half up, so 3 (the order of a float sum must not make it 2).
    assert everything.scores[Metric.CALORIES][tenths.id] == 3
    assert everything.scores[Metric.ACTIVE_DAYS][tenths.id] == DAYS


def by_user(versioned: VersionedStanding) -> str:
    return str(versioned.standing.user_id)


@pytest.mark.parametrize("fetch_rows", [2, 5000])
async def test_one_instance_of_some_metrics_streams_its_rebuild(
    store: SqlStore, fetch_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`instance_chunks` (what `fitboard rebuild` reads): one instance's boards of the
    metrics asked for, from one statement over its days only, streamed in chunks of the
    cursor's rows (2 athletes, so most instances are several chunks, or all of them in
    one): each athlete in one chunk, and each board's chunks together its rebuild."""
    monkeypatch.setattr(board_instances, "_FETCH_ROWS", fetch_rows)
    _, group_id = await record(store)
    scopes = [Scope.global_(), Scope.for_group(group_id), *map(Scope.for_activity, ACTIVITIES)]
    metric_sets = [list(Metric), [Metric.ACTIVE_DAYS], [Metric.CALORIES, Metric.POINTS]]
    checked = 0
    several = 0
    async with SqlRecordedBoards(store.engine).reading() as reader:
        implied = {i for p in Period for i in [(p, k, s) for k, s in await reader.implied(p)]}
    async with store.unit_of_work(read_only=True) as uow:
        for period, key, scope in sorted(implied, key=str):
            if scope not in scopes:
                continue
            days = period_range(period, key)
            for metrics in metric_sets:
                async with SqlRecordedBoards(store.engine).reading() as reader:
                    chunks = [c async for c in reader.instance_chunks(period, key, scope, metrics)]
                several += len(chunks) > 1
                seen: set[UUID] = set()
                for chunk in chunks:
                    assert set(chunk) == set(metrics)
                    athletes = {v.standing.user_id for m in metrics for v in chunk[m]}
                    assert len(athletes) <= fetch_rows
                    assert not athletes & seen, "an athlete in two chunks"
                    seen |= athletes
                for metric in metrics:
                    board = BoardId(metric, period, scope)
                    rebuilt = await uow.rollups.standings(board, days.first, days.last)
                    got = [v for chunk in chunks for v in chunk[metric]]
                    assert sorted(got, key=by_user) == sorted(rebuilt, key=by_user)
                    checked += len(rebuilt)
    assert checked > 100
    assert (several > 0) is (fetch_rows == 2)


async def test_an_instance_no_one_scored_on_streams_nothing(store: SqlStore) -> None:
    await record(store)
    async with SqlRecordedBoards(store.engine).reading() as reader:
        chunks = reader.instance_chunks(Period.DAY, "2020-01-01", Scope.global_(), list(Metric))
        assert [c async for c in chunks] == []


async def test_a_stream_left_midway_leaves_the_read_usable(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild whose load fails closes the record's stream after a chunk: the same
    read goes on (the instance read again, whole, its first chunk as before)."""
    monkeypatch.setattr(board_instances, "_FETCH_ROWS", 2)
    await record(store)
    instance = (Period.ALL, ALL_TIME_KEY, Scope.global_(), [Metric.WORKOUTS])
    async with SqlRecordedBoards(store.engine).reading() as reader:
        chunks = reader.instance_chunks(*instance)
        first = await anext(chunks)
        await chunks.aclose()
        again = [c async for c in reader.instance_chunks(*instance)]
    assert len(again) == 3  # five athletes shown on boards, two at a time
    assert again[0] == first


# The scopes `instance_standings` reads instances of: the global one, and every activity's
# and every group's at once.
EVERY_SCOPE = [Scope.global_(), Scope(ScopeKind.ACTIVITY), Scope(ScopeKind.GROUP)]
Span = tuple[date | None, date | None]


def loaded_scores(instance: LoadedInstance) -> dict[Metric, dict[UUID, int]]:
    return {
        metric: {v.standing.user_id: v.standing.score for v in rows}
        for metric, rows in instance.standings.items()
    }


async def recorded(
    store: SqlStore, period: Period, scope: Scope
) -> dict[tuple[str, Scope], dict[Metric, dict[UUID, int]]]:
    """`instances(period, scope)`'s scores by (period key, scope)."""
    async with SqlRecordedBoards(store.engine).reading() as reader:
        return {
            (i.period_key, i.scope): dict(i.scores) async for i in reader.instances(period, scope)
        }


async def loaded_instances(
    store: SqlStore, period: Period, scope: Scope, days: Span
) -> list[LoadedInstance]:
    async with SqlRecordedBoards(store.engine).reading() as reader:
        return [i async for i in reader.instance_standings(period, scope, days)]


@pytest.mark.parametrize("days", [(None, None), (date(2026, 1, 1), date(2026, 12, 31))])
async def test_instance_standings_over_every_day_are_the_instances(
    store: SqlStore, days: Span
) -> None:
    """Over a span holding every rollup, `instance_standings` gives every instance that
    `instances` gives, each once and with the same scores, for each period and scope."""
    await record(store)
    checked = 0
    for period in Period:
        for scope in EVERY_SCOPE:
            expected = await recorded(store, period, scope)
            got = await loaded_instances(store, period, scope, days)
            assert all(i.period is period for i in got)
            assert len(got) == len(expected), (period, scope)
            assert {(i.period_key, i.scope): loaded_scores(i) for i in got} == expected
            checked += len(got)
    assert checked > 40


# Spans of whole instances, of some of the record's days (Friday 2026-02-27 to Tuesday
# 2026-03-03), one-sided ones too: the instances of each period that lie in them.
SPANS: list[tuple[Period, Span]] = [
    (Period.DAY, (DAY0 + timedelta(days=1), DAY0 + timedelta(days=3))),
    (Period.DAY, (None, DAY0 + timedelta(days=1))),
    (Period.DAY, (DAY0 + timedelta(days=4), None)),
    (Period.WEEK, (date(2026, 2, 23), date(2026, 3, 1))),
    (Period.WEEK, (date(2026, 3, 2), None)),
    (Period.MONTH, (date(2026, 3, 1), date(2026, 3, 31))),
    (Period.MONTH, (None, date(2026, 2, 28))),
]


def lies_in(period: Period, key: str, days: Span) -> bool:
    """Whether every day of the instance `key` of `period` lies in `days`."""
    instance = period_range(period, key)
    # No period of SPANS is all-time: each instance has a first and a last day.
    assert instance.first is not None
    assert instance.last is not None
    first, last = days
    return (first is None or first <= instance.first) and (last is None or instance.last <= last)


@pytest.mark.parametrize(
    ("period", "days"), SPANS, ids=[f"{p}-{d[0] or ''}..{d[1] or ''}" for p, d in SPANS]
)
async def test_instance_standings_over_some_days_are_the_instances_in_them(
    store: SqlStore, period: Period, days: Span
) -> None:
    await record(store)
    for scope in EVERY_SCOPE:
        everything = await recorded(store, period, scope)
        expected = {
            instance: scores
            for instance, scores in everything.items()
            if lies_in(period, instance[0], days)
        }
        # Some of the record's instances, not all of them.
        assert expected
        assert len(expected) < len(everything)
        got = await loaded_instances(store, period, scope, days)
        assert len(got) == len(expected), scope
        assert {(i.period_key, i.scope): loaded_scores(i) for i in got} == expected


async def test_instance_standings_are_what_a_rebuild_streams_with_the_athletes_versions(
    store: SqlStore,
) -> None:
    """Each standing of `instance_standings` is the one `instance_chunks` streams for the
    same instance (score, reached_at and version), its version the athlete's
    projection_version."""
    await record(store)
    compared = 0
    versions: dict[UUID, int] = {}
    async with store.unit_of_work(read_only=True) as uow:
        for period in Period:
            for scope in EVERY_SCOPE:
                for instance in await loaded_instances(store, period, scope, (None, None)):
                    async with SqlRecordedBoards(store.engine).reading() as reader:
                        chunks = [
                            c
                            async for c in reader.instance_chunks(
                                period, instance.period_key, instance.scope, list(Metric)
                            )
                        ]
                    for metric in Metric:
                        streamed = [v for chunk in chunks for v in chunk[metric]]
                        got = instance.standings[metric]
                        assert sorted(got, key=by_user) == sorted(streamed, key=by_user)
                        for versioned in got:
                            user_id = versioned.standing.user_id
                            if user_id not in versions:
                                found = await uow.users.get(user_id)
                                assert found is not None
                                versions[user_id] = found.projection_version
                            assert versioned.version == versions[user_id]
                        compared += len(got)
    assert compared > 100
    # Athletes of different versions, so a version read from the wrong column would show.
    assert len(set(versions.values())) > 1
