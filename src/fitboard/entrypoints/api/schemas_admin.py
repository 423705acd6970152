"""Bodies of the admin operations (../shared/API.md, "Admin")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from fitboard.application.workouts.moderation import MAX_REASON_CHARS
from fitboard.entrypoints.api.schemas import DecisionOut, StrictBody, Text, WorkoutOut


class DeadLetterOut(BaseModel):
    message_id: str = Field(description="For a workout, the workout's id.")
    routing_key: str
    reason: str = Field(description="Why it was given up on.")
    attempts: int
    failed_at: datetime


class DeadLettersOut(BaseModel):
    items: list[DeadLetterOut]


class ReplayIn(StrictBody):
    ids: list[str] | None = Field(
        default=None,
        max_length=10_000,
        description="Message ids to put back on the queue; all dead letters when absent.",
    )


class ReplayOut(BaseModel):
    replayed: int


class RebuildOut(BaseModel):
    boards: int = Field(description="Boards dropped and reloaded from the record.")
    entries: int = Field(description="Entries loaded into them.")


class DecisionIn(StrictBody):
    reason: Text | None = Field(
        default=None,
        max_length=MAX_REASON_CHARS,
        description="Why; the athlete sees it on the workout.",
    )


class DecisionQueued(BaseModel):
    id: UUID = Field(description="The workout's id.")
    status: Literal["queued"] = "queued"
    decision_id: UUID = Field(description="The decision's own id, as recorded.")


class ReviewedDecisionOut(DecisionOut):
    decided_by: UUID = Field(description="The admin who decided.")


class ReviewedWorkoutOut(WorkoutOut):
    user_id: UUID
    decision: ReviewedDecisionOut | None = None


class ReviewPage(BaseModel):
    items: list[ReviewedWorkoutOut]
    next_cursor: str | None
