"""The chaos run's figures: a JSON file, and a table printed at the end of the run."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .faults import Fault

REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False, timeout=10
    ).stdout.strip()


def machine() -> dict[str, Any]:
    """What ran the figures: commit, CPUs, memory, load when the run ended."""
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    memory_kb = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    return {
        "commit": commit + ("+uncommitted changes in the tree" if dirty else ""),
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def fault_rows(faults: list[Fault]) -> list[dict[str, Any]]:
    rows = []
    for f in faults:
        row = asdict(f)
        row["held_s"] = round(f.ended - f.began, 2)
        for name in ("first_202_s", "first_stored_s", "replacement_s", "stopping_s", "starting_s"):
            value = row[name]
            row[name] = None if value is None else round(value, 2)
        del row["began"], row["ended"], row["broker_down"]
        rows.append(row)
    return rows


def by_kind(faults: list[Fault]) -> dict[str, dict[str, Any]]:
    """Per kind of fault: how many, and the median and worst of each recovery time."""
    kinds: dict[str, dict[str, Any]] = {}
    for kind in dict.fromkeys(f.kind for f in faults):
        mine = [f for f in faults if f.kind == kind]
        summary: dict[str, Any] = {"count": len(mine)}
        for name in ("first_202_s", "first_stored_s", "replacement_s"):
            values = [v for f in mine if (v := getattr(f, name)) is not None]
            summary[name] = (
                {"median": round(statistics.median(values), 2), "max": round(max(values), 2)}
                if values
                else None
            )
        kinds[kind] = summary
    return kinds


def write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def _seconds(summary: dict[str, float] | None) -> str:
    return "-" if summary is None else f"{summary['median']:.1f} / {summary['max']:.1f}"


def table(document: dict[str, Any]) -> str:
    """The figures as plain text: the checks, then the faults by kind."""
    lines = [f"chaos run ({document['size']}): {document['machine']}"]
    width = max(len(name) for name in document["figures"]) + 2
    for name, value in document["figures"].items():
        lines.append(f"  {name:<{width}}{value}")
    lines.append("")
    lines.append(
        f"  {'fault':<34}{'count':>6}  {'first 202 s':>14}  {'record grows s':>14}"
        f"  {'replacement s':>14}   (median / max)"
    )
    for kind, s in document["faults_by_kind"].items():
        lines.append(
            f"  {kind:<34}{s['count']:>6}  {_seconds(s['first_202_s']):>14}"
            f"  {_seconds(s['first_stored_s']):>14}  {_seconds(s['replacement_s']):>14}"
        )
    if document["failures"]:
        lines.append("")
        lines.append("  FAILED:")
        lines.extend(f"    {failure}" for failure in document["failures"])
    return "\n".join(lines)
