"""Processing submitted workouts: the worker's use case.

One transaction per batch of workouts, under per-athlete locks: for each workout in
order, compute calories and points, check plausibility, insert it (idempotent on the id),
add to the daily rollup, read the athlete's new totals and judge achievements; each
athlete's projection version is bumped once. The statements are multi-row, a few for the
whole batch and two per round of rollups (each athlete's n-th workout of the batch in
round n), not some for every workout. After the commit, the totals are projected onto the
boards in one round trip. Redelivery changes nothing but re-projecting the same totals,
which is what makes a crash anywhere in between harmless.

The projection also answers, atomically with each write, the athlete's standing just
before and after it on each board it moved them on, and whom they passed there, so the
live layer can say how ranks moved and whom the athlete just passed, at no extra round
trip (and no more reply than that: `only_moves`)."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType
from uuid import UUID

from fitboard.application.achievements.judging import (
    Awarded,
    Judged,
    Revoked,
    ToJudge,
    award_for_workouts,
    out_of_order,
    read_for_judging,
)
from fitboard.application.boards.ports import Projected, RankingIndex, passed_among
from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.ports import Clock, PortError, Store
from fitboard.application.workouts.duplicates import (
    duplicate_span,
    first_duplicate,
    rejected_as_duplicate,
)
from fitboard.application.workouts.ports import CandidateSpan, InFlightWorkouts, ProcessingUnit
from fitboard.domain.achievements import AnyRule
from fitboard.domain.boards import BoardKey, Period, RankedEntry, ScoreUpdate
from fitboard.domain.evaluation import Rules, contribution, evaluate
from fitboard.domain.periods import PeriodRange, keys_for_day, period_range
from fitboard.domain.standings import scopes_moved_by, updates_for
from fitboard.domain.users import User
from fitboard.domain.workouts import Totals, Workout, WorkoutSubmission

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
        take their locks in one order and never deadlock. What the batch needs of the
        record before its first step (the athletes' groups, deletions, workouts it may
        duplicate, what is stored under the ids of submissions that others of their
        athlete follow) is read once, and each submission is decided on it in order
        (`_decide`), each joining it. Then the batch is recorded in passes, usually one
        (`_record`), every pass in a few multi-row statements: what a step reads and
        writes is its own athlete's, and an athlete's submissions keep their order, so
        this is one at a time. Each athlete's boards are then projected once, with the
        totals after their last workout of the batch, after the
        commit but before the unit of work ends (under the athletes' board-write locks,
        so that their boards are written in the order of the commits), and every board
        write goes in one round trip; the rank changes and overtakes of an athlete
        are told with their last workout of the batch (the earlier ones' moves are part
        of them). Any failure before the commit rolls the whole batch back; one in the
        board writes after it leaves the record committed, and the batch's redelivery
        projects the same totals again."""
        if not submissions:
            return []
        async with self._store.unit_of_work() as uow:
            # Each row stays locked until the commit; a rollback undoes the bumps.
            ids = sorted({s.user_id for s in submissions})
            athletes = await uow.users.lock_and_bump_versions(ids)
            for user_id in ids:
                if user_id not in athletes:
                    raise PermanentFailure(f"no athlete with id {user_id}")
            groups_of = await uow.groups.group_ids_of_many(ids)
            deleted = await uow.changes.deleted_among([s.id for s in submissions])
            record = _BatchRecord(
                await uow.workouts.candidates_in_spans(
                    [
                        CandidateSpan(
                            s.user_id, *duplicate_span(s), s.activity, s.recording is None
                        )
                        for s in submissions
                    ]
                )
            )
            # What is stored under the id of a submission that others of its athlete
            # follow in the batch decides theirs (whether one duplicates it): read first.
            unknown = [i for i in _followed(submissions) if record.stored(i) is None]
            if unknown:
                for stored in (await uow.workouts.get_many(unknown)).values():
                    record.add(stored)
            decided = [self._decide(s, athletes, deleted, record) for s in submissions]
            recorded: dict[int, _Step] = {}
            pending = list(range(len(submissions)))
            while pending:
                pending = await self._record(uow, decided, pending, recorded)
            steps = [recorded[i] for i in range(len(submissions))]
            await uow.commit()

            # After the commit, the rows no longer locked, but still inside the unit of
            # work: its athletes' board-write locks keep their boards' writes in the order
            # of the commits (`lock_and_bump_versions`).
            updates = [
                updates_for(
                    step.totals,
                    step.workout.board_day,
                    scopes_moved_by(step.workout.submission.activity, groups_of[step.user.id]),
                    step.user.show_on_leaderboards,
                )
                for step in steps
            ]
            last_step: dict[UUID, int] = {}
            moved_of: dict[UUID, list[list[ScoreUpdate]]] = {}
            for index, (step, moved) in enumerate(zip(steps, updates, strict=True)):
                last_step[step.user.id] = index
                moved_of.setdefault(step.user.id, []).append(moved)
            athletes_in_order = list(moved_of)
            projected = await self._ranking.project_many(
                [
                    (user_id, athletes[user_id].projection_version, _latest(moved_of[user_id]))
                    for user_id in athletes_in_order
                ],
                behind=MAX_OVERTAKEN_PER_BOARD,
                # Only what `rank_changes` and `overtaken_by` keep: much of a full reply is
                # boards this batch did not move the athlete on, and rows they did not pass.
                only_moves=True,
            )
        projected_of = dict(zip(athletes_in_order, projected, strict=True))
        # If clearing fails the markers expire by themselves; the record already answers.
        with contextlib.suppress(PortError):
            await self._inflight.clear_many([s.id for s in submissions])
        done: list[Processed] = []
        for index, (step, moved) in enumerate(zip(steps, updates, strict=True)):
            moves = projected_of[step.user.id] if last_step[step.user.id] == index else []
            done.append(
                Processed(
                    step.workout,
                    step.duplicate,
                    step.user.projection_version,
                    moved,
                    step.user.display_name,
                    rank_changes(moves),
                    overtaken_by(moves),
                    step.judged.awarded,
                    step.judged.revoked,
                )
            )
        return done

    def _decide(
        self,
        submission: WorkoutSubmission,
        athletes: dict[UUID, User],
        deleted: set[UUID],
        record: _BatchRecord,
    ) -> _Decided:
        """The submission as it is to be recorded, judged on `record` (which it then
        joins): a duplicate of a workout the athlete already has is rejected, and one
        stored under its id already is not stored again."""
        user = athletes[submission.user_id]
        workout = evaluate(submission, user, self._rules, self._clock.now())
        # An activity the athlete already has, imported or typed in after its file (under
        # the per-athlete lock, so two uploads of one run at once cannot both count).
        # Whatever it judges now, a redelivery keeps the stored workout.
        original = first_duplicate(submission, record.near(submission))
        if original is not None:
            workout = rejected_as_duplicate(workout, original.id)
        if submission.id in deleted:
            # A redelivered or replayed submission must not bring a deleted one back.
            raise PermanentFailure(
                f"workout {submission.id} was deleted by its athlete; not stored again"
            )
        existing = record.stored(submission.id)
        if existing is not None and existing.user_id != submission.user_id:
            raise PermanentFailure(f"workout id {submission.id} belongs to another athlete")
        if existing is None:
            record.add(workout)
        return _Decided(user, workout, existing)

    async def _record(
        self,
        uow: ProcessingUnit,
        decided: list[_Decided],
        pending: Sequence[int],
        recorded: dict[int, _Step],
    ) -> list[int]:
        """Record the `pending` submissions of the batch (by index, in delivery order),
        as many as one pass can, into `recorded`; returns those left for the next pass.

        A pass stores every athlete's submissions in one insert and judges them in one
        `award_for_workouts`, on what the record held before it (`read_for_judging`),
        carried forward through each athlete's workouts in order; their rollups are
        added in rounds, each athlete's n-th in round n, each round followed by a read
        of the totals after it (each workout is judged on the athlete's totals just
        after it, summed by the database in its own order: a read per round, not sums
        worked out here, so every total is the same to the last bit as one at a time).
        A workout that comes before one of its athlete's already in the pass in date
        order (`out_of_order`: judging it re-judges the records of one the pass's
        read of the record did not hold) waits for the next pass with the athlete's
        later submissions; the next pass reads the record again. Workouts that arrive
        in date order, the usual case, take one pass however many an athlete has in the
        batch, even when the record holds later ones (another worker's batch committed
        first): the records after them are judged again in the same pass."""
        rules = self._achievement_rules
        new = [i for i in pending if decided[i].existing is None]
        seen = dict(
            zip(
                new,
                await read_for_judging(
                    uow, [(decided[i].workout, decided[i].user) for i in new], rules
                ),
                strict=True,
            )
        )
        this_pass: list[int] = []
        left: list[int] = []
        stopped: set[UUID] = set()
        judged_before: dict[UUID, list[Workout]] = {}
        for i in pending:
            user_id = decided[i].user.id
            if user_id in stopped:
                left.append(i)
                continue
            if decided[i].existing is None:
                earlier = judged_before.setdefault(user_id, [])
                if out_of_order(decided[i].workout, earlier, rules):
                    stopped.add(user_id)
                    left.append(i)
                    continue
                earlier.append(decided[i].workout)
            this_pass.append(i)

        adding = [decided[i].workout for i in this_pass if decided[i].existing is None]
        inserted = await uow.workouts.add_new(adding)
        if len(inserted) < len(adding):
            # Ids stored already, by an earlier delivery (a redelivery keeps the stored
            # workout) or by another athlete (dead-lettered below): read back. Only an
            # athlete's last submission of the batch can be one (the others' ids were
            # read before any was decided), so no decision rests on it.
            taken = await uow.workouts.get_many([w.id for w in adding if w.id not in inserted])
            for i in this_pass:
                found = taken.get(decided[i].workout.id)
                if decided[i].existing is None and found is not None:
                    if found.user_id != decided[i].user.id:
                        raise PermanentFailure(f"workout id {found.id} belongs to another athlete")
                    decided[i] = replace(decided[i], existing=found)

        totals: dict[int, dict[Period, Totals]] = {}
        for round_ in _turns([decided[i].user.id for i in this_pass]):
            here = [this_pass[at] for at in round_]
            await uow.rollups.add_many(
                [
                    (
                        d.user.id,
                        d.workout.board_day,
                        d.workout.submission.activity,
                        contribution(d.workout),
                    )
                    for d in (decided[i] for i in here)
                    if d.existing is None and d.workout.counts_on_boards
                ]
            )
            found_totals = await uow.rollups.totals_by_period_many(
                [(decided[i].user.id, _ranges_of(decided[i].stored.board_day)) for i in here]
            )
            totals.update(zip(here, found_totals, strict=True))

        # Judged in the same transaction: an award exists exactly when its workout does.
        fresh = [i for i in this_pass if decided[i].existing is None]
        judged = await award_for_workouts(
            uow,
            [
                ToJudge(
                    decided[i].workout,
                    decided[i].user,
                    totals[i][Period.ALL],
                    self._clock.now(),
                )
                for i in fresh
            ],
            rules,
            [seen[i] for i in fresh],
        )
        outcome = dict(zip(fresh, judged, strict=True))
        for i in this_pass:
            d = decided[i]
            recorded[i] = _Step(
                d.user,
                d.stored,
                d.existing is not None,
                totals[i],
                outcome.get(i, Judged([], [])),
            )
        return left


def _turns(athletes: Sequence[UUID]) -> list[list[int]]:
    """Positions in `athletes` (each item's athlete, in delivery order) in turns: each
    athlete's n-th in the n-th turn, in order."""
    turns: list[list[int]] = []
    seen: dict[UUID, int] = {}
    for index, user_id in enumerate(athletes):
        turn = seen.get(user_id, 0)
        seen[user_id] = turn + 1
        if turn == len(turns):
            turns.append([])
        turns[turn].append(index)
    return turns


def _followed(submissions: Sequence[WorkoutSubmission]) -> list[UUID]:
    """Ids of the submissions that a later one of the same athlete follows in the batch,
    each once."""
    last: dict[UUID, int] = {}
    for index, submission in enumerate(submissions):
        last[submission.user_id] = index
    return list(dict.fromkeys(s.id for i, s in enumerate(submissions) if i < last[s.user_id]))


def _latest(moved: list[list[ScoreUpdate]]) -> list[ScoreUpdate]:
    """An athlete's updates of the batch, one per board, each board's latest: a later
    workout's read of a board's total is the later total. One workout's updates name each
    board once (`updates_for`), so an athlete with one workout in the batch, the usual
    case, needs no merging (which hashes every key)."""
    if len(moved) == 1:
        return moved[0]
    latest: dict[BoardKey, ScoreUpdate] = {}
    for updates in moved:
        latest.update((u.key, u) for u in updates)
    return list(latest.values())


@functools.lru_cache(maxsize=64)
def _ranges_of(day: date) -> Mapping[Period, PeriodRange]:
    """Every period instance that contains `day` (what totals_for_day reads). Cached,
    read-only: a worker's workouts fall on a few board days (today's, yesterday's), and
    working the ranges out again cost some 14 us a workout."""
    return MappingProxyType(
        {period: period_range(period, key) for period, key in keys_for_day(day).items()}
    )


class _BatchRecord:
    """The workouts of the batch's athletes that the batch looks at, as the record holds
    them at each step: read before the first step (those one of its submissions could
    duplicate: `candidates_in_spans`; those stored under the ids of submissions others
    of their athlete follow), then joined by each submission as it is decided."""

    def __init__(self, nearby: Sequence[Workout]) -> None:
        self._stored: dict[UUID, Workout] = {}
        self._of: dict[UUID, dict[UUID, Workout]] = {}
        for workout in nearby:
            self.add(workout)

    def stored(self, workout_id: UUID) -> Workout | None:
        """The workout stored under that id, if this batch has seen it (a workout stored
        before the batch that the reads did not return, say an athlete's last submission
        of the batch redelivered typed in, is found by the insert instead)."""
        return self._stored.get(workout_id)

    def near(self, submission: WorkoutSubmission) -> list[Workout]:
        """Those of the athlete's workouts that started in the submission's
        `duplicate_span` that a duplicate could be among (a superset of the one
        `duplicate_of` would find), oldest first (ties by id)."""
        first, last = duplicate_span(submission)
        found = self._of.get(submission.user_id, {}).values()
        near = [w for w in found if first <= w.submission.started_at <= last]
        return sorted(near, key=lambda w: (w.submission.started_at, w.id))

    def add(self, workout: Workout) -> None:
        self._stored[workout.id] = workout
        self._of.setdefault(workout.user_id, {})[workout.id] = workout


@dataclass(frozen=True)
class _Decided:
    """A submission of the batch as it is to be recorded: its athlete, the workout it
    makes, and the one stored under its id already (None: it is new)."""

    user: User
    workout: Workout
    existing: Workout | None

    @property
    def stored(self) -> Workout:
        """The workout the record holds for it once recorded."""
        return self.workout if self.existing is None else self.existing


@dataclass(frozen=True)
class _Step:
    """One submission of a batch, recorded: what its projection and result are made of."""

    user: User
    workout: Workout
    duplicate: bool
    totals: dict[Period, Totals]  # the athlete's, after it, over every period of its day
    judged: Judged


def _change(p: Projected) -> RankChange | None:
    """The athlete's move on this board (`Projected.moved`), or None."""
    if not p.moved or p.after is None:
        return None
    return RankChange(p.key, p.before, p.after)


def rank_changes(projected: Sequence[Projected]) -> list[RankChange]:
    """Boards on which the athlete's own score changed, in the order of the writes."""
    return [c for p in projected if (c := _change(p)) is not None]


def overtaken_by(projected: Sequence[Projected]) -> list[Overtaken]:
    """Whom the athlete just passed, on every board, at most `behind` per board."""
    return [Overtaken(p.key, e) for p in projected if p.moved for e in p.passed()]


def passed_by(change: RankChange, behind: Sequence[RankedEntry]) -> list[RankedEntry]:
    """The entries of `behind` (board order, directly behind the athlete after the write)
    that the athlete passed with `change` (`passed_among`)."""
    return passed_among(change.previous, change.current, behind)
