"""Which challenges' boards a processed workout moves (live updates), and the in-process
cache of the challenges near now that keeps it to one query per refresh."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.application.boards.reading import NamedEntry
from fitboard.application.live.challenges import LiveChallenges, challenges_moved
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Scope
from fitboard.domain.challenges import Challenge
from fitboard.domain.periods import keys_for_day
from fitboard.domain.standings import scopes_moved_by

ZONE = ZoneInfo("Europe/Berlin")
GROUP = UUID(int=7)
OTHER_GROUP = UUID(int=8)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def challenge(scope: Scope, starts: datetime, ends: datetime) -> Challenge:
    return Challenge(uuid.uuid4(), "c", Metric.DISTANCE, scope, starts, ends, UUID(int=1), starts)


def moved_by_run_on(day: date, groups: list[UUID]) -> list[BoardKey]:
    """The board instances a run on `day` (board zone) by a member of `groups` moves."""
    return [
        BoardKey(BoardId(metric, period, scope), key)
        for scope in scopes_moved_by(Activity.RUN, groups)
        for period, key in keys_for_day(day).items()
        for metric in Metric
    ]


def test_a_workout_moves_the_open_challenges_of_its_scopes_and_day() -> None:
    day = date(2026, 11, 20)
    window = (NOW - timedelta(days=3), NOW + timedelta(days=3))
    everyone = challenge(Scope.global_(), *window)
    runners = challenge(Scope.for_activity(Activity.RUN), *window)
    rowers = challenge(Scope.for_activity(Activity.ROW), *window)
    mine = challenge(Scope.for_group(GROUP), *window)
    theirs = challenge(Scope.for_group(OTHER_GROUP), *window)
    ended = challenge(Scope.global_(), NOW - timedelta(days=9), NOW - timedelta(days=2))
    # Ends on that day, 09:00 in Berlin: the day meets the window.
    that_morning = challenge(Scope.global_(), NOW - timedelta(days=9), NOW - timedelta(hours=4))
    # Ends at midnight, Berlin, as the day begins: the day does not meet the window.
    before = challenge(
        Scope.global_(), NOW - timedelta(days=9), datetime(2026, 11, 20, tzinfo=ZONE)
    )
    all_of_them = [everyone, runners, rowers, mine, theirs, ended, that_morning, before]

    moved = challenges_moved(all_of_them, moved_by_run_on(day, [GROUP]), ZONE)
    assert moved == [everyone.id, runners.id, mine.id, that_morning.id]
    # Not a member: the group's challenge is not theirs.
    assert mine.id not in challenges_moved(all_of_them, moved_by_run_on(day, []), ZONE)
    assert challenges_moved(all_of_them, [], ZONE) == []


class Challenges:
    """The groups feature's side, in memory: the stored challenges, and the reads asked."""

    def __init__(self, stored: list[Challenge]) -> None:
        self.stored = stored
        self.reads: list[tuple[datetime, datetime]] = []

    async def overlapping(self, since: datetime, until: datetime) -> list[Challenge]:
        self.reads.append((since, until))
        return [c for c in self.stored if c.starts_at < until and c.ends_at > since]

    async def top(self, challenge_id: UUID, limit: int) -> list[NamedEntry]:
        return []


class Clock:
    def now(self) -> datetime:
        return NOW


async def test_the_challenges_near_now_are_read_once_per_refresh() -> None:
    open_now = challenge(Scope.global_(), NOW - timedelta(days=1), NOW + timedelta(days=1))
    source = Challenges([open_now])
    seconds = [0.0]
    live = LiveChallenges(source, Clock(), ZONE, refresh_s=30, monotonic=lambda: seconds[0])
    moved = moved_by_run_on(date(2026, 11, 20), [])

    assert await live.moved_by(moved) == [open_now.id]
    # A challenge created now is not seen until the refresh; nothing is read per workout.
    later = challenge(Scope.global_(), NOW - timedelta(hours=1), NOW + timedelta(days=2))
    source.stored.append(later)
    seconds[0] = 29.0
    assert await live.moved_by(moved) == [open_now.id]
    assert await live.moved_by([]) == []
    assert len(source.reads) == 1
    seconds[0] = 30.0
    assert await live.moved_by(moved) == [open_now.id, later.id]
    assert len(source.reads) == 2
    # What is read: the challenges that ended within the lookback (late workouts), and
    # those starting before the refresh after next.
    since, until = source.reads[-1]
    assert (since, until) == (NOW - timedelta(days=7), NOW + timedelta(seconds=60))
