"""`python -m bench` (or `make bench`): every benchmark, one after the other."""

from __future__ import annotations

import asyncio

from bench import live_fanout, live_freshness


def main() -> None:
    asyncio.run(live_freshness.main(rate=300.0, probes=100, athletes=50))
    asyncio.run(live_fanout.main(n_clients=5000, rounds=10))


if __name__ == "__main__":
    main()
