"""Display names kept in process memory, so that a board read costs no SQL.

A board page names its athletes, and reading their names from the record on every read
cost more CPU than the rest of the read (docs/benchmarks.md). `CachedDisplayNames` keeps
the names this process has read: an LRU of up to `capacity` athletes, each kept at most
`max_age_s`; the names a page misses are read from the record in one query and kept.

Kept names stay true because every change to one is told after its commit
(`NameChanges.changed`): `forget` drops the athlete here, and in production
`RedisNameChanges` carries the change to every other API process
(adapters/name_changes_redis.py). A read that began before a `forget` may have fetched
the old name: it answers what it read but keeps none of it. A generation counter, bumped
by every `forget`, tells such a read; a change is rare enough that dropping every fill
under way, not only the changed athletes', costs nothing worth a finer count.

While changes cannot be heard (a lost subscription), nothing is kept and every name is
read from the record (`suspend`); once they can again, everything kept is forgotten
(`resume`), since changes told in between were missed. `max_age_s` bounds how long a name
can stay stale if a change is never told (its process died between commit and message).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from uuid import UUID

from cachetools import TTLCache

from fitboard.application.boards.ports import DisplayNames

__all__ = ["DEFAULT_CAPACITY", "MAX_AGE_S", "CachedDisplayNames"]

# About 400 bytes an athlete (the id, the name, the LRU's links and expiry): some 40 MB
# when full, enough for the top of every board and the athletes reading them.
DEFAULT_CAPACITY = 100_000
# The longest a name whose change was never told is shown; each name kept costs one read
# of the record per period, shared by every page that shows it.
MAX_AGE_S = 60.0


class CachedDisplayNames:
    """`DisplayNames` from memory, falling back to `record` for the names not kept; and
    the `NameChanges` of a process that is the only one (embedded mode)."""

    def __init__(
        self,
        record: DisplayNames,
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_age_s: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
        hearing: bool = True,
    ) -> None:
        self._record = record
        # None: the athlete has no account (erased), which is worth keeping too.
        self._kept: TTLCache[UUID, str | None] = TTLCache(capacity, max_age_s, timer=clock)
        self._generation = 0
        self._hearing = hearing

    @property
    def hearing(self) -> bool:
        """Whether changes are heard, so that names may be kept."""
        return self._hearing

    def __len__(self) -> int:
        return len(self._kept)

    async def names(self, user_ids: Sequence[UUID]) -> dict[UUID, str]:
        found: dict[UUID, str] = {}
        missing: list[UUID] = []
        for user_id in user_ids:
            try:
                name = self._kept[user_id]
            except KeyError:
                missing.append(user_id)
                continue
            if name is not None:
                found[user_id] = name
        if not missing:
            return found
        missing = list(dict.fromkeys(missing))
        generation = self._generation
        read = await self._record.names(missing)
        found.update(read)
        # A `forget` (or suspend, or resume) while the record was being read: what was
        # read may predate the change it tells of.
        if self._hearing and generation == self._generation:
            for user_id in missing:
                self._kept[user_id] = read.get(user_id)
        return found

    def forget(self, user_ids: Sequence[UUID]) -> None:
        """These athletes' names changed: read them from the record next time."""
        self._generation += 1
        for user_id in user_ids:
            self._kept.pop(user_id, None)

    def suspend(self) -> None:
        """Changes can no longer be heard: keep nothing until `resume`."""
        self._hearing = False
        self._generation += 1
        self._kept.clear()

    def resume(self) -> None:
        """Changes are heard from now on; those told before may have been missed."""
        self._generation += 1
        self._kept.clear()
        self._hearing = True

    async def changed(self, user_ids: Sequence[UUID]) -> None:
        """`NameChanges` where this process is the only one that keeps names."""
        self.forget(user_ids)
