"""The one line a command ends with when a dependency fails says which kind of failure it
is: a board busy with another rebuild is not "Redis cannot be reached"."""

from __future__ import annotations

import io

import pytest
import typer
from rich.console import Console

from fitboard.application.ports import (
    DependencyUnavailable,
    RankingBusy,
    RankingUnavailable,
)
from fitboard.entrypoints import cli


def _ends_with(exc: DependencyUnavailable, monkeypatch: pytest.MonkeyPatch) -> str:
    printed = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=printed, width=400, no_color=True))

    async def failing() -> None:
        raise exc

    with pytest.raises(typer.Exit) as exit_:
        cli._run(failing)
    assert exit_.value.exit_code == 1
    return printed.getvalue().strip()


def test_a_busy_board_says_another_rebuild_holds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _ends_with(RankingBusy("board b is being rebuilt elsewhere"), monkeypatch)
    assert line.startswith("error: a board is being rebuilt by another process"), line
    assert "cannot be reached" not in line
    assert line.endswith("board b is being rebuilt elsewhere")


def test_an_unreachable_redis_still_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _ends_with(RankingUnavailable("redis: connection refused"), monkeypatch)
    assert line.startswith("error: Redis cannot be reached (check FITBOARD_REDIS_URL"), line
