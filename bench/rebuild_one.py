"""Rebuild one board from the record, timed: what `fitboard rebuild` does for each board
(drop it, load it from the record under the board's rebuild lock), for a single board.
Run in a subprocess with a deployment's FITBOARD_* settings (bench/boards.py); prints one
JSON line `{"seconds": ..., "entries": ...}`.

    python -m bench.rebuild_one calories all global all
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def rebuild(metric: str, period: str, scope: str, period_key: str) -> dict[str, float]:
    from fitboard.bootstrap import build
    from fitboard.config import Settings
    from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope

    key = BoardKey(BoardId(Metric(metric), Period(period), Scope.parse(scope)), period_key)
    container = await build(Settings())
    try:
        started = time.perf_counter()
        entries = await container.services.maintenance.rebuild_boards([key])
        seconds = time.perf_counter() - started
    finally:
        await container.close()
    return {"seconds": seconds, "entries": entries}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(rebuild(*sys.argv[1:5]))))
