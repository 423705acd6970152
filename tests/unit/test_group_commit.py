"""The group-commit coalescer: who shares a write, and who hears what when it fails."""

from __future__ import annotations

import asyncio

import pytest

from fitboard.adapters import group_commit
from fitboard.adapters.group_commit import GroupCommit, GroupCommitClosed


class Log:
    """A write that records each call's items, fails any write holding "bad", and can be
    held open to let more callers arrive meanwhile."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def write(self, items: list[str]) -> list[BaseException | None]:
        await self.gate.wait()
        if "bad" in items:
            raise OSError("disk full")
        self.writes.append(list(items))
        return [ValueError(item) if item.startswith("refused") else None for item in items]


async def test_a_caller_arriving_just_after_the_first_shares_its_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first item waits LINGER_S for others: one that comes after other turns of the
    event loop (as requests in between take them) joins the same write. The linger is
    made long here, so that a slow machine's pause cannot end it first."""
    monkeypatch.setattr(group_commit, "LINGER_S", 0.5)
    log = Log()
    commit: GroupCommit[str] = GroupCommit(log.write)
    first = asyncio.create_task(commit.submit("a"))
    for _ in range(10):
        await asyncio.sleep(0)
    await asyncio.gather(first, commit.submit("b"))
    assert log.writes == [["a", "b"]]


async def test_callers_of_one_turn_share_one_write_and_each_hears_its_own_outcome() -> None:
    log = Log()
    commit: GroupCommit[str] = GroupCommit(log.write)
    results = await asyncio.gather(
        commit.submit("a"), commit.submit("refused-b"), commit.submit("c"), return_exceptions=True
    )
    assert log.writes == [["a", "refused-b", "c"]]
    assert results[0] is None
    assert isinstance(results[1], ValueError)
    assert results[2] is None


async def test_a_caller_woken_just_after_the_first_still_joins_its_write() -> None:
    """The flusher lets the loop turn once before it writes: callers woken in the same
    turn as the first (requests read from one poll of the sockets) share its write."""
    log = Log()
    commit: GroupCommit[str] = GroupCommit(log.write)
    first = asyncio.create_task(commit.submit("first"))
    await asyncio.sleep(0)  # `first` has submitted and scheduled the flusher
    second = asyncio.create_task(commit.submit("second"))
    await asyncio.gather(first, second)
    assert log.writes == [["first", "second"]]


async def test_callers_arriving_during_a_write_go_together_in_the_next() -> None:
    log = Log()
    commit: GroupCommit[str] = GroupCommit(log.write)
    log.gate.clear()
    first = asyncio.create_task(commit.submit("first"))
    await asyncio.sleep(0.01)  # the first write has begun and waits at the gate
    later = [asyncio.create_task(commit.submit(f"later-{n}")) for n in range(3)]
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in [first, *later])  # nobody answered before a write
    log.gate.set()
    await asyncio.gather(first, *later)
    assert log.writes == [["first"], ["later-0", "later-1", "later-2"]]


async def test_a_failed_write_fails_exactly_its_callers_and_the_next_write_succeeds() -> None:
    log = Log()
    commit: GroupCommit[str] = GroupCommit(log.write)
    log.gate.clear()
    first = asyncio.create_task(commit.submit("ok-1"))
    await asyncio.sleep(0.01)
    doomed = [asyncio.create_task(commit.submit(item)) for item in ("x", "bad", "y")]
    await asyncio.sleep(0.01)
    log.gate.set()
    await first
    for task in doomed:
        with pytest.raises(OSError, match="disk full"):
            await task
    # Each caller raised an exception of its own, caused by the write's.
    errors = [task.exception() for task in doomed]
    assert len({id(error) for error in errors}) == 3
    await commit.submit("ok-2")
    assert log.writes == [["ok-1"], ["ok-2"]]


async def test_a_write_holds_at_most_max_items_but_never_splits_a_caller() -> None:
    log = Log()
    commit: GroupCommit[str] = GroupCommit(log.write, max_items=3)
    outcomes = await asyncio.gather(
        commit.submit("a"),
        commit.submit_many(["b1", "b2", "b3", "b4"]),
        commit.submit("c"),
        commit.submit("d"),
    )
    assert log.writes == [["a"], ["b1", "b2", "b3", "b4"], ["c", "d"]]
    assert outcomes[1] == [None] * 4


async def test_close_waits_for_writes_under_way_then_refuses() -> None:
    log = Log()
    commit: GroupCommit[str] = GroupCommit(log.write)
    log.gate.clear()
    pending = asyncio.create_task(commit.submit("in flight"))
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(commit.close())
    await asyncio.sleep(0.01)
    assert not closing.done()
    log.gate.set()
    await closing
    await pending
    assert log.writes == [["in flight"]]
    with pytest.raises(GroupCommitClosed):
        await commit.submit("too late")


async def test_a_caller_cancelled_before_its_write_is_left_out() -> None:
    log = Log()
    commit: GroupCommit[str] = GroupCommit(log.write)
    log.gate.clear()
    first = asyncio.create_task(commit.submit("first"))
    await asyncio.sleep(0.01)
    gone = asyncio.create_task(commit.submit("gone"))
    kept = asyncio.create_task(commit.submit("kept"))
    await asyncio.sleep(0.01)
    gone.cancel()
    log.gate.set()
    await asyncio.gather(first, kept)
    assert log.writes == [["first"], ["kept"]]


def _sample(name: str, commit: str, suffix: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(f"{name}_{suffix}", {"commit": commit})
    return value or 0.0


async def test_each_write_is_measured_by_its_items_and_its_time_failed_ones_too() -> None:
    log = Log()
    commit: GroupCommit[str] = GroupCommit(log.write, name="test measured commit")
    items, duration = (
        "fitboard_group_commit_write_items",
        "fitboard_group_commit_write_duration_seconds",
    )
    await asyncio.gather(commit.submit("a"), commit.submit("b"), commit.submit("c"))
    assert _sample(items, "test measured commit", "count") == 1
    assert _sample(items, "test measured commit", "sum") == 3
    assert _sample(duration, "test measured commit", "count") == 1
    with pytest.raises(OSError, match="disk full"):
        await commit.submit("bad")
    assert _sample(items, "test measured commit", "sum") == 4
    assert _sample(duration, "test measured commit", "count") == 2
    assert _sample(duration, "test measured commit", "sum") > 0


async def test_a_write_in_progress_is_counted_by_neither_histogram() -> None:
    """The two histograms count the same writes at every moment a scrape can see."""
    log, began = Log(), asyncio.Event()
    log.gate.clear()

    async def write(items: list[str]) -> list[BaseException | None]:
        began.set()
        return await log.write(items)

    name = "test write metrics together"
    commit: GroupCommit[str] = GroupCommit(write, name=name)

    def counts() -> tuple[float, float]:
        return (
            _sample("fitboard_group_commit_write_items", name, "count"),
            _sample("fitboard_group_commit_write_duration_seconds", name, "count"),
        )

    before = counts()
    submitted = asyncio.create_task(commit.submit_many(["a", "b"]))
    await asyncio.wait_for(began.wait(), timeout=5)
    # The write has begun and waits at the gate: what a scrape of /metrics would read now.
    assert counts() == before
    log.gate.set()
    assert await submitted == [None, None]
    assert log.writes == [["a", "b"]]
    assert counts() == (before[0] + 1, before[1] + 1)
