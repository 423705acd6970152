"""The per-process cache of display names (adapters/display_names_cache.py): what it asks
the record, what it keeps, and that a name read before a change is never kept after the
change is told."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID, uuid4

from fitboard.adapters.display_names_cache import CachedDisplayNames
from fitboard.adapters.name_changes_redis import decode_ids, encode_ids

ADA, GRACE, GONE = uuid4(), uuid4(), uuid4()


class Record:
    """The record's names, counting what it is asked; `hold` makes the next read wait,
    having read, until `release` is set."""

    def __init__(self) -> None:
        self.rows = {ADA: "Ada", GRACE: "Grace"}
        self.asked: list[list[UUID]] = []
        self.hold = False
        self.read_done = asyncio.Event()
        self.release = asyncio.Event()

    async def names(self, user_ids: Sequence[UUID]) -> dict[UUID, str]:
        self.asked.append(list(user_ids))
        found = {u: self.rows[u] for u in user_ids if u in self.rows}
        if self.hold:
            self.hold = False
            self.read_done.set()
            await self.release.wait()
        return found


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_warm_read_asks_the_record_nothing_and_a_miss_asks_once_for_all() -> None:
    record = Record()
    names = CachedDisplayNames(record)
    assert await names.names([ADA, GRACE, ADA, GONE]) == {ADA: "Ada", GRACE: "Grace"}
    assert record.asked == [[ADA, GRACE, GONE]]
    # The erased athlete is kept as absent too: a ghost on a board costs no query.
    assert await names.names([GRACE, GONE, ADA]) == {ADA: "Ada", GRACE: "Grace"}
    assert record.asked == [[ADA, GRACE, GONE]]


async def test_a_forgotten_name_is_read_again_and_only_it() -> None:
    record = Record()
    names = CachedDisplayNames(record)
    await names.names([ADA, GRACE])
    record.rows[ADA] = "Ada L."
    await names.changed([ADA])
    assert await names.names([ADA, GRACE]) == {ADA: "Ada L.", GRACE: "Grace"}
    assert record.asked[1:] == [[ADA]]


async def test_a_name_read_before_a_change_is_answered_but_not_kept_after_it() -> None:
    record = Record()
    names = CachedDisplayNames(record)
    record.hold = True
    reading = asyncio.create_task(names.names([ADA]))
    await record.read_done.wait()
    # The change commits and is told while the read that fetched the old name is
    # still on its way back.
    record.rows[ADA] = "Ada L."
    names.forget([ADA])
    record.release.set()
    assert await reading == {ADA: "Ada"}
    assert await names.names([ADA]) == {ADA: "Ada L."}
    assert len(record.asked) == 2


async def test_nothing_is_kept_while_changes_are_not_heard() -> None:
    record = Record()
    names = CachedDisplayNames(record, hearing=False)
    await names.names([ADA])
    await names.names([ADA])
    assert len(record.asked) == 2
    assert len(names) == 0


async def test_hearing_again_forgets_everything_kept_and_every_read_under_way() -> None:
    record = Record()
    names = CachedDisplayNames(record)
    await names.names([GRACE])
    names.suspend()
    assert len(names) == 0
    record.hold = True
    reading = asyncio.create_task(names.names([ADA]))
    await record.read_done.wait()
    names.resume()  # changes told meanwhile were missed; the read under way may be old
    record.release.set()
    await reading
    assert len(names) == 0
    await names.names([ADA, GRACE])
    await names.names([ADA, GRACE])
    assert record.asked[-2:] == [[ADA], [ADA, GRACE]]


async def test_a_name_is_read_again_once_it_is_older_than_the_age_limit() -> None:
    record, clock = Record(), Clock()
    names = CachedDisplayNames(record, max_age_s=60, clock=clock)
    await names.names([ADA])
    clock.now = 59.9
    await names.names([ADA])
    assert len(record.asked) == 1
    clock.now = 60.0
    await names.names([ADA])
    assert len(record.asked) == 2


async def test_the_least_recently_read_name_goes_first_past_the_capacity() -> None:
    record = Record()
    names = CachedDisplayNames(record, capacity=2)
    await names.names([ADA])
    await names.names([GRACE])
    await names.names([ADA])  # Grace is now the least recently read
    await names.names([GONE])
    assert len(names) == 2
    record.asked.clear()
    await names.names([ADA, GONE, GRACE])
    assert record.asked == [[GRACE]]


def test_a_change_message_reads_back_as_its_ids_and_junk_as_none() -> None:
    assert decode_ids(encode_ids([ADA, GRACE, ADA]).encode()) == [ADA, GRACE]
    assert decode_ids(b"not-an-id") is None
