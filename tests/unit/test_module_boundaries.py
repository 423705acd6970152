"""The design's promises about what may import what, checked in fresh interpreters."""

from __future__ import annotations

import subprocess
import sys

import pytest

INGEST_AND_WORKER = [
    "fitboard.application.workouts.ingest",
    "fitboard.application.workouts.processing",
    "fitboard.application.workouts.handlers",
    "fitboard.entrypoints.api.routers.workouts",
    "fitboard.entrypoints.worker.runner",
]


def imported_by(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(result.stdout.split())


@pytest.mark.parametrize("module", INGEST_AND_WORKER)
def test_ingest_and_worker_never_import_the_reports_consumer(module: str) -> None:
    loaded = imported_by(module)
    assert module in loaded  # the check itself works
    assert not {m for m in loaded if "reports" in m.split(".")[-1]}


def test_the_domain_imports_no_framework() -> None:
    loaded = imported_by("fitboard.domain.achievements, fitboard.domain.standings")
    frameworks = {"sqlalchemy", "redis", "aio_pika", "fastapi", "socketio", "starlette"}
    assert not {m.split(".")[0] for m in loaded} & frameworks
