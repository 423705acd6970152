"""The table of settings in docs/configuration.md, made from `fitboard.config.Settings`.

The comment above a setting in config.py is its documentation, stated once: this module
reads it from the source (a comment block covers the settings that follow it, up to the
next blank line) and writes the table with each setting's environment variable and
default. tests/unit/test_settings_doc.py fails when the file and the code drift, or when
a setting has no comment.

    python -m fitboard.settings_doc > docs/configuration.md
"""

from __future__ import annotations

import ast
import inspect
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from fitboard import config
from fitboard.config import Settings

PREFIX = "FITBOARD_"


@dataclass
class Group:
    """Settings documented by one comment."""

    comment: list[str]
    names: list[str] = field(default_factory=list)


class Undocumented(Exception):
    """A setting with no comment above it (nor above the settings it is grouped with)."""


def groups() -> list[Group]:
    source = inspect.getsource(config)
    comments: dict[int, str] = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT and token.line.lstrip().startswith("#")
    }
    lines = source.splitlines()
    settings_class = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ClassDef) and node.name == Settings.__name__
    )
    found: list[Group] = []
    previous_line = -1
    for node in settings_class.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        name = node.target.id
        if name not in Settings.model_fields:
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line in comments:
            above.insert(0, comments[line])
            line -= 1
        if above:
            found.append(Group(above, [name]))
        elif found and previous_line == node.lineno - 1 and lines[node.lineno - 2].strip():
            found[-1].names.append(name)  # right below the previous setting: its group
        else:
            raise Undocumented(f"add a comment above `{name}` in fitboard/config.py")
        previous_line = node.end_lineno or node.lineno
    return found


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    if value is None:
        return "—"
    if isinstance(value, Path):
        home = str(Path.home())
        text = str(value)
        return "`~" + text.removeprefix(home) + "`" if text.startswith(home) else f"`{text}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[]`" if not value else f"`{value}`"
    return f"`{getattr(value, 'value', value)}`"


def markdown() -> str:
    rows = [
        "# Configuration",
        "",
        "Every setting is an environment variable. This table is made from",
        "`src/fitboard/config.py` (`python -m fitboard.settings_doc > docs/configuration.md`);",
        "a test fails when the two differ.",
        "",
        "| setting | default | what it does |",
        "|---|---|---|",
    ]
    for group in groups():
        names = ", ".join(f"`{PREFIX}{name.upper()}`" for name in group.names)
        defaults = ", ".join(_default(Settings.model_fields[name]) for name in group.names)
        text = " ".join(group.comment).replace("|", "\\|")
        rows.append(f"| {names} | {defaults} | {text} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
