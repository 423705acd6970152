"""Where the machine's CPU goes during a benchmark: the backing services' processes and the
whole machine, read from Linux's /proc (zeros elsewhere).

The benchmarks run fitboard, its load and PostgreSQL, Redis and RabbitMQ on one machine, so
a rate the pipeline cannot sustain is often a question of cores, not of code: the CPU each
component spends per workout, times the rate asked, says how many cores that rate needs."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Process names (/proc/<pid>/comm) of the backing services as Debian runs them.
BACKING = {"postgres": "PostgreSQL", "redis-server": "Redis", "beam.smp": "RabbitMQ"}
# The loopback ports of the machine's services (scripts/ensure-services.sh), by service.
SERVICE_PORTS = {"PostgreSQL": 5432, "Redis": 6379, "RabbitMQ": 5672}


def process_cpu_s(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU seconds of one process so far (0 once it is gone); with
    `reaped_children`, plus those of its children that ended and were waited for."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _CLOCK_TICKS


def _listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on `port` (any address), from /proc/net/tcp{,6}."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address "HEX:PORT", state 0A = LISTEN, inode in column 10
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes


def _listener_pids(ports: dict[str, int]) -> dict[str, int]:
    """The process listening on each service's port, by service (absent when not found)."""
    wanted = {
        f"socket:[{inode}]": service
        for service, port in ports.items()
        for inode in _listening_inodes(port)
    }
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            descriptors = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in descriptors:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target in wanted:
                found.setdefault(wanted[target], int(entry.name))
    return found


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


_roots: dict[str, int] = {}


def service_roots(ports: dict[str, int] | None = None) -> dict[str, int]:
    """The pid of the process that listens on each service's port (the postmaster, the
    redis-server, RabbitMQ's beam.smp), found once and found again when it has gone."""
    ports = ports or SERVICE_PORTS
    if not _roots or any(not Path(f"/proc/{pid}").exists() for pid in _roots.values()):
        _roots.clear()
        _roots.update(_listener_pids(ports))
    return dict(_roots)


def backing_cpu_s(ports: dict[str, int] | None = None) -> dict[str, float]:
    """CPU seconds so far of every process of each of the machine's backing services,
    summed by service: the process listening on the service's port and its descendants
    (PostgreSQL's backends). Other servers of the same name (the tests' private ones, which
    other people may be running meanwhile) are not counted.

    A PostgreSQL backend that ends between two readings is counted still: its CPU moves to
    the postmaster's reaped children's (cutime, cstime), which the root's figure includes,
    so the sum never goes down. Every client of the service is counted, other people's
    runs on the machine's services included."""
    roots = {pid: service for service, pid in service_roots(ports).items()}
    totals = dict.fromkeys(BACKING.values(), 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name not in BACKING:
            continue
        pid = int(entry.name)
        ancestor, hops = pid, 0
        while ancestor > 1 and ancestor not in roots and hops < 8:
            ancestor, hops = _parent(ancestor), hops + 1
        if ancestor in roots:
            totals[roots[ancestor]] += process_cpu_s(pid, reaped_children=pid in roots)
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


def _reference_work() -> int:
    """A fixed piece of pure-Python work: a loop of integer arithmetic, dict stores and
    list appends, interpreter work of the kind fitboard's own code does."""
    seen: dict[int, int] = {}
    kept: list[int] = []
    total = 0
    for i in range(300_000):
        total += i * 7 % 13
        seen[i & 1023] = total
        if i & 63 == 0:
            kept.append(total)
    return total + len(seen) + len(kept)


def reference_cpu_ms(rounds: int = 5) -> float:
    """The host's speed: the least processor time, in milliseconds, that `rounds` runs of
    the same fixed pure-Python work took in this process.

    The hosts these benchmarks run on differ in speed from day to day by up to several
    times (docs/benchmarks.md, "Reading these figures"), which moves every rate and every
    CPU figure with it; a ratio to a baseline of the same run is unmoved, an absolute
    figure is not. This one piece of work, read before and after a run, tells two runs'
    hosts apart (on the two hosts compared so far, sessions 21 and 22, the workers' CPU a
    workout followed it closely: docs/benchmarks.md). The least of several runs, in processor
    time, so that other work on the machine moves it as little as it can."""
    best = math.inf
    for _ in range(rounds):
        began = time.process_time()
        _reference_work()
        best = min(best, time.process_time() - began)
    return round(best * 1000, 1)


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def describe() -> dict[str, str]:
    """What the figures were measured on: CPU, cores, memory, kernel, Python and the
    services' versions."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    rabbit = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        rabbit = Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*").__next__().name
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "postgresql": _version(["psql", "--version"]),
        "redis": _version(["redis-server", "--version"]),
        "rabbitmq": rabbit,
    }


if __name__ == "__main__":
    for key, value in describe().items():
        print(f"{key:10} {value}")
    print(f"{'reference':10} {reference_cpu_ms()} ms of CPU (bench.machine.reference_cpu_ms)")
