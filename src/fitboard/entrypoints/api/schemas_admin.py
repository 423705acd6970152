"""Bodies of the admin operations (../shared/API.md, "Admin")."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from fitboard.entrypoints.api.schemas import StrictBody


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
