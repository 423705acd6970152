"""A stored monthly report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StoredReport:
    body: str  # JSON
    final_rank: int | None
    updated_at: datetime
