"""The whole table's rows: one `Figure` per measured figure, its same-run baseline when it
has one, the target and whether it was met; printed as an aligned table and written as
JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

# "higher": the value must reach the target (a rate); "lower": stay under it (a latency).
Better = Literal["higher", "lower"]


@dataclass
class Figure:
    """One row of the table.

    `ratio` is value / baseline when there is a baseline (for a latency compared with a
    slower reference, such as PostgreSQL's rank query, baseline / value: how many times
    faster), else value / target. `target_value` is what `ratio` (when `target_on` is
    "ratio") or `value` (when "value") must reach or stay under."""

    group: str
    figure: str
    value: float | None
    unit: str
    target_text: str
    target_value: float | None = None
    target_on: Literal["value", "ratio"] = "value"
    better: Better = "higher"
    baseline: float | None = None
    baseline_text: str = ""
    ratio: float | None = None
    notes: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ratio is None and self.value is not None:
            if self.baseline:
                self.ratio = self.value / self.baseline
            elif self.target_on == "value" and self.target_value:
                self.ratio = self.value / self.target_value

    @property
    def met(self) -> bool | None:
        """None when the figure could not be measured or has no target."""
        checked = self.ratio if self.target_on == "ratio" else self.value
        if checked is None or self.target_value is None or math.isnan(checked):
            return None
        if self.better == "higher":
            return checked >= self.target_value
        return checked <= self.target_value

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def failed(group: str, figure: str, unit: str, target_text: str, why: str) -> Figure:
    """A row for a figure that could not be measured, with the reason."""
    return Figure(group, figure, None, unit, target_text, notes=f"not measured: {why}")


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def _met(figure: Figure) -> str:
    met = figure.met
    return "-" if met is None else ("met" if met else "NOT met")


def rows(figures: list[Figure]) -> list[list[str]]:
    header = ["figure", "value", "baseline (same run)", "ratio", "target", "met"]
    body = [
        [
            f"{f.group}: {f.figure}",
            _number(f.value, f.unit),
            f"{_number(f.baseline, f.unit)} {f.baseline_text}".strip()
            if f.baseline is not None
            else (f.baseline_text or "-"),
            "-" if f.ratio is None else f"{f.ratio:.2f}x",
            f.target_text,
            _met(f),
        ]
        for f in figures
    ]
    return [header, *body]


def text_table(figures: list[Figure]) -> str:
    table = rows(figures)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {f.group}: {f.figure}: {f.notes}" for f in figures if f.notes]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def markdown_table(figures: list[Figure]) -> str:
    table = rows(figures)
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return "\n".join(lines)


def write_json(path: Path, figures: list[Figure], run: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**run, "figures": [f.as_json() for f in figures]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
