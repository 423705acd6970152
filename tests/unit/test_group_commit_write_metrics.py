"""A group commit's two histograms of its writes (items, duration) count the same writes
at every moment a scrape can see: a write in progress is in neither of them."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from fitboard.adapters.group_commit import GroupCommit

NAME = "test write metrics together"


def counts() -> tuple[float, float]:
    """How many writes each histogram has counted: (items, duration)."""

    def count(histogram: str) -> float:
        return REGISTRY.get_sample_value(f"{histogram}_count", {"commit": NAME}) or 0.0

    return (
        count("fitboard_group_commit_write_items"),
        count("fitboard_group_commit_write_duration_seconds"),
    )


async def test_a_write_in_progress_is_counted_by_neither_histogram() -> None:
    began, done = asyncio.Event(), asyncio.Event()

    async def write(items: list[str]) -> list[BaseException | None]:
        began.set()
        await done.wait()
        return [None] * len(items)

    commit: GroupCommit[str] = GroupCommit(write, name=NAME)
    before = counts()
    submitted = asyncio.create_task(commit.submit_many(["a", "b"]))
    await asyncio.wait_for(began.wait(), timeout=5)
    # The write has begun and waits: what a scrape of /metrics would read now.
    assert counts() == before
    done.set()
    assert await submitted == [None, None]
    assert counts() == (before[0] + 1, before[1] + 1)
