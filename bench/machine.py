"""Where the machine's CPU goes during a benchmark: the backing services' processes and the
whole machine, read from Linux's /proc (zeros elsewhere).

The benchmarks run fitboard, its load and PostgreSQL, Redis and RabbitMQ on one machine, so
a rate the pipeline cannot sustain is often a question of cores, not of code: the CPU each
component spends per workout, times the rate asked, says how many cores that rate needs."""

from __future__ import annotations

import os
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Process names (/proc/<pid>/comm) of the backing services as Debian runs them.
BACKING = {"postgres": "PostgreSQL", "redis-server": "Redis", "beam.smp": "RabbitMQ"}


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def backing_cpu_s() -> dict[str, float]:
    """CPU seconds so far of every process of each backing service, summed by service.

    A PostgreSQL backend that ends between two readings takes its CPU with it; the
    benchmarked processes keep their pooled connections open, so their backends last."""
    totals = dict.fromkeys(BACKING.values(), 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name in BACKING:
            totals[BACKING[name]] += process_cpu_s(int(entry.name))
    return totals


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, over all cores."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0.0, 0.0
    ticks = [int(v) for v in first[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    total = sum(ticks[:8])  # guest time is already counted in user
    return (total - idle) / _CLOCK_TICKS, total / _CLOCK_TICKS
