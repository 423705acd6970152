"""What a leaderboard is: (metric, period, scope), cut into period instances by a period key.

A board's scores are absolute totals derived from the record, never increments, so
writing one twice, or rebuilding a board from scratch, always gives the same board.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField


class Metric(StrEnum):
    CALORIES = "calories"
    DISTANCE = "distance"
    DURATION = "duration"
    WORKOUTS = "workouts"
    POINTS = "points"
    ACTIVE_DAYS = "active_days"


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    ALL = "all"


class ScopeKind(StrEnum):
    GLOBAL = "global"
    ACTIVITY = "activity"
    GROUP = "group"


_GROUP_ID = re.compile(r"^[0-9a-fA-F-]{36}$")


@dataclass(frozen=True, order=True)
class Scope:
    """Who competes on a board: everyone, one activity's athletes, or a group's members."""

    kind: ScopeKind
    value: str | None = None

    @staticmethod
    def global_() -> Scope:
        return Scope(ScopeKind.GLOBAL)

    @staticmethod
    def for_activity(activity: Activity) -> Scope:
        return Scope(ScopeKind.ACTIVITY, activity.value)

    @staticmethod
    def for_group(group_id: UUID) -> Scope:
        return Scope(ScopeKind.GROUP, str(group_id))

    @staticmethod
    def parse(text: str) -> Scope:
        """Read `global`, `activity:<activity>` or `group:<group_id>`."""
        kind, _, value = text.partition(":")
        if kind == ScopeKind.GLOBAL and not value:
            return Scope.global_()
        if kind == ScopeKind.ACTIVITY:
            try:
                return Scope.for_activity(Activity(value))
            except ValueError:
                allowed = ", ".join(a.value for a in Activity)
                raise InvalidField(
                    "scope", f"unknown activity {value!r}; expected one of {allowed}"
                ) from None
        if kind == ScopeKind.GROUP and _GROUP_ID.match(value):
            # The pattern admits 36 dashes, say, which are no UUID.
            with contextlib.suppress(ValueError):
                return Scope.for_group(UUID(value))
        raise InvalidField(
            "scope", f"{text!r} is not a scope; use global, activity:<activity> or group:<group_id>"
        )

    @property
    def activity(self) -> Activity | None:
        return Activity(self.value) if self.kind is ScopeKind.ACTIVITY and self.value else None

    @property
    def group_id(self) -> UUID | None:
        return UUID(self.value) if self.kind is ScopeKind.GROUP and self.value else None

    def __str__(self) -> str:
        return self.kind.value if self.value is None else f"{self.kind.value}:{self.value}"


@dataclass(frozen=True, order=True)
class BoardId:
    """A board independent of time: `calories/week/global`."""

    metric: Metric
    period: Period
    scope: Scope

    @property
    def name(self) -> str:
        return f"{self.metric.value}/{self.period.value}/{self.scope}"

    @staticmethod
    def parse(name: str) -> BoardId:
        """Read `<metric>/<period>/<scope>`, the name live clients subscribe with."""
        parts = name.split("/")
        if len(parts) != 3:
            raise InvalidField("board", f"{name!r} is not <metric>/<period>/<scope>")
        metric, period, scope = parts
        return BoardId(parse_metric(metric), parse_period(period), Scope.parse(scope))


@dataclass(frozen=True, order=True)
class BoardKey:
    """One instance of a board: the weekly calories board of 2026-W47.

    How an index stores it is the index's business (`adapters/ranking_redis.py` lays out
    its Redis keys); `name` is how people and logs refer to it."""

    board: BoardId
    period_key: str
    # The worker hashes the same few keys over and over (dicts and sets of a batch's
    # boards), and the generated hash walks the board, its scope and three enums, each
    # enum's a Python-level call: worked out once, in __post_init__. Not compared, so
    # equality and order are the generated ones, of (board, period_key).
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.board, self.period_key)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[BoardKey], tuple[BoardId, str]]:
        # Copied or unpickled through __init__, so the hash is worked out again: a str's
        # hash differs from one process to the next, and a pickled one would be stale.
        return (BoardKey, (self.board, self.period_key))

    @property
    def name(self) -> str:
        """`<metric>/<period>/<scope>/<period key>`, e.g. `calories/week/global/2026-W47`."""
        return f"{self.board.name}/{self.period_key}"

    def __str__(self) -> str:
        return self.name


def parse_metric(text: str) -> Metric:
    try:
        return Metric(text)
    except ValueError:
        allowed = ", ".join(m.value for m in Metric)
        raise InvalidField(
            "metric", f"unknown metric {text!r}; expected one of {allowed}"
        ) from None


def parse_period(text: str) -> Period:
    try:
        return Period(text)
    except ValueError:
        allowed = ", ".join(p.value for p in Period)
        raise InvalidField(
            "period", f"unknown period {text!r}; expected one of {allowed}"
        ) from None


@dataclass(frozen=True)
class Standing:
    """A user's absolute total on one board instance and when it was reached."""

    user_id: UUID
    score: int
    reached_at: datetime


@dataclass(frozen=True)
class VersionedStanding:
    """A standing read from the record together with the user's projection version."""

    standing: Standing
    version: int


@dataclass(frozen=True, slots=True, init=False)
class ScoreUpdate:
    """The new absolute total of one user on one board instance; `score=None` removes the user."""

    key: BoardKey
    score: int | None
    reached_at: datetime | None

    def __init__(self, key: BoardKey, score: int | None, reached_at: datetime | None) -> None:
        # The worker makes 60 or more of these for every workout (`updates_for`), and
        # holds them through the batch's awaits, so they reach the older GC generations:
        # slots (56 bytes by sys.getsizeof, no dict), each set by its descriptor, which is what the
        # generated __init__'s object.__setattr__ does after a lookup, at a third of the
        # cost. Once made, it is as frozen as any (its __setattr__ refuses).
        _set_key(self, key)
        _set_score(self, score)
        _set_reached_at(self, reached_at)


# ScoreUpdate's slot descriptors' setters, for its __init__.
_set_key = ScoreUpdate.__dict__["key"].__set__
_set_score = ScoreUpdate.__dict__["score"].__set__
_set_reached_at = ScoreUpdate.__dict__["reached_at"].__set__


@dataclass(frozen=True)
class RankedEntry:
    """A row of a board as served: competition rank, user and score."""

    rank: int
    user_id: UUID
    score: int
