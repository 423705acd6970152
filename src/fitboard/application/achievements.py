"""Judging achievements: inside the worker's transaction for workouts, and once per closed
period for board placements. Awards are exactly-once by the record's primary key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.application.ports import HeldAchievement, Store, UnitOfWork
from fitboard.domain.achievements import (
    AnyRule,
    Award,
    PersonalRecord,
    Placement,
    Streak,
    WorkoutFacts,
    judge_workout,
    placement_awards,
    progress,
    streak_through,
)
from fitboard.domain.boards import BoardId, Period, Scope
from fitboard.domain.evaluation import local_start
from fitboard.domain.periods import board_day, period_key, period_range
from fitboard.domain.ranking import ranked
from fitboard.domain.users import User
from fitboard.domain.workouts import Totals, Workout


@dataclass(frozen=True)
class Awarded:
    """An achievement newly awarded just now (never one that was already held)."""

    rule: AnyRule
    award: Award
    user_id: UUID
    awarded_at: datetime
    workout_id: UUID | None


def _by_id(rules: Sequence[AnyRule]) -> dict[str, AnyRule]:
    return {rule.id: rule for rule in rules}


async def award_for_workout(
    uow: UnitOfWork,
    workout: Workout,
    user: User,
    all_time: Totals,
    rules: Sequence[AnyRule],
    now: datetime,
) -> list[Awarded]:
    """Judge one stored workout by every rule, in the caller's transaction. Everything is
    read from the record (the workout, all-time totals, the days around it, earlier
    bests), so a late or out-of-order workout is judged as if it had come in order."""
    start = local_start(workout.submission.started_at, user)
    day = start.date()
    longest = max((r.days for r in rules if isinstance(r, Streak)), default=0)
    days: set[date] = set()
    if longest:
        span = timedelta(days=longest - 1)
        days = await uow.achievements.active_local_days(user.id, day - span, day + span)
    records = [rule for rule in rules if isinstance(rule, PersonalRecord)]
    bests = await uow.achievements.bests_before(
        user.id, records, workout.submission.started_at, workout.id
    )
    facts = WorkoutFacts(workout, start, all_time, frozenset(days), bests)
    catalog = _by_id(rules)
    earned = judge_workout(rules, facts)
    recorded = await uow.achievements.award_all(user.id, earned, now, workout.id)
    return [Awarded(catalog[a.rule_id], a, user.id, now, workout.id) for a in recorded]


def closed_period_key(period: Period, now: datetime, zone: ZoneInfo) -> str:
    """The key of the most recent period instance that has ended by `now`."""
    today = board_day(now, zone)
    if period is Period.DAY:
        return period_key(period, today - timedelta(days=1))
    if period is Period.WEEK:
        return period_key(period, today - timedelta(days=7))
    if period is Period.MONTH:
        return period_key(period, today.replace(day=1) - timedelta(days=1))
    return period_key(period, date(today.year - 1, 12, 31))


async def award_closed_placements(
    *, store: Store, rules: Sequence[AnyRule], now: datetime, zone: ZoneInfo
) -> list[Awarded]:
    """Award placement rules for the last closed period of each, once per period however
    many workers run this: the claim and the awards commit together."""
    awarded: list[Awarded] = []
    for rule in rules:
        if not isinstance(rule, Placement):
            continue
        key = closed_period_key(rule.period, now, zone)
        board = BoardId(rule.metric, rule.period, Scope.global_())
        rng = period_range(rule.period, key)
        async with store.unit_of_work() as uow:
            if not await uow.achievements.claim_run(f"placement:{rule.id}", key, now):
                continue
            standings = await uow.rollups.standings(board, rng.first, rng.last)
            places = [(rank, s.user_id) for rank, s in ranked(v.standing for v in standings)]
            for who, award in placement_awards(rule, places, key):
                assert isinstance(who, UUID)
                if await uow.achievements.award(who, award, now, None):
                    awarded.append(Awarded(rule, award, who, now, None))
            await uow.commit()
    return awarded


@dataclass(frozen=True)
class CatalogEntry:
    rule: AnyRule
    progress: float | None
    held: bool


async def catalog_for(
    user_id: UUID, *, store: Store, rules: Sequence[AnyRule], now: datetime
) -> list[CatalogEntry]:
    """Every achievement, with the athlete's progress toward it and whether it is held."""
    async with store.unit_of_work(read_only=True) as uow:
        user = await uow.users.get(user_id)
        all_time = await uow.rollups.totals(user_id, None, None)
        held = {h.achievement_id for h in await uow.achievements.for_user(user_id)}
        longest = max((r.days for r in rules if isinstance(r, Streak)), default=0)
        streak = 0
        if longest and user is not None:
            today = local_start(now, user).date()
            days = await uow.achievements.active_local_days(
                user_id, today - timedelta(days=longest), today
            )
            # A streak is still alive today if it reached yesterday.
            streak = max(streak_through(days, today), streak_through(days, today - timedelta(1)))
    return [CatalogEntry(rule, progress(rule, all_time, streak), rule.id in held) for rule in rules]


async def held_by(user_id: UUID, *, store: Store) -> list[HeldAchievement]:
    async with store.unit_of_work(read_only=True) as uow:
        return await uow.achievements.for_user(user_id)


async def earned_by_workout(workout_id: UUID, *, store: Store) -> list[str]:
    async with store.unit_of_work(read_only=True) as uow:
        return await uow.achievements.for_workout(workout_id)
