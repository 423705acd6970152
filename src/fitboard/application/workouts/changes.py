"""Applying a change to a stored workout: the worker's use case for an admin's decision
(approve, reject) and an athlete's deletion or correction, one design for all four.

One transaction under the athlete's lock: the workout row rewritten (or deleted), the
athlete's rollup rows of the board day recomputed from the workouts table (absolute, not
by increments, so redelivery and ordering are harmless), the change recorded (who, when,
why; its id makes it once-only), achievements judged again, the projection version
bumped and the new totals read. After the commit, still under the athlete's board-write
lock, the totals are projected onto the boards the workout was or is on. A redelivered
change writes nothing: it only projects the same totals again, which repairs a
projection that a crash cut short."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fitboard.application.achievements.judging import (
    Awarded,
    Judged,
    Revoked,
    award_for_workout,
    rejudge_held_thresholds,
    rejudge_without,
    withdraw_workout,
)
from fitboard.application.boards.ports import RankingIndex
from fitboard.application.boards.projection import totals_for_day
from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.ports import Clock, Store
from fitboard.application.workouts.ports import ProcessingUnit
from fitboard.application.workouts.processing import (
    MAX_OVERTAKEN_PER_BOARD,
    Overtaken,
    RankChange,
    overtaken_by,
    rank_changes,
)
from fitboard.domain.achievements import AnyRule
from fitboard.domain.boards import Period, Scope, ScoreUpdate
from fitboard.domain.changes import ChangeKind, WorkoutChange, decided, kept_rejected
from fitboard.domain.errors import InvalidField
from fitboard.domain.evaluation import Rules, contribution, evaluate
from fitboard.domain.standings import every_scope, scopes_moved_by, updates_for
from fitboard.domain.users import User
from fitboard.domain.workouts import Totals, Workout, check_submission


@dataclass(frozen=True)
class Changed:
    """What applying one change did. `after` is the workout now (None once deleted);
    `before` is None when the change had been applied already (a redelivery), and then
    nothing was written."""

    change: WorkoutChange
    before: Workout | None
    after: Workout | None
    version: int
    updates: list[ScoreUpdate]
    display_name: str = ""
    rank_changes: list[RankChange] = field(default_factory=list)
    overtaken: list[Overtaken] = field(default_factory=list)
    awarded: list[Awarded] = field(default_factory=list)
    revoked: list[Revoked] = field(default_factory=list)

    @property
    def duplicate(self) -> bool:
        return self.before is None


class WorkoutChanges:
    """The worker's use case: one change to one stored workout, into the record and onto
    the boards."""

    def __init__(
        self,
        store: Store[ProcessingUnit],
        ranking: RankingIndex,
        clock: Clock,
        rules: Rules,
        achievement_rules: Sequence[AnyRule],
        clock_skew_s: int,
    ) -> None:
        self._store = store
        self._ranking = ranking
        self._clock = clock
        self._rules = rules
        self._achievement_rules = achievement_rules
        # How far ahead of its own submission a workout may end (Settings.clock_skew_s).
        self._clock_skew_s = clock_skew_s

    async def apply(self, change: WorkoutChange) -> Changed:
        now = self._clock.now()
        before: Workout | None = None
        after: Workout | None = None
        judged = Judged([], [])
        async with self._store.unit_of_work() as uow:
            user = await uow.users.lock_and_bump_version(change.owner)
            if user is None:
                raise PermanentFailure(f"no athlete with id {change.owner}")
            groups = await uow.groups.group_ids_of(user.id)
            applied_day = await uow.changes.applied_day(change.id)
            scopes: list[Scope]
            if applied_day is not None:
                # Applied already: write nothing, project the same totals again.
                days = [applied_day]
                scopes = every_scope(groups)
                after = await uow.workouts.get(change.workout_id)
            else:
                before = await uow.workouts.get(change.workout_id)
                if before is None or before.user_id != change.owner:
                    raise PermanentFailure(
                        f"no workout {change.workout_id} of athlete {change.owner} to "
                        f"{change.kind.value} (deleted meanwhile, or never stored)"
                    )
                after = self._changed(before, change, user, now)
                if after is None:
                    await uow.workouts.delete(before.id)
                else:
                    await uow.workouts.replace(after)
                # Its board day, and the corrected one's if the board zone has moved since.
                days = sorted({before.board_day, *([after.board_day] if after else [])})
                for day in days:
                    counted = await uow.workouts.counted_on_day(user.id, day)
                    await uow.rollups.rebuild_day(
                        user.id, day, [(w.submission.activity, contribution(w)) for w in counted]
                    )
                await uow.changes.record(change, before.board_day, now)
                scopes = scopes_moved_by(before.submission.activity, groups)
                if after is not None and after.submission.activity != before.submission.activity:
                    scopes.append(Scope.for_activity(after.submission.activity))
            totals = {day: await totals_for_day(uow, user.id, day) for day in days}
            if before is not None:
                all_time = totals[days[0]][Period.ALL]
                judged = await self._judge(uow, before, after, user, all_time, now)
            await uow.commit()

            # Under the athlete's board-write lock, which outlives the commit
            # (`lock_and_bump_version`): their boards are written in commit order.
            visible = user.show_on_leaderboards
            updates = [u for d in days for u in updates_for(totals[d], d, scopes, visible)]
            projected = await self._ranking.project(
                user.id, user.projection_version, updates, behind=MAX_OVERTAKEN_PER_BOARD
            )
        return Changed(
            change,
            before,
            after,
            user.projection_version,
            updates,
            user.display_name,
            rank_changes(projected),
            overtaken_by(projected),
            judged.awarded,
            judged.revoked,
        )

    def _changed(
        self, workout: Workout, change: WorkoutChange, user: User, now: datetime
    ) -> Workout | None:
        """The workout after the change; None once deleted."""
        match change.kind:
            case ChangeKind.APPROVE | ChangeKind.REJECT:
                return decided(workout, change.kind)
            case ChangeKind.DELETE:
                return None
            case ChangeKind.CORRECT:
                assert change.correction is not None
                submission = change.correction.applied_to(workout.submission)
                try:
                    check_submission(submission, clock_skew_s=self._clock_skew_s)
                except InvalidField as invalid:
                    raise PermanentFailure(
                        f"invalid correction of workout {workout.id}: {invalid}"
                    ) from invalid
                # Judged by the same rules as a new workout (calories, points, plausibility).
                corrected = evaluate(submission, user, self._rules, now)
                return kept_rejected(corrected, workout)

    async def _judge(
        self,
        uow: ProcessingUnit,
        before: Workout,
        after: Workout | None,
        user: User,
        all_time: Totals,
        now: datetime,
    ) -> Judged:
        """The athlete's achievements after the change: what the workout held is taken
        back, then judged again as the order-independence rule of records wants it. A
        workout that counts now is judged like a late arrival (which re-judges the records
        after it); one that no longer counts gives the records after it back, and the
        athlete's latest counted workout is judged again, so totals, counts and streaks
        still reached without it stay theirs. A workout that counted before the change may
        have carried a total or a streak that another workout reached: those the record
        no longer reaches are taken back."""
        rules = self._achievement_rules
        revoked = await withdraw_workout(uow, before, rules, now)
        if after is not None and after.counts_on_boards:
            judged = await award_for_workout(uow, after, user, all_time, rules, now)
        else:
            judged = Judged([], [])
            if before.counts_on_boards:
                judged = await rejudge_without(uow, before, rules, now)
            latest = await uow.workouts.latest_counted(user.id)
            if latest is not None:
                again = await award_for_workout(uow, latest, user, all_time, rules, now)
                judged = Judged(judged.awarded + again.awarded, judged.revoked + again.revoked)
        judged = net_of(revoked, judged)
        if before.counts_on_boards:
            # It counted: totals and streaks that a later workout reached may rest on it.
            taken = await rejudge_held_thresholds(uow, before, all_time, rules, now)
            judged = Judged(judged.awarded, judged.revoked + taken)
        return judged


def net_of(revoked: Sequence[Revoked], judged: Judged) -> Judged:
    """What changed for the athlete: an award taken back and given again in the same
    change (still earned after a correction) is neither."""
    given = {(a.rule.id, a.award.period_key) for a in judged.awarded}
    taken = {(r.rule.id, r.period_key) for r in revoked}
    return Judged(
        [a for a in judged.awarded if (a.rule.id, a.award.period_key) not in taken],
        [r for r in revoked if (r.rule.id, r.period_key) not in given] + judged.revoked,
    )
