"""Processing one submitted workout: the worker's use case.

One transaction per workout, under a per-athlete lock: insert (idempotent on the id),
compute calories and points, check plausibility, add to the daily rollup, bump the
athlete's projection version and read their new totals. After the commit, the totals
are projected onto the boards. Redelivery changes nothing but re-projecting the same
totals, which is what makes a crash anywhere in between harmless."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from fitboard.application.errors import PermanentFailure
from fitboard.application.ports import Clock, InFlightWorkouts, PortError, RankingIndex, Store
from fitboard.application.projection import totals_for_day
from fitboard.domain.boards import ScoreUpdate
from fitboard.domain.evaluation import Rules, contribution, evaluate
from fitboard.domain.standings import scopes_moved_by, updates_for
from fitboard.domain.workouts import Workout, WorkoutSubmission


@dataclass(frozen=True)
class Processed:
    workout: Workout
    duplicate: bool
    version: int
    updates: list[ScoreUpdate]


async def process_submission(
    submission: WorkoutSubmission,
    *,
    store: Store,
    ranking: RankingIndex,
    inflight: InFlightWorkouts,
    clock: Clock,
    rules: Rules,
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
        await uow.commit()

    scopes = scopes_moved_by(workout.submission.activity, groups)
    updates = updates_for(totals, workout.board_day, scopes, user.show_on_leaderboards)
    await ranking.project(user.id, version, updates)
    # If clearing fails the marker expires by itself; the record already answers for it.
    with contextlib.suppress(PortError):
        await inflight.clear(submission.id)
    return Processed(workout, duplicate, version, updates)
