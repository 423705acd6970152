"""What may import what: the design's table, enforced for every module of src/fitboard.

Read statically (every `import`, at module level, inside functions and under
TYPE_CHECKING alike), so a rule holds for code that has not run yet; and, for the promise
that matters at run time, in fresh interpreters: loading the ingest path or the worker
loads no part of the reports consumer.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import fitboard

PACKAGE = Path(fitboard.__file__).parent

# ---------------------------------------------------------------------------------------
# The design
# ---------------------------------------------------------------------------------------

# Layers: what each may not import of fitboard (a module is in a layer by its prefix).
# `fitboard.config` is the settings, and with them the mode: only bootstrap and the
# entry points read it (Alembic's env.py, an adapter run by Alembic, reads the database URL).
LAYERS_MAY_NOT_IMPORT: dict[str, tuple[str, ...]] = {
    "fitboard.domain": (
        "fitboard.application",
        "fitboard.adapters",
        "fitboard.entrypoints",
        "fitboard.bootstrap",
        "fitboard.config",
    ),
    "fitboard.application": (
        "fitboard.adapters",
        "fitboard.entrypoints",
        "fitboard.bootstrap",
        "fitboard.config",
    ),
    "fitboard.adapters": ("fitboard.entrypoints", "fitboard.bootstrap"),
    "fitboard.bootstrap": ("fitboard.entrypoints",),
}

# The domain is pure: the standard library and these libraries, nothing else.
DOMAIN_LIBRARIES = {"zxcvbn"}  # password strength, a pure function of a string

# Infrastructure the use cases reach only through ports (pydantic and YAML, which read
# the achievement catalog, are allowed).
INFRASTRUCTURE = {
    "aio_pika",
    "aiormq",
    "aiosqlite",
    "alembic",
    "asyncpg",
    "engineio",
    "fastapi",
    "redis",
    "socketio",
    "sqlalchemy",
    "starlette",
    "typer",
    "uvicorn",
}

APPLICATION = "fitboard.application"
# What every feature may use: the failures a port may raise, the clock, transactions and
# stores (ports.py), opaque cursors, the request id, new random ids.
SHARED = {"ports", "cursors", "tracing", "ids"}

# For each feature of the application, the modules of other features it may import.
# Minimal and true: every entry is used (test_every_allowed_import_is_used), so the table
# is the feature graph as it is, and a new edge is a decision made here.
FEATURES_MAY_IMPORT: dict[str, dict[str, frozenset[str]]] = {
    # A profile change (name, visibility, time zone) moves the athlete's boards; deleting
    # an account removes them from the boards; an export reads their workouts and awards.
    "accounts": {
        "achievements": frozenset({"ports"}),
        "boards": frozenset({"ports", "projection"}),
        "workouts": frozenset({"ports"}),
    },
    # The judging unit of work reads the athlete and their rollups.
    "achievements": {"accounts": frozenset({"ports"}), "boards": frozenset({"ports"})},
    # Rebuilding a board reads athletes (visibility, names) and group members.
    "boards": {"accounts": frozenset({"ports"}), "groups": frozenset({"ports"})},
    # Joining or leaving moves the group's boards; a challenge is read as a board.
    "groups": {
        "accounts": frozenset({"ports"}),
        "boards": frozenset({"ports", "projection", "reading"}),
    },
    # An imported file becomes workouts on the 202 path, duplicates recognised.
    "imports": {"workouts": frozenset({"duplicates", "ingest", "ports"})},
    # A leaf: events are built from domain values, snapshots read the boards. (Which
    # events a processed workout causes is decided by workouts, in workouts.announcing.)
    "live": {"boards": frozenset({"reading"})},
    "messaging": {},
    # Is it up, how long is the backlog, what was given up on: the ranking index and the
    # broker, through their ports; the oldest unprocessed workout from the in-flight
    # marks.
    "operations": {
        "boards": frozenset({"ports"}),
        "messaging": frozenset({"ports"}),
        "workouts": frozenset({"ports"}),
    },
    # A consumer of workout.processed (its queue is in bootstrap's topology): the boards'
    # rollups, and whether the athlete still exists.
    "reports": {
        "accounts": frozenset({"ports"}),
        "boards": frozenset({"ports"}),
        "messaging": frozenset({"errors", "ports"}),
    },
    # `fitboard seed`: athletes and groups written to the record, workouts submitted on
    # the 202 path.
    "seeding": {
        "accounts": frozenset({"ports"}),
        "groups": frozenset({"ports"}),
        "workouts": frozenset({"ingest"}),
    },
    # The worker's transaction judges achievements, projects boards, counts group
    # boards, pushes live events and consumes/publishes messages.
    "workouts": {
        "achievements": frozenset({"judging", "ports"}),
        "boards": frozenset({"ports", "projection"}),
        "groups": frozenset({"ports"}),
        "live": frozenset({"events"}),
        "messaging": frozenset({"errors", "ports"}),
    },
}

# The reports consumer, in every layer; and the modules outside it that may import it:
# the SQL unit of work (which implements its repository), and the processes that run the
# consumer (embedded `serve`, `fitboard reports`). The ingest path and the worker are not
# among them.
REPORTS = (
    "fitboard.domain.reports",
    "fitboard.application.reports",
    "fitboard.adapters.sql.reports",
    "fitboard.entrypoints.reports",
    "fitboard.entrypoints.api.routers.reports",
)
MAY_IMPORT_REPORTS = {
    "fitboard.adapters.sql.store",
    "fitboard.entrypoints.api.app",
    "fitboard.entrypoints.cli",
}

# ---------------------------------------------------------------------------------------
# Reading the imports
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.imported}"


def module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_of(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports_in(module: str, path: Path) -> Iterable[Import]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                package = package[: len(package) - node.level + (1 if is_package else 0)]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                # `from package import submodule` imports the submodule.
                submodule = f"{base}.{alias.name}"
                yield Import(module, submodule if submodule in modules() else base, node.lineno)


@functools.cache
def all_imports() -> tuple[Import, ...]:
    return tuple(found for module, path in modules().items() for found in _imports_in(module, path))


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def report(broken: Iterable[object], rule: str) -> str:
    lines = sorted({str(b) for b in broken})
    return f"{rule} — broken by:\n  " + "\n  ".join(lines)


# ---------------------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------------------


def test_the_scan_sees_every_kind_of_import() -> None:
    found = set(all_imports())
    pairs = {(i.importer, i.imported) for i in found}
    assert len(modules()) > 100
    # Module level, `from package import submodule`, inside a function, TYPE_CHECKING.
    assert ("fitboard.application.workouts.ingest", "fitboard.domain.workouts") in pairs
    assert ("fitboard.entrypoints.api.app", "fitboard.entrypoints.api.routers.reports") in pairs
    assert ("fitboard.entrypoints.cli", "fitboard.entrypoints.reports.runner") in pairs
    assert ("fitboard.bootstrap", "fitboard.adapters.sql") in pairs


@pytest.mark.parametrize("layer", sorted(LAYERS_MAY_NOT_IMPORT))
def test_each_layer_imports_only_the_layers_below_it(layer: str) -> None:
    forbidden = LAYERS_MAY_NOT_IMPORT[layer]
    broken = [
        i
        for i in all_imports()
        if within(i.importer, layer) and any(within(i.imported, f) for f in forbidden)
    ]
    assert not broken, report(broken, f"{layer} may not import {', '.join(forbidden)}")


def _library(imported: str) -> str:
    return imported.split(".")[0]


def test_the_domain_imports_only_the_standard_library_and_pure_libraries() -> None:
    broken = [
        i
        for i in all_imports()
        if within(i.importer, "fitboard.domain")
        and _library(i.imported) not in {"fitboard", "__future__", *DOMAIN_LIBRARIES}
        and _library(i.imported) not in sys.stdlib_module_names
    ]
    assert not broken, report(
        broken, f"the domain imports the standard library and {sorted(DOMAIN_LIBRARIES)} only"
    )


def test_the_application_reaches_infrastructure_only_through_ports() -> None:
    broken = [
        i
        for i in all_imports()
        if within(i.importer, APPLICATION) and _library(i.imported) in INFRASTRUCTURE
    ]
    assert not broken, report(broken, "application code imports no infrastructure library")


def feature_of(module: str) -> str | None:
    """The application feature a module belongs to; None outside the features."""
    parts = module.split(".")
    if not within(module, APPLICATION) or len(parts) < 3 or parts[2] in SHARED:
        return None
    return parts[2]


def test_the_table_names_every_feature_package() -> None:
    packages = {path.parent.name for path in (PACKAGE / "application").glob("*/__init__.py")}
    assert packages == set(FEATURES_MAY_IMPORT)


def _cross_feature_imports() -> list[tuple[Import, str, str, str]]:
    """(import, importing feature, imported feature, imported module within it)."""
    found = []
    for i in all_imports():
        source, target = feature_of(i.importer), feature_of(i.imported)
        if source is None or target is None or source == target:
            continue
        found.append((i, source, target, ".".join(i.imported.split(".")[3:]) or "__init__"))
    return found


def _allowed(table: Mapping[str, Mapping[str, frozenset[str]]], source: str) -> str:
    edges = table[source]
    return ", ".join(f"{t}.{{{', '.join(sorted(m))}}}" for t, m in sorted(edges.items())) or (
        "nothing but the shared modules"
    )


@pytest.mark.parametrize("feature", sorted(FEATURES_MAY_IMPORT))
def test_each_feature_imports_only_what_the_table_allows(feature: str) -> None:
    broken = []
    for i, source, target, within_target in _cross_feature_imports():
        allowed = FEATURES_MAY_IMPORT[feature].get(target, frozenset())
        if source == feature and within_target not in allowed:
            broken.append(i)
    assert not broken, report(
        broken, f"{feature} may import {_allowed(FEATURES_MAY_IMPORT, feature)}"
    )


def test_every_allowed_import_is_used() -> None:
    used = {(source, target, m) for _, source, target, m in _cross_feature_imports()}
    unused = [
        f"{source} -> {target}.{m}"
        for source, edges in FEATURES_MAY_IMPORT.items()
        for target, allowed in edges.items()
        for m in allowed
        if (source, target, m) not in used
    ]
    assert not unused, report(unused, "the table allows imports nobody makes; remove them")


def test_only_the_processes_that_run_reports_import_them() -> None:
    def is_reports(module: str) -> bool:
        return any(within(module, r) for r in REPORTS)

    broken = [
        i
        for i in all_imports()
        if is_reports(i.imported)
        and not is_reports(i.importer)
        and i.importer not in MAY_IMPORT_REPORTS
    ]
    assert not broken, report(
        broken, f"reports are imported only by {', '.join(sorted(MAY_IMPORT_REPORTS))}"
    )
    importers = {i.importer for i in all_imports() if is_reports(i.imported)}
    unused = MAY_IMPORT_REPORTS - importers
    assert not unused, f"{sorted(unused)} no longer import reports: remove them above"


# ---------------------------------------------------------------------------------------
# At run time, in fresh interpreters
# ---------------------------------------------------------------------------------------

INGEST_AND_WORKER = [
    "fitboard.application.workouts.ingest",
    "fitboard.application.workouts.processing",
    "fitboard.application.workouts.handlers",
    "fitboard.entrypoints.api.routers.workouts",
    "fitboard.entrypoints.worker.runner",
]


def loaded_by(*imported: str) -> set[str]:
    code = f"import sys, {', '.join(imported)}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(result.stdout.split())


@pytest.mark.parametrize("module", INGEST_AND_WORKER)
def test_ingest_and_worker_never_load_the_reports_consumer(module: str) -> None:
    loaded = loaded_by(module)
    assert module in loaded  # the check itself works
    reports = sorted(m for m in loaded if "reports" in m.split("."))
    assert not reports, f"loading {module} loads {', '.join(reports)}"


def test_loading_the_whole_domain_loads_no_framework() -> None:
    domain = sorted(m for m in modules() if within(m, "fitboard.domain"))
    loaded = loaded_by(*domain)
    assert set(domain) <= loaded
    frameworks = {m.split(".")[0] for m in loaded} & (INFRASTRUCTURE | {"pydantic"})
    assert not frameworks, f"loading the domain loads {', '.join(sorted(frameworks))}"
