"""Processing one submitted workout: the worker's use case.

One transaction per workout, under a per-athlete lock: insert (idempotent on the id),
compute calories and points, check plausibility, add to the daily rollup, bump the
athlete's projection version and read their new totals. After the commit, the totals
are projected onto the boards. Redelivery changes nothing but re-projecting the same
totals, which is what makes a crash anywhere in between harmless.

Around the projection the athlete's standings on the moved boards are read before and
after, in one batch each, so the live layer can say how ranks moved and whom the athlete
just passed. Those reads are for live push only: if they fail, the workout is still
processed, just announced without rank events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from fitboard.application.achievements import Awarded, award_for_workout
from fitboard.application.errors import PermanentFailure
from fitboard.application.ports import Clock, InFlightWorkouts, PortError, RankingIndex, Store
from fitboard.application.projection import totals_for_day
from fitboard.domain.achievements import AnyRule
from fitboard.domain.boards import BoardKey, Period, RankedEntry, ScoreUpdate
from fitboard.domain.evaluation import Rules, contribution, evaluate
from fitboard.domain.standings import scopes_moved_by, updates_for
from fitboard.domain.workouts import Workout, WorkoutSubmission

log = logging.getLogger(__name__)

# Whom one workout may announce as passed, per board: the athletes directly behind. A
# jump over a crowd tells the nearest few, so one workout's fan-out stays bounded.
MAX_OVERTAKEN_PER_BOARD = 3


@dataclass(frozen=True)
class RankChange:
    """The athlete's standing on one board instance before and after this workout."""

    key: BoardKey
    previous: RankedEntry | None
    current: RankedEntry


@dataclass(frozen=True)
class Overtaken:
    """`passed` was ahead of the athlete on `key` before this workout and is behind now."""

    key: BoardKey
    passed: RankedEntry


@dataclass(frozen=True)
class Processed:
    workout: Workout
    duplicate: bool
    version: int
    updates: list[ScoreUpdate]
    display_name: str = ""
    rank_changes: list[RankChange] = field(default_factory=list)
    overtaken: list[Overtaken] = field(default_factory=list)
    # Achievements this workout earned now (never ones already held: redelivery is silent).
    awarded: list[Awarded] = field(default_factory=list)


async def process_submission(
    submission: WorkoutSubmission,
    *,
    store: Store,
    ranking: RankingIndex,
    inflight: InFlightWorkouts,
    clock: Clock,
    rules: Rules,
    achievement_rules: Sequence[AnyRule] = (),
) -> Processed:
    async with store.unit_of_work() as uow:
        user = await uow.users.lock(submission.user_id)
        if user is None:
            raise PermanentFailure(f"no athlete with id {submission.user_id}")
        existing = await uow.workouts.get(submission.id)
        if existing is not None and existing.user_id != submission.user_id:
            raise PermanentFailure(f"workout id {submission.id} belongs to another athlete")
        duplicate = existing is not None
        if existing is None:
            workout = evaluate(submission, user, rules, clock.now())
            await uow.workouts.add(workout)
            if workout.counts_on_boards:
                await uow.rollups.add(
                    user.id, workout.board_day, submission.activity, contribution(workout)
                )
        else:
            workout = existing
        version = await uow.users.bump_projection_version(user.id)
        totals = await totals_for_day(uow, user.id, workout.board_day)
        groups = await uow.groups.group_ids_of(user.id)
        # Judged in the same transaction: an award exists exactly when its workout does.
        awarded = (
            []
            if duplicate
            else await award_for_workout(
                uow, workout, user, totals[Period.ALL], achievement_rules, clock.now()
            )
        )
        await uow.commit()

    scopes = scopes_moved_by(workout.submission.activity, groups)
    updates = updates_for(totals, workout.board_day, scopes, user.show_on_leaderboards)
    keys = [u.key for u in updates]
    before = await _standings(ranking, user.id, keys)
    await ranking.project(user.id, version, updates)
    after = await _standings(ranking, user.id, keys) if before is not None else None
    changes = rank_changes(before or {}, after or {})
    overtaken = await _overtaken(ranking, user.id, changes)
    # If clearing fails the marker expires by itself; the record already answers for it.
    with contextlib.suppress(PortError):
        await inflight.clear(submission.id)
    return Processed(
        workout, duplicate, version, updates, user.display_name, changes, overtaken, awarded
    )


def rank_changes(
    before: dict[BoardKey, RankedEntry | None], after: dict[BoardKey, RankedEntry | None]
) -> list[RankChange]:
    """Boards on which the athlete's own score changed, in the order of `after`.

    A board where only others moved is not this workout's doing, and a redelivered
    duplicate changes no score, so it announces nothing misleading."""
    changes: list[RankChange] = []
    for key, current in after.items():
        previous = before.get(key)
        if current is not None and (previous is None or previous.score != current.score):
            changes.append(RankChange(key, previous, current))
    return changes


async def _standings(
    ranking: RankingIndex, user_id: UUID, keys: Sequence[BoardKey]
) -> dict[BoardKey, RankedEntry | None] | None:
    try:
        return await ranking.standings_of(user_id, keys)
    except PortError as exc:
        # Only live rank events depend on this; the projection itself reports its own errors.
        log.warning("standings of %s not read, no rank events: %s", user_id, exc)
        return None


async def _overtaken(
    ranking: RankingIndex, user_id: UUID, changes: Sequence[RankChange]
) -> list[Overtaken]:
    improved = [c for c in changes if c.previous is None or c.current.rank < c.previous.rank]
    if not improved:
        return []
    try:
        windows = await asyncio.gather(
            *(ranking.around(c.key, user_id, MAX_OVERTAKEN_PER_BOARD) for c in improved)
        )
    except PortError as exc:
        log.warning("overtaken athletes of %s not read: %s", user_id, exc)
        return []
    found: list[Overtaken] = []
    for change, window in zip(improved, windows, strict=True):
        found.extend(Overtaken(change.key, e) for e in passed_by(change, window))
    return found


def passed_by(change: RankChange, window: Sequence[RankedEntry]) -> list[RankedEntry]:
    """The entries of `window` (board order, around the athlete) that were ahead of the
    athlete before and are strictly behind now. Only the athlete moved, so another's score
    is the same as before: they were ahead if it beat the athlete's old score (anyone on
    the board was ahead of an athlete who was not on it)."""
    me = change.current
    ids = [e.user_id for e in window]
    if me.user_id not in ids:  # moved off the board again since, by a later workout
        return []
    behind = window[ids.index(me.user_id) + 1 :]
    return [
        e
        for e in behind
        if e.rank > me.rank and (change.previous is None or e.score > change.previous.score)
    ]
