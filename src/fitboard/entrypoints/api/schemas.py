"""Request and response bodies. Field names follow ../shared/API.md and are fixed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fitboard.domain.activities import Activity, Sex


class Strict(BaseModel):
    """Unknown fields are refused, and so are NaN and infinities."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RegisterIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    display_name: str | None = Field(default=None, min_length=1, max_length=64)
    weight_kg: float | None = Field(default=None, gt=20, lt=400)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    sex: Sex | None = None
    timezone: str | None = Field(default=None, max_length=64)


class UserOut(BaseModel):
    id: UUID
    username: str
    display_name: str
    weight_kg: float | None
    birth_year: int | None
    sex: Sex | None
    timezone: str
    show_on_leaderboards: bool
    is_admin: bool
    created_at: datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class RegisteredOut(TokenOut):
    user: UserOut


class ProfilePatch(Strict):
    display_name: str | None = Field(default=None, min_length=1, max_length=64)
    weight_kg: float | None = Field(default=None, gt=20, lt=400)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    sex: Sex | None = None
    timezone: str | None = Field(default=None, max_length=64)
    show_on_leaderboards: bool | None = None


class WorkoutIn(Strict):
    id: UUID | None = Field(
        default=None, description="Client-chosen id; sending the same id again counts once."
    )
    activity: Activity
    started_at: AwareDatetime
    duration_s: int = Field(description="Seconds, more than 0 and at most 86400.")
    distance_m: float | None = None
    elevation_gain_m: float | None = None
    avg_heart_rate: int | None = None
    calories: float | None = Field(
        default=None, description="Device-reported kcal: kept, but not used for ranking."
    )
    notes: str | None = Field(default=None, max_length=2000)


class WorkoutAccepted(BaseModel):
    id: UUID
    status: Literal["queued"] = "queued"


class WorkoutOut(BaseModel):
    id: UUID
    status: Literal["processed", "flagged", "rejected"]
    activity: Activity
    started_at: datetime
    duration_s: int
    distance_m: float | None
    elevation_gain_m: float | None
    avg_heart_rate: int | None
    calories: float
    calories_method: str
    met: float
    body_mass_kg: float
    points: int
    device_calories: float | None
    notes: str | None
    flag_reason: str | None
    processed_at: datetime
    achievements: list[str] = Field(default_factory=list)


class WorkoutPage(BaseModel):
    items: list[WorkoutOut]
    next_cursor: str | None


class BatchIn(Strict):
    workouts: list[WorkoutIn] = Field(min_length=1, max_length=100)


class BatchItemResult(BaseModel):
    index: int
    id: UUID | None = None
    status: Literal["queued", "invalid", "unavailable"]
    error: str | None = None


class BatchOut(BaseModel):
    results: list[BatchItemResult]


class EntryOut(BaseModel):
    rank: int
    user_id: UUID
    display_name: str
    score: int


class BoardOut(BaseModel):
    metric: str
    period: str
    period_key: str
    scope: str
    starts_at: datetime | None
    ends_at: datetime | None
    total: int
    entries: list[EntryOut]
    next_cursor: str | None


class MyStandingOut(BaseModel):
    rank: int | None
    score: int | None
    total: int
    neighbors: list[EntryOut]


class ErrorOut(BaseModel):
    detail: str


class AchievementOut(BaseModel):
    id: str
    name: str
    description: str
    kind: str
    progress: float | None = None
    held: bool


class HeldAchievementOut(BaseModel):
    id: str
    name: str
    awarded_at: datetime
    workout_id: UUID | None = None
    period_key: str | None = None
    value: float | None = None


class ChallengeIn(Strict):
    name: str = Field(min_length=1, max_length=80)
    metric: Literal["calories", "distance", "duration", "workouts", "points", "active_days"]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    scope: str = "global"
    goal: int | None = Field(default=None, gt=0)


class ChallengeOut(BaseModel):
    id: UUID
    name: str
    metric: str
    scope: str
    starts_at: datetime
    ends_at: datetime
    goal: int | None
    created_by: UUID


class ChallengeBoardOut(BaseModel):
    challenge: ChallengeOut
    metric: str
    period: Literal["challenge"] = "challenge"
    period_key: str
    scope: str
    starts_at: datetime
    ends_at: datetime
    total: int
    entries: list[EntryOut]
    next_cursor: str | None


class GroupIn(Strict):
    name: str = Field(min_length=1, max_length=80)


class JoinIn(Strict):
    invite_code: str = Field(min_length=1, max_length=64)


class GroupOut(BaseModel):
    id: UUID
    name: str
    invite_code: str
