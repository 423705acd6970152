"""Bodies of the admin operations (../shared/API.md, "Admin")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from fitboard.application.workouts.moderation import MAX_REASON_CHARS
from fitboard.entrypoints.api import examples
from fitboard.entrypoints.api.schemas import (
    DecisionOut,
    StrictBody,
    Text,
    WorkoutOut,
    examples_of,
)


class DeadLetterOut(BaseModel):
    message_id: str = Field(description="For a workout, the workout's id.")
    routing_key: str
    reason: str = Field(description="Why it was given up on.")
    attempts: int
    failed_at: datetime


class DeadLettersOut(BaseModel):
    model_config = examples_of(examples.DEAD_LETTERS)

    items: list[DeadLetterOut]


class ReplayIn(StrictBody):
    model_config = examples_of(examples.REPLAY_IN)

    ids: list[str] | None = Field(
        default=None,
        max_length=10_000,
        description="Message ids to put back on the queue; all dead letters when absent.",
    )


class ReplayOut(BaseModel):
    model_config = examples_of(examples.REPLAY)

    replayed: int


class RebuildOut(BaseModel):
    model_config = examples_of(examples.REBUILD)

    boards: int = Field(description="Boards dropped and reloaded from the record.")
    entries: int = Field(description="Entries loaded into them.")


class DecisionIn(StrictBody):
    model_config = examples_of(examples.DECISION_IN)

    reason: Text | None = Field(
        default=None,
        max_length=MAX_REASON_CHARS,
        description="Why; the athlete sees it on the workout.",
    )


class DecisionQueued(BaseModel):
    model_config = examples_of(examples.DECISION_QUEUED)

    id: UUID = Field(description="The workout's id.")
    status: Literal["queued"] = "queued"
    decision_id: UUID = Field(description="The decision's own id, as recorded.")


class ReviewedDecisionOut(DecisionOut):
    model_config = examples_of(examples.REVIEWED_DECISION)

    decided_by: UUID = Field(description="The admin who decided.")


class ReviewedWorkoutOut(WorkoutOut):
    model_config = examples_of(examples.FLAGGED_WORKOUT)

    user_id: UUID
    decision: ReviewedDecisionOut | None = None


class ReviewPage(BaseModel):
    model_config = examples_of(examples.REVIEW_PAGE)

    items: list[ReviewedWorkoutOut]
    next_cursor: str | None
