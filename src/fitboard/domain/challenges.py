"""Challenges: boards over any window (a 6-week season, a weekend event), with a goal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from fitboard.domain.boards import Metric, Scope
from fitboard.domain.errors import InvalidField

MAX_LENGTH = timedelta(days=366)


@dataclass(frozen=True)
class Challenge:
    id: UUID
    name: str
    metric: Metric
    scope: Scope
    starts_at: datetime
    ends_at: datetime
    created_by: UUID
    created_at: datetime
    goal: int | None = None

    def is_open(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


def check_window(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidField("starts_at", "needs a time zone offset")
    if ends_at <= starts_at:
        raise InvalidField("ends_at", "must be after starts_at")
    if ends_at - starts_at > MAX_LENGTH:
        raise InvalidField("ends_at", "a challenge lasts at most 366 days")
