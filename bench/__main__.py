"""`python -m bench` (or `make bench`): every benchmark, one after the other, at the targets'
load: freshness in both modes at 300 workouts/s, fan-out to 5,000 clients, then how fast
one and two workers drain a full queue (what the machine can process at all)."""

from __future__ import annotations

import asyncio

from bench import live_fanout, live_freshness, worker_drain


def main() -> None:
    asyncio.run(live_freshness.main(rate=300.0, probes=100, athletes=50, mode="embedded"))
    asyncio.run(live_freshness.main(rate=300.0, probes=100, athletes=50, mode="production"))
    asyncio.run(live_fanout.main(n_clients=5000, rounds=10))
    for workers in (1, 2):
        asyncio.run(worker_drain.main(workouts=3000, workers=workers, athletes=50))


if __name__ == "__main__":
    main()
