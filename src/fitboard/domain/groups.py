"""A group: private boards for a club, a team, a group of friends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class Group:
    id: UUID
    name: str
    invite_code: str
    owner_id: UUID
    created_at: datetime


@dataclass(frozen=True)
class Membership:
    """One of an athlete's groups, as their list of groups shows it."""

    group: Group
    member_count: int
    joined_at: datetime
