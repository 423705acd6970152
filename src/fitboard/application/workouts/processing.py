"""Processing submitted workouts: the worker's use case.

One transaction per batch of workouts, under per-athlete locks: for each workout in
order, insert (idempotent on the id), compute calories and points, check plausibility,
add to the daily rollup and read the athlete's new totals; each athlete's projection
version is bumped once. After the commit, the totals are projected onto the boards in one
round trip. Redelivery changes nothing but re-projecting the same totals, which is what
makes a crash anywhere in between harmless.

The projection also answers, board by board and atomically with each write, the
athlete's standing just before and after it and who is now directly behind, so the live
layer can say how ranks moved and whom the athlete just passed, at no extra round trip."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from fitboard.application.achievements.judging import Awarded, Judged, Revoked, award_for_workout
from fitboard.application.boards.ports import Projected, RankingIndex
from fitboard.application.boards.projection import totals_for_day
from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.ports import Clock, PortError, Store
from fitboard.application.workouts.duplicates import duplicate_of, rejected_as_duplicate
from fitboard.application.workouts.ports import InFlightWorkouts, ProcessingUnit
from fitboard.domain.achievements import AnyRule
from fitboard.domain.boards import BoardKey, Period, RankedEntry, ScoreUpdate
from fitboard.domain.evaluation import Rules, contribution, evaluate
from fitboard.domain.standings import scopes_moved_by, updates_for
from fitboard.domain.users import User
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
    # Achievements this workout earned now (never ones already held: redelivery is silent),
    # and the records of later workouts it gave (they are in `awarded` too, with their
    # own workout ids) or took back.
    awarded: list[Awarded] = field(default_factory=list)
    revoked: list[Revoked] = field(default_factory=list)


class Processing:
    """The worker's use case: one submitted workout into the record and onto the boards."""

    def __init__(
        self,
        store: Store[ProcessingUnit],
        ranking: RankingIndex,
        inflight: InFlightWorkouts,
        clock: Clock,
        rules: Rules,
        achievement_rules: Sequence[AnyRule] = (),
    ) -> None:
        self._store = store
        self._ranking = ranking
        self._inflight = inflight
        self._clock = clock
        self._rules = rules
        self._achievement_rules = achievement_rules

    async def process_submission(self, submission: WorkoutSubmission) -> Processed:
        (processed,) = await self.process_batch([submission])
        return processed

    async def process_batch(self, submissions: Sequence[WorkoutSubmission]) -> list[Processed]:
        """Process `submissions` in one transaction, with the outcome of processing them
        one at a time in this order; one `Processed` per submission, in order.

        Every athlete of the batch is locked (and their projection version bumped once)
        first, in the order of their ids, so two workers whose batches share athletes
        take their locks in one order and never deadlock. Each athlete's boards are then
        projected once, with the totals after their last workout of the batch, and every
        board write goes in one round trip; the rank changes and overtakes of an athlete
        are told with their last workout of the batch (the earlier ones' moves are part
        of them). Any failure rolls the whole batch back."""
        if not submissions:
            return []
        steps: list[_Step] = []
        async with self._store.unit_of_work() as uow:
            # Each row stays locked until the commit; a rollback undoes the bumps.
            athletes: dict[UUID, User] = {}
            for user_id in sorted({s.user_id for s in submissions}):
                user = await uow.users.lock_and_bump_version(user_id)
                if user is None:
                    raise PermanentFailure(f"no athlete with id {user_id}")
                athletes[user_id] = user
            groups_of: dict[UUID, list[UUID]] = {}
            for submission in submissions:
                user = athletes[submission.user_id]
                if user.id not in groups_of:
                    groups_of[user.id] = list(await uow.groups.group_ids_of(user.id))
                steps.append(await self._record(uow, submission, user, groups_of[user.id]))
            await uow.commit()

        last_step: dict[UUID, int] = {}
        latest: dict[UUID, dict[BoardKey, ScoreUpdate]] = {}
        for index, step in enumerate(steps):
            last_step[step.user.id] = index
            # A later workout's read of a board's total is the later total.
            latest.setdefault(step.user.id, {}).update((u.key, u) for u in step.updates)
        athletes_in_order = list(latest)
        projected = await self._ranking.project_many(
            [
                (user_id, athletes[user_id].projection_version, list(latest[user_id].values()))
                for user_id in athletes_in_order
            ],
            behind=MAX_OVERTAKEN_PER_BOARD,
        )
        projected_of = dict(zip(athletes_in_order, projected, strict=True))
        # If clearing fails the markers expire by themselves; the record already answers.
        with contextlib.suppress(PortError):
            await self._inflight.clear_many([s.id for s in submissions])
        done: list[Processed] = []
        for index, step in enumerate(steps):
            moves = projected_of[step.user.id] if last_step[step.user.id] == index else []
            done.append(
                Processed(
                    step.workout,
                    step.duplicate,
                    step.user.projection_version,
                    step.updates,
                    step.user.display_name,
                    rank_changes(moves),
                    overtaken_by(moves),
                    step.judged.awarded,
                    step.judged.revoked,
                )
            )
        return done

    async def _record(
        self,
        uow: ProcessingUnit,
        submission: WorkoutSubmission,
        user: User,
        groups: Sequence[UUID],
    ) -> _Step:
        """One submission into the record, in the batch's transaction, its athlete locked."""
        workout = evaluate(submission, user, self._rules, self._clock.now())
        # An activity the athlete already has, imported or typed in after its file (under
        # the per-athlete lock, so two uploads of one run at once cannot both count).
        # Whatever it judges now, a redelivery keeps the stored workout.
        original = await duplicate_of(uow, submission)
        if original is not None:
            workout = rejected_as_duplicate(workout, original.id)
        if await uow.changes.was_deleted(submission.id):
            # A redelivered or replayed submission must not bring a deleted one back.
            raise PermanentFailure(
                f"workout {submission.id} was deleted by its athlete; not stored again"
            )
        existing = await uow.workouts.add_or_get(workout)
        if existing is not None and existing.user_id != submission.user_id:
            raise PermanentFailure(f"workout id {submission.id} belongs to another athlete")
        duplicate = existing is not None
        if existing is not None:
            workout = existing
        elif workout.counts_on_boards:
            await uow.rollups.add(
                user.id, workout.board_day, submission.activity, contribution(workout)
            )
        totals = await totals_for_day(uow, user.id, workout.board_day)
        # Judged in the same transaction: an award exists exactly when its workout does.
        judged = (
            Judged([], [])
            if duplicate
            else await award_for_workout(
                uow,
                workout,
                user,
                totals[Period.ALL],
                self._achievement_rules,
                self._clock.now(),
            )
        )
        scopes = scopes_moved_by(workout.submission.activity, groups)
        updates = updates_for(totals, workout.board_day, scopes, user.show_on_leaderboards)
        return _Step(user, workout, duplicate, updates, judged)


@dataclass(frozen=True)
class _Step:
    """One submission of a batch, recorded: what its projection and result are made of."""

    user: User
    workout: Workout
    duplicate: bool
    updates: list[ScoreUpdate]
    judged: Judged


def _change(p: Projected) -> RankChange | None:
    """The athlete's own score changed on this board (a board where only others moved is
    not this workout's doing, and a redelivered duplicate changes no score). A board that
    is not loaded reports no standings, its ranks being too good: it announces nothing."""
    if p.after is None or (p.before is not None and p.before.score == p.after.score):
        return None
    return RankChange(p.key, p.before, p.after)


def rank_changes(projected: Sequence[Projected]) -> list[RankChange]:
    """Boards on which the athlete's own score changed, in the order of the writes."""
    return [c for p in projected if (c := _change(p)) is not None]


def overtaken_by(projected: Sequence[Projected]) -> list[Overtaken]:
    """Whom the athlete just passed, on every board, at most `behind` per board."""
    found: list[Overtaken] = []
    for p in projected:
        change = _change(p)
        if change is not None:
            found += [Overtaken(p.key, e) for e in passed_by(change, p.behind)]
    return found


def passed_by(change: RankChange, behind: Sequence[RankedEntry]) -> list[RankedEntry]:
    """The entries of `behind` (board order, directly behind the athlete after the write)
    that were ahead of the athlete before and are strictly behind now. Only the athlete
    moved, so another's score is the same as before: they were ahead if it beat the
    athlete's old score (anyone on the board was ahead of an athlete who was not on it).
    Entries tied with the athlete now share their rank, so they are not passed."""
    me = change.current
    if change.previous is not None and me.rank >= change.previous.rank:
        return []
    return [
        e
        for e in behind
        if e.rank > me.rank and (change.previous is None or e.score > change.previous.score)
    ]
