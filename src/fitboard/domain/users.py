"""Athletes and their profiles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fitboard.domain.activities import Sex


@dataclass
class User:
    id: UUID
    username: str
    display_name: str
    password_hash: str
    created_at: datetime
    timezone: str = "UTC"
    weight_kg: float | None = None
    birth_year: int | None = None
    sex: Sex | None = None
    show_on_leaderboards: bool = True
    is_admin: bool = False
    # Raised in every transaction that changes the athlete's totals, so a board only ever
    # accepts a newer total than the one it holds (two workers never leave a stale score).
    projection_version: int = 0
    # Raised by signing out, a password change and deletion: an access token names the
    # generation it was issued in, and is refused once the athlete's has moved on.
    token_generation: int = 0
