"""The achievements part of the store port, the same assertions on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Executable, Row, delete, insert, select, update

from fitboard.adapters.sql import SqlStore
from fitboard.adapters.sql.record_bests import KEPT_PER_ATHLETE
from fitboard.adapters.sql.store import SqlUnitOfWork
from fitboard.adapters.sql.tables import kept_record_bests, record_bests, workouts
from fitboard.domain.achievements import Award, Measure, PersonalRecord
from fitboard.domain.activities import Activity
from fitboard.domain.workouts import Workout, WorkoutStatus

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    StatementLog,
    migrated_postgres_url_fixture,
    statement_log_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_store_contract import T0, add_users, make_user, make_workout

LONGEST = PersonalRecord("longest", "Longest", "d", frozenset({Activity.RUN}), Measure.DISTANCE)
PACE = PersonalRecord("pace", "Pace", "d", frozenset({Activity.RUN}), Measure.PACE, 5000)
CALORIES = PersonalRecord("burn", "Burn", "d", None, Measure.CALORIES)


async def test_an_award_is_held_once_per_period_key(store: SqlStore) -> None:
    ada = make_user()
    await add_users(store, ada)
    workout_id = uuid4()
    async with store.unit_of_work() as uow:
        assert await uow.achievements.award(ada.id, Award("run-5k", "all", 5000.0), T0, workout_id)
        assert not await uow.achievements.award(ada.id, Award("run-5k", "all"), T0, uuid4())
        assert await uow.achievements.award(ada.id, Award("longest", "w1", 10.0), T0, workout_id)
        assert await uow.achievements.award(ada.id, Award("longest", "w2"), T0 + timedelta(1), None)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        held = await uow.achievements.for_user(ada.id)
        assert [(h.achievement_id, h.period_key) for h in held] == [
            ("longest", "w2"), ("longest", "w1"), ("run-5k", "all")]  # fmt: skip
        assert held[2].workout_id == workout_id
        assert held[2].value == 5000.0
        assert await uow.achievements.for_workout(workout_id) == ["longest", "run-5k"]


async def test_concurrent_awards_of_the_same_achievement_give_exactly_one(
    store: SqlStore,
) -> None:
    ada = make_user()
    await add_users(store, ada)

    async def try_award() -> bool:
        async with store.unit_of_work() as uow:
            won = await uow.achievements.award(ada.id, Award("first", "all"), T0, None)
            await uow.commit()
            return won

    results = await asyncio.gather(*(try_award() for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_award_all_records_what_one_award_after_another_would(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    held = [Award("run-5k", "all", 5000.0), Award("longest", "w1", 10.0)]
    earned = [
        Award("first", "all", 1.0),
        Award("run-5k", "all", 6000.0),  # already held
        Award("longest", "w2", 12.0),
        Award("longest", "w1", 11.0),  # already held
        Award("first", "all", 2.0),  # a repeat within the batch
        Award("early-bird", "all", None),
    ]
    workout_id = uuid4()
    async with store.unit_of_work() as uow:
        for who in (ada, grace):
            for award in held:
                assert await uow.achievements.award(who.id, award, T0, None)
        # Ada: one by one; Grace: all at once.
        one_by_one = [a for a in earned if await uow.achievements.award(ada.id, a, T0, workout_id)]
        statement_log.clear()
        at_once = await uow.achievements.award_all(grace.id, earned, T0, workout_id)
        assert len(statement_log.queries()) == 1
        assert await uow.achievements.award_all(grace.id, [], T0, workout_id) == []
        assert len(statement_log.queries()) == 1
        # Everything is held now: nothing more is recorded.
        assert await uow.achievements.award_all(grace.id, earned, T0, None) == []
        await uow.commit()
    assert at_once == one_by_one == [earned[0], earned[2], earned[5]]
    async with store.unit_of_work(read_only=True) as uow:
        by_ada = await uow.achievements.for_user(ada.id)
        by_grace = await uow.achievements.for_user(grace.id)
        assert await uow.achievements.for_workout(workout_id) == [
            "early-bird", "early-bird", "first", "first", "longest", "longest"]  # fmt: skip
    assert by_grace == by_ada
    assert len(by_grace) == 5


async def test_held_answers_the_athletes_awards_among_rules_and_keys_in_one_text(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    async with store.unit_of_work() as uow:
        for rule, key in (("longest", "w1"), ("longest", "w2"), ("pace", "w1"), ("burn", "w3")):
            assert await uow.achievements.award(ada.id, Award(rule, key), T0, None)
        assert await uow.achievements.award(grace.id, Award("longest", "w3"), T0, None)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        statement_log.clear()
        held = uow.achievements.held
        assert await held(ada.id, ["longest"], ["w1"]) == {("longest", "w1")}
        assert await held(ada.id, ["longest", "pace", "longest"], ["w1", "w2", "w3"]) == {
            ("longest", "w1"),
            ("longest", "w2"),
            ("pace", "w1"),
        }
        assert await held(grace.id, ["longest", "burn"], ["w3", "w1"]) == {("longest", "w3")}
        # A text per number of keys would be parsed and planned again by PostgreSQL.
        assert len(set(statement_log.queries())) == 1
        assert await held(ada.id, [], ["w1"]) == set()
        assert await held(ada.id, ["longest"], []) == set()


async def test_concurrent_award_all_give_each_award_exactly_once(store: SqlStore) -> None:
    ada = make_user()
    await add_users(store, ada)
    earned = [Award("first", "all"), Award("longest", "w1", 3.0), Award("night-owl", "all")]

    async def try_awards(n: int) -> list[Award]:
        async with store.unit_of_work() as uow:
            won = await uow.achievements.award_all(ada.id, earned[n % 3 :] + earned, T0, None)
            await uow.commit()
            return won

    results = await asyncio.gather(*(try_awards(n) for n in range(6)))
    assert sorted(a.rule_id for won in results for a in won) == ["first", "longest", "night-owl"]


async def test_active_local_days_come_from_counted_workouts(store: SqlStore) -> None:
    ada = make_user()
    await add_users(store, ada)
    days = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 2), date(2026, 3, 5)]
    async with store.unit_of_work() as uow:
        for day in days:
            w = replace(make_workout(ada.id), status=WorkoutStatus.PROCESSED, local_day=day)
            await uow.workouts.add(w)
        flagged = replace(make_workout(ada.id), local_day=date(2026, 3, 3))
        await uow.workouts.add(flagged)  # flagged: does not make a day active
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.achievements.active_local_days(ada.id, date(2026, 3, 1), date(2026, 3, 4))
    assert found == {date(2026, 3, 1), date(2026, 3, 2)}


async def test_bests_are_judged_among_earlier_counted_workouts(store: SqlStore) -> None:
    ada = make_user()
    await add_users(store, ada)

    def run(hours: int, distance: float, duration: int, calories: float) -> Workout:
        w = make_workout(ada.id, started_at=T0 + timedelta(hours=hours))
        w = replace(w, submission=replace(w.submission, distance_m=distance, duration_s=duration))
        return replace(w, status=WorkoutStatus.PROCESSED, calories=calories)

    early = run(0, 8000, 2400, 500.0)  # 300 s/km
    later = run(48, 12000, 3300, 900.0)  # 275 s/km
    flagged = replace(run(24, 50000, 3600, 5000.0), status=WorkoutStatus.FLAGGED)
    walk = replace(run(12, 20000, 14400, 700.0))
    walk = replace(walk, submission=replace(walk.submission, activity=Activity.WALK))
    async with store.unit_of_work() as uow:
        for w in (early, later, flagged, walk):
            await uow.workouts.add(w)
        await uow.commit()
    probe = uuid4()
    async with store.unit_of_work(read_only=True) as uow:
        a = uow.achievements
        # A workout that happened between the two runs is judged against the first only,
        # even though it arrives after the second.
        between = T0 + timedelta(hours=30)
        assert await a.best_before(ada.id, LONGEST, between, probe) == 8000
        assert await a.best_before(ada.id, LONGEST, T0 + timedelta(days=5), probe) == 12000
        assert await a.best_before(ada.id, PACE, T0 + timedelta(days=5), probe) == 275
        assert await a.best_before(ada.id, CALORIES, between, probe) == 700
        # Date order is (start, id): at the same start, only a smaller id comes before.
        assert await a.best_before(ada.id, LONGEST, T0, UUID(int=0)) is None
        assert await a.best_before(ada.id, LONGEST, T0, UUID(int=2**128 - 1)) == 8000
        # The workout being judged never counts against itself.
        start = T0 + timedelta(hours=48)
        assert await a.best_before(ada.id, LONGEST, start, later.id) == 8000


RECORDS = [
    LONGEST,
    PACE,
    CALORIES,
    PersonalRecord("ride", "Ride", "d", frozenset({Activity.CYCLE}), Measure.DURATION),
    PersonalRecord("points", "Points", "d", None, Measure.POINTS),
    PersonalRecord("far", "Far", "d", None, Measure.DISTANCE, 1000),
    PersonalRecord("pace-any", "Pace", "d", None, Measure.PACE),
    PersonalRecord("wet", "Wet", "d", frozenset({Activity.SWIM, Activity.ROW}), Measure.CALORIES),
]


def random_workout(rng: random.Random, owner: UUID, started_at: datetime) -> Workout:
    """A workout of any activity, distance (none too), status and figures."""
    w = make_workout(owner, started_at=started_at)
    # Short fast efforts beat every long one on pace, unless a minimum distance applies.
    distance = rng.choice([None, 0.0, 500.0, rng.uniform(1000, 30000)])
    submission = replace(
        w.submission,
        activity=rng.choice([Activity.RUN, Activity.CYCLE, Activity.SWIM, Activity.YOGA]),
        distance_m=distance,
        duration_s=rng.randint(60, 90) if distance == 500.0 else rng.randint(300, 10000),
    )
    status = rng.choice([WorkoutStatus.PROCESSED] * 3 + [WorkoutStatus.FLAGGED])
    return replace(
        w,
        submission=submission,
        status=status,
        calories=rng.uniform(0, 1500),
        points=rng.randint(0, 200),
    )


async def test_bests_before_equal_best_before_of_each_rule(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    rng = random.Random(7)
    stored = []
    async with store.unit_of_work() as uow:
        for n in range(60):
            owner = ada if n % 4 else grace
            w = random_workout(rng, owner.id, T0 + timedelta(hours=rng.randint(0, 400)))
            await uow.workouts.add(w)
            stored.append(w)
        await uow.commit()
    probes = [T0 - timedelta(hours=1), T0, *(T0 + timedelta(hours=h) for h in (5, 50, 200, 401))]
    excludes = [uuid4(), *(w.id for w in stored[:8])]
    found: list[float | None] = []
    async with store.unit_of_work(read_only=True) as uow:
        a = uow.achievements
        for user in (ada, grace):
            for before in probes:
                for exclude in excludes:
                    statement_log.clear()
                    bests = await a.bests_before(user.id, RECORDS, before, exclude)
                    assert len(statement_log.queries()) == 1
                    assert list(bests) == [rule.id for rule in RECORDS]
                    for rule in RECORDS:
                        one = await a.best_before(user.id, rule, before, exclude)
                        assert bests[rule.id] == one, (user.username, rule.id, before, exclude)
                        found.append(one)
        statement_log.clear()
        assert await a.bests_before(ada.id, [], T0, uuid4()) == {}
        assert statement_log.queries() == []
        # A subset of the catalog, in another order, is answered for exactly those rules.
        subset = [RECORDS[6], RECORDS[0]]
        late = T0 + timedelta(days=30)
        assert await a.bests_before(ada.id, subset, late, uuid4()) == {
            rule.id: await a.best_before(ada.id, rule, late, uuid4()) for rule in subset
        }
    # Both some bests and some rules with nothing before them were compared.
    assert len(found) == 2 * len(probes) * len(excludes) * len(RECORDS)
    assert len(found) / 3 < sum(value is not None for value in found) < len(found)


async def test_a_scheduled_run_is_claimed_once(store: SqlStore) -> None:
    async def claim() -> bool:
        async with store.unit_of_work() as uow:
            won = await uow.runs.claim_run("placement:weekly-podium", "2026-W47", T0)
            await uow.commit()
            return won

    assert sorted(await asyncio.gather(*(claim() for _ in range(5)))) == [False] * 4 + [True]
    async with store.unit_of_work() as uow:
        assert await uow.runs.claim_run("placement:weekly-podium", "2026-W48", T0)


async def test_kept_bests_answer_as_the_whole_history_would(
    store: SqlStore, statement_log: StatementLog
) -> None:
    # Judging keeps the bests it read (keep_bests), so the next judging of the athlete
    # reads only the workouts since. Whatever happens to the workouts (stored in order or
    # late, rewritten, deleted), every answer must equal the whole history's (best_before
    # reads every earlier workout and nothing kept).
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    rng = random.Random(11)
    stored: dict[UUID, Workout] = {}
    latest = {ada.id: T0, grace.id: T0}

    async def whole_history(uow: SqlUnitOfWork, place: tuple[UUID, datetime, UUID]) -> list[object]:
        user, at, exclude = place
        return [await uow.achievements.best_before(user, r, at, exclude) for r in RECORDS]

    async def judged(uow: SqlUnitOfWork, places: list[tuple[UUID, datetime, UUID]]) -> None:
        # What judging does: read, then keep what it read.
        bests = await uow.achievements.bests_before_many(RECORDS, places)
        for place, found in zip(places, bests, strict=True):
            assert list(found.values()) == await whole_history(uow, place), place
        await uow.achievements.keep_bests(RECORDS, places, bests)

    kept_reads = 0
    for step in range(90):
        owner = rng.choice([ada.id, grace.id])
        mine = [w for w in stored.values() if w.user_id == owner]
        action = rng.choices(["add", "late", "replace", "delete"], [10, 3, 2, 1])[0]
        async with store.unit_of_work() as uow:
            if action in ("add", "late") or not mine:
                if action == "late":
                    at = T0 + timedelta(
                        minutes=rng.randint(0, (latest[owner] - T0) // timedelta(minutes=1))
                    )
                else:
                    at = latest[owner] = latest[owner] + timedelta(minutes=rng.randint(1, 90))
                new = random_workout(rng, owner, at)
                assert await uow.workouts.add_new([new]) == {new.id}
                stored[new.id] = new
                await judged(uow, [(owner, at, new.id)])
            elif action == "replace":
                before = rng.choice(mine)
                after = random_workout(rng, owner, before.submission.started_at)
                after = replace(after, submission=replace(after.submission, id=before.id))
                await uow.workouts.replace(after)
                stored[after.id] = after
            else:
                gone = rng.choice(mine)
                await uow.workouts.delete(gone.id)
                del stored[gone.id]
            await uow.commit()
        kept_reads += len(await kept_rows(store))
        # Both athletes' next workouts, and one in each athlete's past, as judging asks.
        async with store.unit_of_work() as uow:
            probes = [(u, latest[u] + timedelta(seconds=30), uuid4()) for u in latest]
            past = [w for w in stored.values() if w.user_id == owner]
            if past:
                w = rng.choice(past)
                probes.append((owner, w.submission.started_at, w.id))
            statement_log.clear()
            found = await uow.achievements.bests_before_many(RECORDS, probes)
            assert len(statement_log.queries()) == 1
            for place, bests in zip(probes, found, strict=True):
                assert list(bests.values()) == await whole_history(uow, place), (step, place)
            await uow.rollback()
    # The kept bests were there to be read most of the time.
    assert kept_reads > 90
    # Keeping is two statements (keep, then forget all but the latest few), their texts
    # the same however many athletes.
    async with store.unit_of_work() as uow:
        places = [(u, latest[u] + timedelta(hours=1), uuid4()) for u in (ada.id, grace.id)]
        answers = await uow.achievements.bests_before_many(RECORDS, places)
        statement_log.clear()
        await uow.achievements.keep_bests(RECORDS, places, answers)
        await uow.achievements.keep_bests(RECORDS, places[:1], answers[:1])
        await uow.achievements.keep_bests([], places, answers)
        await uow.achievements.keep_bests(RECORDS, [], [])
        assert len(statement_log.queries()) == 4
        assert len(set(statement_log.queries())) == 2
        await uow.rollback()


async def test_bests_kept_for_other_rules_or_a_later_place_are_not_read(store: SqlStore) -> None:
    ada = make_user()
    await add_users(store, ada)
    short = counted_run(ada.id, timedelta(hours=0), 3000)
    long = counted_run(ada.id, timedelta(hours=5), 8000)
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new([short, long])
        place = (ada.id, T0 + timedelta(hours=10), uuid4())
        (bests,) = await uow.achievements.bests_before_many([LONGEST], [place])
        assert bests == {"longest": 8000}
        await uow.achievements.keep_bests([LONGEST], [place], [bests])
        await uow.commit()
    async with store.unit_of_work() as uow:
        # The same id, another definition: what was kept for the old one is not read.
        longer = replace(LONGEST, min_distance_m=9000)
        later = (ada.id, T0 + timedelta(hours=20), uuid4())
        assert await uow.achievements.bests_before_many([longer], [later]) == [{"longest": None}]
        # A place before the kept one is read from the workouts.
        early = (ada.id, T0 + timedelta(hours=3), uuid4())
        assert await uow.achievements.bests_before_many([LONGEST], [early]) == [{"longest": 3000}]
        # An earlier place is kept beside a later one, not instead of it.
        await uow.achievements.keep_bests([LONGEST], [early], [{"longest": 3000}])
        await uow.commit()
    assert sorted(row.before_started_at for row in await kept_rows(store)) == [early[1], place[1]]
    # Erasing the athlete erases what was kept of them.
    async with store.unit_of_work() as uow:
        await uow.personal_data.erase(ada.id)
        await uow.commit()
    assert await kept_rows(store) == []


def counted_run(user_id: UUID, after_t0: timedelta, distance: float) -> Workout:
    """A processed run of the athlete's, `after_t0` after T0, of `distance` metres."""
    w = make_workout(user_id, started_at=T0 + after_t0)
    w = replace(w, submission=replace(w.submission, distance_m=distance))
    return replace(w, status=WorkoutStatus.PROCESSED)


async def kept_rows(store: SqlStore) -> list[Row[Any]]:
    async with store.engine.connect() as connection:
        return list(await connection.execute(select(kept_record_bests)))


async def test_the_database_forgets_kept_bests_whoever_writes_the_workouts(
    store: SqlStore,
) -> None:
    # Triggers on the workouts (migration 0012), not the repository, forget a kept row:
    # plain SQL (an operator's, an older release's) is covered too.
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    first, second = (
        replace(make_workout(ada.id, T0 + timedelta(hours=h)), status=WorkoutStatus.PROCESSED)
        for h in (0, 10)
    )
    theirs = make_workout(grace.id, T0 + timedelta(hours=1))
    kept_at = (ada.id, T0 + timedelta(hours=5), uuid4())

    async def keep() -> None:
        async with store.unit_of_work() as uow:
            found = await uow.achievements.bests_before_many(RECORDS, [kept_at])
            await uow.achievements.keep_bests(RECORDS, [kept_at], found)
            await uow.commit()
        assert [row.user_id for row in await kept_rows(store)] == [ada.id]

    async def run(statement: Executable) -> None:
        async with store.engine.begin() as connection:
            await connection.execute(statement)

    async with store.unit_of_work() as uow:
        await uow.workouts.add_new([first])
        await uow.commit()
    await keep()
    # Stored after the kept place, or another athlete's: nothing to forget.
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new([second, theirs])
        await uow.commit()
    await run(update(workouts).where(workouts.c.id == theirs.id).values(points=1))
    await run(delete(workouts).where(workouts.c.id == theirs.id))
    assert len(await kept_rows(store)) == 1
    # Any change to one of the athlete's workouts, even one after the kept place.
    await run(update(workouts).where(workouts.c.id == second.id).values(points=1))
    assert await kept_rows(store) == []
    await keep()
    await run(delete(workouts).where(workouts.c.id == second.id))
    assert await kept_rows(store) == []
    await keep()
    # A workout stored after the kept place leaves it; one before it forgets it, and so
    # does one at the kept start with a smaller id (before it in date order).
    tie = make_workout(ada.id, kept_at[1], workout_id=UUID(int=kept_at[2].int - 1))
    for stored, forgets in (
        (make_workout(ada.id, T0 + timedelta(hours=7)), False),
        (make_workout(ada.id, T0 + timedelta(hours=3)), True),
        (tie, True),
    ):
        async with store.unit_of_work() as uow:
            await uow.workouts.add_new([stored])
            await uow.commit()
        assert len(await kept_rows(store)) == (0 if forgets else 1)
        await keep()


async def test_a_workout_stored_before_the_latest_kept_place_leaves_the_earlier_ones(
    store: SqlStore,
) -> None:
    # Two workers' batches of one athlete interleave in date order: the one committed
    # second stores workouts before the place the first one kept. That forgets the rows
    # after them only; the next judging reads from the latest kept place left.
    ada = make_user()
    await add_users(store, ada)

    def run(minutes: int, distance: float) -> Workout:
        return counted_run(ada.id, timedelta(minutes=minutes), distance)

    async def judged(*places: tuple[UUID, datetime, UUID]) -> list[dict[str, float | None]]:
        async with store.unit_of_work() as uow:
            found = await uow.achievements.bests_before_many([LONGEST], list(places))
            for place, bests in zip(places, found, strict=True):
                whole = await uow.achievements.best_before(ada.id, LONGEST, place[1], place[2])
                assert bests == {"longest": whole}, place
            for place, bests in zip(places, found, strict=True):
                await uow.achievements.keep_bests([LONGEST], [place], [bests])
            await uow.commit()
        return found

    first, second, third = run(0, 5000), run(20, 3000), run(30, 9000)
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new([first, third])
        await uow.commit()
    # Kept at the first and the third workout's places (the first worker's batch).
    at_first = (ada.id, first.submission.started_at, first.id)
    at_third = (ada.id, third.submission.started_at, third.id)
    assert await judged(at_first, at_third) == [{"longest": None}, {"longest": 5000}]
    assert len(await kept_rows(store)) == 2
    # The second worker's workout, between the two: the row after it goes, not the other.
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new([second])
        await uow.commit()
    assert [row.before_id for row in await kept_rows(store)] == [first.id]
    later = (ada.id, T0 + timedelta(hours=1), uuid4())
    assert await judged(later) == [{"longest": 9000}]


async def test_an_athlete_keeps_rows_at_their_latest_places_only(store: SqlStore) -> None:
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    places = [(ada.id, T0 + timedelta(hours=h), uuid4()) for h in range(KEPT_PER_ATHLETE + 3)]
    theirs = (grace.id, T0, uuid4())
    async with store.unit_of_work() as uow:
        await uow.achievements.keep_bests([LONGEST], [theirs], [{"longest": None}])
        # One place a batch, in date order and out of it.
        for place in [*places[2:], *places[:2]]:
            await uow.achievements.keep_bests([LONGEST], [place], [{"longest": None}])
        await uow.commit()
    rows = await kept_rows(store)
    assert sorted(r.before_id for r in rows if r.user_id == ada.id) == sorted(
        p[2] for p in places[-KEPT_PER_ATHLETE:]
    )
    # Another athlete's rows are theirs to trim.
    assert [r.before_id for r in rows if r.user_id == grace.id] == [theirs[2]]
    # Rows of rules since changed go as the athlete's bests are next kept.
    longer = replace(LONGEST, min_distance_m=9000)
    async with store.unit_of_work() as uow:
        await uow.achievements.keep_bests([longer], [places[-1]], [{"longest": None}])
        await uow.commit()
    rows = await kept_rows(store)
    assert [r.before_id for r in rows if r.user_id == ada.id] == [places[-1][2]]


async def test_the_kept_row_of_a_release_before_0015_is_still_forgotten(store: SqlStore) -> None:
    # During a rolling upgrade an older release's worker keeps and reads `record_bests`
    # (one row an athlete): the triggers keep that true too, as they did at 0012.
    ada = make_user()
    await add_users(store, ada)
    kept_at = T0 + timedelta(hours=5)

    async def keep_the_old_way() -> None:
        async with store.engine.begin() as connection:
            await connection.execute(
                insert(record_bests).values(
                    user_id=ada.id,
                    catalog="c",
                    before_started_at=kept_at,
                    before_id=uuid4(),
                    bests="[]",
                )
            )

    async def old_rows() -> int:
        async with store.engine.connect() as connection:
            return len(list(await connection.execute(select(record_bests))))

    await keep_the_old_way()
    after, before = (make_workout(ada.id, T0 + timedelta(hours=h)) for h in (7, 3))
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new([after])
        await uow.commit()
    assert await old_rows() == 1
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new([before])
        await uow.commit()
    assert await old_rows() == 0
    await keep_the_old_way()
    async with store.engine.begin() as connection:
        await connection.execute(delete(workouts).where(workouts.c.id == after.id))
    assert await old_rows() == 0
    # Erasing the athlete erases both tables' rows (the old one's would hold it back).
    await keep_the_old_way()
    async with store.unit_of_work() as uow:
        await uow.personal_data.erase(ada.id)
        await uow.commit()
    assert await old_rows() == 0
