"""`python -m bench` (or `make bench`): every benchmark, one after the other, at the targets'
load: freshness in both modes at 300 workouts/s, then fan-out to 5,000 clients."""

from __future__ import annotations

import asyncio

from bench import live_fanout, live_freshness


def main() -> None:
    asyncio.run(live_freshness.main(rate=300.0, probes=100, athletes=50, mode="embedded"))
    asyncio.run(live_freshness.main(rate=300.0, probes=100, athletes=50, mode="production"))
    asyncio.run(live_fanout.main(n_clients=5000, rounds=10))


if __name__ == "__main__":
    main()
