"""Only bootstrap chooses by mode: no other module of the package reads the setting.

config.py defines the setting and settings_doc.py documents it; everything else is handed
services and background tasks that already embody the choice (bootstrap.py)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "fitboard"
ALLOWED = {PACKAGE / "bootstrap.py", PACKAGE / "config.py", PACKAGE / "settings_doc.py"}
# What names the settings object where the mode could be read from it.
SETTINGS_NAMES = {"settings", "config", "_settings"}


def _named(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def mode_readings(source: str) -> list[tuple[int, str]]:
    """(line, what) for each place `source` reads the mode: `Mode.EMBEDDED`,
    `Mode.PRODUCTION`, `<anything>.embedded`, `settings.mode`, or imports `Mode`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            owner = _named(node.value)
            if owner == "Mode" and node.attr in {"EMBEDDED", "PRODUCTION"}:
                found.append((node.lineno, f"Mode.{node.attr}"))
            elif node.attr == "embedded":
                found.append((node.lineno, f"{owner or '...'}.embedded"))
            elif node.attr == "mode" and owner in SETTINGS_NAMES:
                found.append((node.lineno, f"{owner}.mode"))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "fitboard.config"
            and any(alias.name == "Mode" for alias in node.names)
        ):
            found.append((node.lineno, "imports Mode"))
    return found


def test_the_check_finds_each_way_of_reading_the_mode() -> None:
    source = (
        "from fitboard.config import Mode, Settings\n"
        "if settings.mode is Mode.EMBEDDED:\n"
        "    pass\n"
        "x = container.embedded or config.mode is Mode.PRODUCTION\n"
    )
    assert sorted(mode_readings(source)) == [
        (1, "imports Mode"),
        (2, "Mode.EMBEDDED"),
        (2, "settings.mode"),
        (4, "Mode.PRODUCTION"),
        (4, "config.mode"),
        (4, "container.embedded"),
    ]
    # Prose about the modes is not a reading of the setting.
    assert mode_readings('"""In embedded mode the worker runs in process."""\n') == []


def test_nothing_but_bootstrap_reads_the_mode() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in ALLOWED
        for line, what in mode_readings(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "only bootstrap.py may choose by mode:\n" + "\n".join(offenders)
