"""Judging achievements: inside the worker's transaction for workouts, and once per closed
period for board placements. Awards are exactly-once by the record's primary key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.application.achievements.ports import JudgingUnit, PlacementsUnit
from fitboard.application.ports import Clock, Store
from fitboard.domain.achievements import (
    AnyRule,
    Award,
    HeldAchievement,
    Measured,
    PersonalRecord,
    Placement,
    Streak,
    TotalThreshold,
    WorkoutFacts,
    best_of,
    judge_workout,
    measured,
    placement_awards,
    progress,
    record_setters,
    record_value,
    streak_through,
    total_value,
)
from fitboard.domain.boards import BoardId, Scope
from fitboard.domain.evaluation import local_start
from fitboard.domain.periods import judgeable_keys, period_range
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


@dataclass(frozen=True)
class Revoked:
    """An award taken back just now: a personal record that a workout which arrived late,
    but happened earlier, shows never was one; an award of a workout that an admin
    rejected or its athlete corrected or deleted; or a total or streak (held for the
    workout that reached it) that the record without such a workout no longer reaches."""

    rule: AnyRule
    period_key: str
    user_id: UUID
    revoked_at: datetime
    workout_id: UUID


@dataclass(frozen=True)
class Judged:
    """What judging one workout changed: awards (its own, and records of later workouts
    it made) and records of later workouts it took back."""

    awarded: list[Awarded]
    revoked: list[Revoked]


def _by_id(rules: Sequence[AnyRule]) -> dict[str, AnyRule]:
    return {rule.id: rule for rule in rules}


@dataclass(frozen=True)
class ToJudge:
    """A stored workout to judge, its athlete, their all-time totals with it, and when."""

    workout: Workout
    user: User
    all_time: Totals
    now: datetime


async def award_for_workout(
    uow: JudgingUnit,
    workout: Workout,
    user: User,
    all_time: Totals,
    rules: Sequence[AnyRule],
    now: datetime,
) -> Judged:
    """Judge one stored workout by every rule, in the caller's transaction. Everything is
    read from the record (the workout, all-time totals, the days around it, earlier
    bests), so a late or out-of-order workout is judged as if it had come in order; and
    the records of the workouts after it are judged again, so the athlete's records are
    always those of date order, whatever order the workouts arrived in."""
    (judged,) = await award_for_workouts(uow, [ToJudge(workout, user, all_time, now)], rules)
    return judged


@dataclass(frozen=True)
class Seen:
    """What judging a workout reads of the record: the athlete's active local days
    around it (none without streak rules), their best of each record rule before its
    place in date order, and their counted workouts after it (read only when it counts
    and there are record rules: those are what re-judging records looks at)."""

    days: set[date]
    bests: dict[str, float | None]
    later: list[Measured]


async def read_for_judging(
    uow: JudgingUnit, workouts: Sequence[tuple[Workout, User]], rules: Sequence[AnyRule]
) -> list[Seen]:
    """What judging each (workout, its athlete) reads of the record, in order, in three
    round trips for them all (fewer without streak or record rules), an athlete's several
    workouts as well. Read before the workouts are stored, it is what the record held
    before them, which `award_for_workouts` carries through each athlete's workouts."""
    if not workouts:
        return []
    days: list[set[date]] = [set() for _ in workouts]
    longest = _longest_streak(rules)
    if longest:
        span = timedelta(days=longest - 1)
        days = await uow.achievements.active_local_days_many(
            [
                (user.id, day - span, day + span)
                for day, (_, user) in zip(_local_days(workouts), workouts, strict=True)
            ]
        )
    records = _records(rules)
    places = [(user.id, w.submission.started_at, w.id) for w, user in workouts]
    bests = await uow.achievements.bests_before_many(records, places)
    later: list[list[Measured]] = [[] for _ in workouts]
    # Only a counted workout can change the records of those after it.
    counted = [i for i, (w, _) in enumerate(workouts) if records and w.counts_on_boards]
    if counted:
        found = await uow.achievements.counted_after_many([places[i] for i in counted])
        for i, measured_after in zip(counted, found, strict=True):
            later[i] = measured_after
    return [Seen(d, b, a) for d, b, a in zip(days, bests, later, strict=True)]


def comes_late(seen: Seen, workout: Workout, rules: Sequence[AnyRule]) -> bool:
    """Whether judging `workout` judges the records of workouts after it again: it counts,
    there are record rules, and the record holds a counted workout after it in date
    order (`seen.later`)."""
    return bool(workout.counts_on_boards and _records(rules) and seen.later)


def out_of_order(workout: Workout, earlier: Sequence[Workout], rules: Sequence[AnyRule]) -> bool:
    """Whether `workout` cannot be judged after `earlier` (its athlete's workouts judged
    before it in one `award_for_workouts`) on what was read before them all: it counts,
    there are record rules, and one of them counts and comes after it in date order, so
    judging it re-judges the records of one the record did not hold when it was read."""
    if not (workout.counts_on_boards and _records(rules)):
        return False
    place = _place(workout)
    return any(e.counts_on_boards and _place(e) > place for e in earlier)


async def award_for_workouts(
    uow: JudgingUnit,
    workouts: Sequence[ToJudge],
    rules: Sequence[AnyRule],
    seen: Sequence[Seen] | None = None,
) -> list[Judged]:
    """`award_for_workout` of each of `workouts`, in order, as one after another, with
    the awards of them all in one round trip. `seen`: what `read_for_judging` read of
    the record before any of them was stored, carried forward here through each
    athlete's workouts in order (the days they make active, the bests they set); without
    it, it is read now, which is only right with one workout per athlete (stored). No
    workout may be `out_of_order` after the athlete's before it here. Re-judging the
    records after the workouts that `come_late` reads the awards held among the later
    workouts in one round trip for all of them, and gives what they now earn in one
    more; only a record taken back costs a round trip of its own."""
    if not workouts:
        return []
    many = len({w.user.id for w in workouts}) != len(workouts)
    if seen is None:
        if many:
            raise ValueError(
                "several workouts of one athlete are judged on what was read before them"
            )
        seen = await read_for_judging(uow, [(w.workout, w.user) for w in workouts], rules)
    records = _records(rules)
    longest = _longest_streak(rules)
    span = timedelta(days=max(longest - 1, 0))
    mine: dict[UUID, list[Workout]] = {}
    for w in workouts:
        mine.setdefault(w.user.id, []).append(w.workout)
    # Worked out once a workout: an athlete's later workouts fold in their earlier ones'.
    values = {w.workout.id: _record_values(records, w.workout) for w in workouts} if many else {}
    judged_before: dict[UUID, list[Workout]] = {}
    starts = [local_start(w.workout.submission.started_at, w.user) for w in workouts]
    late: list[int] = []
    facts: list[WorkoutFacts] = []
    kept: list[dict[str, float | None]] = []
    for i, (w, found, start) in enumerate(zip(workouts, seen, starts, strict=True)):
        earlier = judged_before.setdefault(w.user.id, [])
        if out_of_order(w.workout, earlier, rules):
            raise ValueError(
                f"workout {w.workout.id} comes before one judged before it here in date "
                "order: judge it after that one is stored"
            )
        if comes_late(found, w.workout, rules):
            late.append(i)
        counted = [e for e in (*earlier, w.workout) if e.counts_on_boards]
        days = found.days
        if longest:
            day = start.date()
            days = days | {d for d in _local_days_of(counted) if abs(d - day) <= span}
        place = _place(w.workout)
        bests = _with(found.bests, (values[e.id] for e in earlier if _place(e) < place))
        facts.append(WorkoutFacts(w.workout, start, w.all_time, frozenset(days), bests))
        # What the record holds before its place once they are all stored, later ones too.
        kept.append(
            _with(found.bests, (values[e.id] for e in mine[w.user.id] if _place(e) < place))
        )
        earlier.append(w.workout)
    places = [(w.user.id, w.workout.submission.started_at, w.workout.id) for w in workouts]
    await uow.achievements.keep_bests(records, places, kept)
    earned = [judge_workout(rules, f) for f in facts]
    recorded = iter(
        await uow.achievements.award_many(
            [
                (w.user.id, award, w.now, w.workout.id)
                for w, its in zip(workouts, earned, strict=True)
                for award in its
            ]
        )
    )
    catalog = _by_id(rules)
    # The records of later workouts, judged again for every workout that came late, with
    # the awards held among them read in one round trip and the awards given in another.
    redone = dict(
        zip(
            late,
            await _rejudge_later_records_many(
                uow,
                records,
                [
                    _Later(
                        workouts[i].user.id,
                        facts[i].previous_bests,
                        measured(workouts[i].workout),
                        seen[i].later,
                    )
                    for i in late
                ],
                [workouts[i].now for i in late],
            ),
            strict=True,
        )
    )
    judged: list[Judged] = []
    for i, (w, its) in enumerate(zip(workouts, earned, strict=True)):
        awarded = [
            Awarded(catalog[a.rule_id], a, w.user.id, w.now, w.workout.id)
            for a in its
            if next(recorded)
        ]
        more, revoked = redone.get(i, ([], []))
        judged.append(Judged(awarded + more, revoked))
    return judged


def _records(rules: Sequence[AnyRule]) -> list[PersonalRecord]:
    return [rule for rule in rules if isinstance(rule, PersonalRecord)]


def _longest_streak(rules: Sequence[AnyRule]) -> int:
    return max((r.days for r in rules if isinstance(r, Streak)), default=0)


def _place(workout: Workout) -> tuple[datetime, UUID]:
    """The workout's place in its athlete's date order: start, then id (as the record
    orders them: a uuid compares as its bytes, as PostgreSQL compares them)."""
    return (workout.submission.started_at, workout.id)


def _local_days(workouts: Sequence[tuple[Workout, User]]) -> list[date]:
    return [local_start(w.submission.started_at, user).date() for w, user in workouts]


def _local_days_of(workouts: Sequence[Workout]) -> set[date]:
    """The athlete's own days the workouts are on, as the record keeps them (a workout
    stored before the record kept its day has none, and makes no day active)."""
    return {w.local_day for w in workouts if w.local_day is not None}


def _record_values(
    records: Sequence[PersonalRecord], workout: Workout
) -> list[tuple[PersonalRecord, float]]:
    """What a workout brings to each record rule's best (`record_value`, as the record's
    own read): the rules that look at it, with its value; none if it does not count."""
    if not workout.counts_on_boards:
        return []
    this = measured(workout)
    return [(rule, value) for rule in records if (value := record_value(rule, this)) is not None]


def _with(
    bests: dict[str, float | None], values: Iterable[list[tuple[PersonalRecord, float]]]
) -> dict[str, float | None]:
    """`bests` (one per record rule) as they are with workouts that bring `values`
    (`_record_values`) too."""
    found = dict(bests)
    for brought in values:
        for rule, value in brought:
            found[rule.id] = best_of(rule, value, found.get(rule.id))
    return found


@dataclass(frozen=True)
class _Later:
    """An athlete's counted workouts after a place in date order (`later`), whose
    records to judge again: `bests` are the athlete's bests before that place, and
    `workout` the one now there (None: the workout there no longer counts)."""

    user_id: UUID
    bests: dict[str, float | None]
    workout: Measured | None
    later: Sequence[Measured]


def _should_hold(
    records: Sequence[PersonalRecord], found: _Later
) -> dict[tuple[str, str], tuple[PersonalRecord, Measured, float]]:
    """The record awards (rule, workout key) that `found.later` should hold by date order,
    now that `found.workout` is (or, None, no longer is) among them."""
    should: dict[tuple[str, str], tuple[PersonalRecord, Measured, float]] = {}
    workout = found.workout
    for rule in records:
        best = found.bests.get(rule.id)
        value = None if workout is None else record_value(rule, workout)
        if value is not None:
            best = best_of(rule, value, best)
        for holder, held_value in record_setters(rule, best, found.later):
            should[(rule.id, str(holder.id))] = (rule, holder, held_value)
    return should


async def _rejudge_later_records_many(
    uow: JudgingUnit,
    records: Sequence[PersonalRecord],
    athletes: Sequence[_Later],
    nows: Sequence[datetime],
) -> list[tuple[list[Awarded], list[Revoked]]]:
    """`_rejudge_later_records` of each of `athletes`, awarded at `nows`, one after
    another, with what they hold read in one round trip and what they now earn awarded
    in one: what judging one athlete's records reads and writes is their own, so doing
    them together is doing them one after another. An athlete may come several times
    (several of their workouts arrived late, in date order): each time is judged on what
    the times before left held, worked out here from the one read, and the record is
    written once with where they all lead (an award given and taken back again within
    them is never written; one taken back and given again is written again)."""
    if not athletes:
        return []
    shoulds = [_should_hold(records, found) for found in athletes]
    helds = await uow.achievements.held_many(
        [r.id for r in records],
        [(found.user_id, [str(w.id) for w in found.later]) for found in athletes],
    )
    # What each athlete holds among all the workouts looked at, before any of this.
    holding: dict[UUID, set[tuple[str, str]]] = {}
    for found, held in zip(athletes, helds, strict=True):
        holding.setdefault(found.user_id, set()).update(held)
    before = {user_id: set(held) for user_id, held in holding.items()}
    rules_by_id = {r.id: r for r in records}
    # Per (athlete, award): the last award of it given here (rule, value, when, holder),
    # or None when the last word was taking it back; and those taken back at all.
    last: dict[
        tuple[UUID, tuple[str, str]], tuple[PersonalRecord, float, datetime, UUID] | None
    ] = {}
    taken_back: set[tuple[UUID, tuple[str, str]]] = set()
    results: list[tuple[list[Awarded], list[Revoked]]] = []
    for found, should, now in zip(athletes, shoulds, nows, strict=True):
        held_now = holding[found.user_id]
        looked_at = {(r.id, str(w.id)) for w in found.later for r in records}
        held = held_now & looked_at
        given: list[Awarded] = []
        for key, (rule, holder, value) in should.items():
            if key not in held:
                given.append(
                    Awarded(rule, Award(rule.id, key[1], value), found.user_id, now, holder.id)
                )
                last[(found.user_id, key)] = (rule, value, now, holder.id)
                held_now.add(key)
        by_id = {str(w.id): w.id for w in found.later}
        revoked: list[Revoked] = []
        # Rare (a late workout took records away from later ones).
        for rule_id, workout_key in sorted(held - should.keys()):
            revoked.append(
                Revoked(rules_by_id[rule_id], workout_key, found.user_id, now, by_id[workout_key])
            )
            last[(found.user_id, (rule_id, workout_key))] = None
            taken_back.add((found.user_id, (rule_id, workout_key)))
            held_now.discard((rule_id, workout_key))
        results.append((given, revoked))
    # Written once: what was held before and is not at the end (or is again, given anew)
    # is taken back, one statement each (rare); what is held at the end and was given
    # here is awarded, all in one round trip.
    for user_id, (rule_id, workout_key) in sorted(taken_back):
        if (rule_id, workout_key) in before[user_id]:
            await uow.achievements.revoke(user_id, rule_id, workout_key)
    await uow.achievements.award_many(
        [
            (user_id, Award(rule.id, workout_key, value), now, holder)
            for (user_id, (_, workout_key)), final in last.items()
            if final is not None
            for rule, value, now, holder in [final]
        ]
    )
    return results


async def _rejudge_later_records(
    uow: JudgingUnit,
    user_id: UUID,
    records: Sequence[PersonalRecord],
    bests: dict[str, float | None],
    workout: Measured | None,
    later: Sequence[Measured],
    now: datetime,
) -> tuple[list[Awarded], list[Revoked]]:
    """Make the record awards of `later` (the workouts after `workout` in date order)
    exactly those of date order, now that `workout` is among them: a late workout can
    take a record away from a later one (it was at least as good) or give one (it is the
    first of its kind, which a later one now beats). `workout` None: a workout at that
    place no longer counts (rejected or deleted), which can give later ones records back."""
    (result,) = await _rejudge_later_records_many(
        uow, records, [_Later(user_id, bests, workout, later)], [now]
    )
    return result


async def withdraw_workout(
    uow: JudgingUnit, workout: Workout, rules: Sequence[AnyRule], now: datetime
) -> list[Revoked]:
    """Take back every award held for a workout that is about to change (a decision, a
    correction or a deletion), in the caller's transaction. What it still earns is judged
    again afterwards (`award_for_workout` on the changed workout, or
    `rejudge_without` when it no longer counts)."""
    catalog = _by_id(rules)
    revoked: list[Revoked] = []
    for rule_id, period_key in await uow.achievements.held_for_workout(workout.id):
        rule = catalog.get(rule_id)
        if rule is not None and await uow.achievements.revoke(workout.user_id, rule_id, period_key):
            revoked.append(Revoked(rule, period_key, workout.user_id, now, workout.id))
    return revoked


async def rejudge_without(
    uow: JudgingUnit, workout: Workout, rules: Sequence[AnyRule], now: datetime
) -> Judged:
    """The records of the workouts after `workout` (date order), judged again now that it
    no longer counts (rejected or deleted): the order-independence rule of records, for a
    workout taken away rather than one arriving late."""
    records = [rule for rule in rules if isinstance(rule, PersonalRecord)]
    if not records:
        return Judged([], [])
    started = workout.submission.started_at
    later = await uow.achievements.counted_after(workout.user_id, started, workout.id)
    if not later:
        return Judged([], [])
    bests = await uow.achievements.bests_before(workout.user_id, records, started, workout.id)
    awarded, revoked = await _rejudge_later_records(
        uow, workout.user_id, records, bests, None, later, now
    )
    return Judged(awarded, revoked)


async def rejudge_held_thresholds(
    uow: JudgingUnit,
    workout: Workout,
    all_time: Totals,
    rules: Sequence[AnyRule],
    now: datetime,
) -> list[Revoked]:
    """Take back the total and streak awards the athlete holds that the record no longer
    bears out, now that `workout` counts less or not at all (rejected, deleted or
    corrected), in the caller's transaction after the change is written; `all_time` are
    the athlete's totals after it. Such an award belongs to whichever workout reached it
    (often a later one, which `withdraw_workout` leaves alone), but it rests on every
    counted workout: a total is kept while the all-time total still reaches it, a streak
    while some run of that many consecutive active local days still exists anywhere in
    the athlete's history. Placements, single-workout thresholds, time of day and records
    belong to their workout or period and are judged elsewhere.

    A streak narrowed to some activities is judged on every active day (as
    `award_for_workout` counts them), so it is kept while such a run exists."""
    catalog = _by_id(rules)
    held = [
        (rule, h)
        for h in await uow.achievements.for_user(workout.user_id)
        if isinstance(rule := catalog.get(h.achievement_id), TotalThreshold | Streak)
    ]
    if not held:
        return []
    longest = 0
    if any(isinstance(rule, Streak) for rule, _ in held):
        days = await uow.achievements.active_local_days(workout.user_id, date.min, date.max)
        longest = _longest_run(days)
    revoked: list[Revoked] = []
    for rule, h in held:
        if isinstance(rule, TotalThreshold):
            still = total_value(rule.measure, all_time, rule.activities) >= rule.at_least
        else:
            still = longest >= rule.days
        if still:
            continue
        if await uow.achievements.revoke(workout.user_id, rule.id, h.period_key):
            # Named by the workout that reached it (the changed one if none is on record).
            holder = h.workout_id if h.workout_id is not None else workout.id
            revoked.append(Revoked(rule, h.period_key, workout.user_id, now, holder))
    return revoked


def _longest_run(days: set[date]) -> int:
    """The length of the longest run of consecutive days among `days` (0 if none)."""
    longest = 0
    for day in days:
        if day - timedelta(days=1) in days:
            continue  # not the first day of its run
        length = 1
        while day + timedelta(days=length) in days:
            length += 1
        longest = max(longest, length)
    return longest


def placement_job(rule: Placement) -> str:
    return f"placement:{rule.id}"


@dataclass(frozen=True)
class CatalogEntry:
    rule: AnyRule
    progress: float | None
    held: bool


class Achievements:
    """The catalog as an athlete sees it, what they hold, and the placements judged once
    per closed period. (Workouts are judged inside the worker's transaction, by
    `award_for_workout`.)"""

    def __init__(
        self,
        store: Store[PlacementsUnit],
        rules: Sequence[AnyRule],
        clock: Clock,
        zone: ZoneInfo,
    ) -> None:
        self._store = store
        self._clock = clock
        self._zone = zone
        # The catalog, read and validated at start.
        self.rules: Sequence[AnyRule] = rules

    async def award_closed_placements(
        self, *, now: datetime, grace: timedelta = timedelta(0)
    ) -> list[Awarded]:
        """Award placement rules for every period that closed at least `grace` ago and
        has not been judged yet, oldest first, once per period however many workers run
        this: the claim and the awards commit together."""
        awarded: list[Awarded] = []
        for rule in self.rules:
            if not isinstance(rule, Placement):
                continue
            job = placement_job(rule)
            async with self._store.unit_of_work(read_only=True) as uow:
                first_day = await uow.rollups.first_day()
                judged = await uow.runs.claimed(job)
            if first_day is None:
                continue
            for key in judgeable_keys(rule.period, first_day, now, self._zone, grace):
                if key not in judged:
                    awarded += await self._award_placement(rule, job, key, now)
        return awarded

    async def _award_placement(
        self, rule: Placement, job: str, key: str, now: datetime
    ) -> list[Awarded]:
        board = BoardId(rule.metric, rule.period, Scope.global_())
        rng = period_range(rule.period, key)
        awarded: list[Awarded] = []
        async with self._store.unit_of_work() as uow:
            if not await uow.runs.claim_run(job, key, now):
                return []
            standings = await uow.rollups.standings(board, rng.first, rng.last)
            places = [(rank, s.user_id) for rank, s in ranked(v.standing for v in standings)]
            for who, award in placement_awards(rule, places, key):
                assert isinstance(who, UUID)
                if await uow.achievements.award(who, award, now, None):
                    awarded.append(Awarded(rule, award, who, now, None))
            await uow.commit()
        return awarded

    async def catalog_for(self, user_id: UUID) -> list[CatalogEntry]:
        """Every achievement, with the athlete's progress toward it and whether it is held."""
        rules = self.rules
        now = self._clock.now()
        async with self._store.unit_of_work(read_only=True) as uow:
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
                streak = max(
                    streak_through(days, today), streak_through(days, today - timedelta(1))
                )
        return [
            CatalogEntry(rule, progress(rule, all_time, streak), rule.id in held) for rule in rules
        ]

    async def held_by(self, user_id: UUID) -> list[HeldAchievement]:
        async with self._store.unit_of_work(read_only=True) as uow:
            return await uow.achievements.for_user(user_id)

    async def earned_by_workout(self, workout_id: UUID) -> list[str]:
        async with self._store.unit_of_work(read_only=True) as uow:
            return await uow.achievements.for_workout(workout_id)
