"""An upgrade from key layout 1 (user ids as text, adapters/ranking_redis.py): `fitboard
rebuild` deletes the old layout's boards of its namespace, saying how many keys, and
rebuilds in the new layout the boards the old one held loaded, besides those it always
rebuilds. Runs `fitboard rebuild` on a fresh deployment (private PostgreSQL and Redis)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from redis.asyncio import Redis

from .processes import deployment

pytestmark = pytest.mark.production

GROUP = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"


async def test_rebuild_removes_the_old_layout_and_rebuilds_what_it_held_loaded(
    tmp_path: Path,
) -> None:
    async with deployment(tmp_path) as d:
        ns = d.namespace
        # A group's board of a past week, loaded: not among the boards a rebuild always
        # loads (the current periods of the global and activity boards).
        group_week = f"{ns}:{{board:calories:week:group:{GROUP}:2025-W10}}"
        # An all-time board, loaded (its keys never expire), and one never loaded.
        all_time = f"{ns}:{{board:points:all:global:all}}"
        unloaded = f"{ns}:{{board:distance:month:activity:run:2025-03}}"
        old = [f"{group_week}:{k}" for k in ("z", "v", "ready")]
        old += [f"{all_time}:{k}" for k in ("z", "v", "ready")]
        old += [f"{unloaded}:{k}" for k in ("z", "v")]
        other = "other-deployment:{board:points:all:global:all}:z"
        client = Redis.from_url(d.redis_url, decode_responses=True)
        try:
            for name in [*old, other]:
                if name.endswith(":z") or name == other:
                    await client.zadd(name, {"0b0f1c5e-2f4a-4f43-9a1e-8f5d3c2b1a09": 7})
                elif name.endswith(":v"):
                    await client.hset(name, "0b0f1c5e-2f4a-4f43-9a1e-8f5d3c2b1a09", 1)
                else:
                    await client.set(name, "1")

            code, output = await d.cli("rebuild", timeout_s=120)

            assert code == 0, output
            assert "removed 8 keys of the old board layout (2 loaded boards" in output, output
            found = re.search(r"rebuilt (\d+) boards, 0 entries", output)
            assert found, output
            assert await client.exists(*old) == 0
            assert await client.exists(other) == 1
            # Loaded again in the new layout, empty (the record holds no workout): "0".
            for base in (group_week, all_time):
                assert await client.get(f"{base}:2:ready") == "0", base
            assert not await client.exists(f"{unloaded}:2:ready")

            # A second run finds nothing of the old layout.
            code, output = await d.cli("rebuild", timeout_s=120)
            assert code == 0, output
            assert "removed 0 keys of the old board layout (0 loaded boards" in output, output
            # The group's board is loaded in the new layout now: rebuilt as any loaded board.
            again = re.search(r"rebuilt (\d+) boards", output)
            assert again, output
            assert again.group(1) == found.group(1)
        finally:
            await client.aclose()
