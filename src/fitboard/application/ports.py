"""What every feature's ports share: the failures a port may raise, time, and the shape
of a transaction over the record.

Each feature declares the rest in its own `ports.py`, and its use cases ask for a unit of
work that lists just the repositories they touch (for example `workouts.ports.IngestUnit`).
The SQL store's unit of work has them all, so it serves every feature; nothing else sees
more than it asks for.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, TypeVar


class PortError(Exception):
    """Base of infrastructure failures surfaced through a port."""


class DependencyUnavailable(PortError):
    """A service the caller depends on cannot serve now; the same call can succeed later.

    The retry policy waits out such failures for as long as they last, without counting
    them against a message's attempts (application/messaging/retrying.py)."""


class StoreUnavailable(DependencyUnavailable):
    """The system of record cannot be reached; retry later."""


class RankingUnavailable(DependencyUnavailable):
    """The ranking index cannot be reached; retry later."""


class RankingBusy(RankingUnavailable):
    """The index is reachable, but a board's rebuild lock is held by another rebuild (not
    had in bounded time) or was lost to one mid-rebuild; retry once that rebuild is done."""


class QueueUnavailable(DependencyUnavailable):
    """The queue did not durably accept a message (down, blocked, or no confirm in time)."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class Transaction(Protocol):
    """One transaction over the record. A use case opens it, does its reads and writes
    through the repositories its unit lists, and commits; leaving the block without a
    commit rolls everything back."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


Unit_co = TypeVar("Unit_co", bound=Transaction, covariant=True)


class Store(Protocol[Unit_co]):
    """The system of record: units of work of the kind `Unit_co` names, plus lifecycle.

    A use case asks for `Store[ItsUnit]`; any store whose units have at least those
    repositories will do."""

    def unit_of_work(self, *, read_only: bool = False) -> Unit_co:
        """A transaction. Writers are serialised where the engine needs it (SQLite takes its
        write lock at BEGIN, so two writers never meet mid-transaction); `read_only` units
        take no write lock, and refuse writes where the engine can enforce it."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable if the database cannot be reached."""
        ...

    async def size_bytes(self) -> int:
        """How much disk the record takes."""
        ...

    async def close(self) -> None: ...


class ScheduledRuns(Protocol):
    """Jobs that run once per closed period (placements, final ranks), claimed in the
    transaction that does the job's work, so a crash half-way leaves nothing claimed."""

    async def claim_run(self, job: str, period_key: str, claimed_at: datetime) -> bool:
        """True for exactly one caller per (job, period key), however many workers ask."""
        ...

    async def claimed(self, job: str) -> set[str]:
        """The period keys `claim_run` has given out for `job`: the periods already done."""
        ...
