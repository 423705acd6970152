"""`fitboard seed` (issue 18): the requested volume in both modes, processed by the workers
as any submitted workout, so the boards fill; run beside a serving process (embedded mode
too); a second run of the same seed and bad arguments are one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fitboard.config import Mode, Settings
from fitboard.domain import synthetic
from fitboard.entrypoints.cli import app
from tests.e2e.conftest import Api
from tests.services.running import run_command

FITBOARD = str(Path(sys.executable).with_name("fitboard"))
PASSWORD = "seeded athletes share this"
SEED = 7
ATHLETES, WORKOUTS = 50, 200


def command_env(settings: Settings) -> dict[str, str]:
    """The environment of a `fitboard` command on the same data as `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITBOARD_")}
    env |= {"FITBOARD_MODE": settings.mode.value, "COLUMNS": "200"}
    assert settings.jwt_secret
    env["FITBOARD_JWT_SECRET"] = settings.jwt_secret
    if settings.mode is Mode.EMBEDDED:
        return env | {"FITBOARD_DATA_DIR": str(settings.data_dir)}
    assert settings.database_url
    assert settings.redis_url
    assert settings.amqp_url
    return env | {
        "FITBOARD_DATABASE_URL": settings.database_url,
        "FITBOARD_REDIS_URL": settings.redis_url,
        "FITBOARD_AMQP_URL": settings.amqp_url,
        "FITBOARD_NAMESPACE": settings.namespace,
    }


async def sign_in(api: Api, username: str) -> str:
    answer = await api.client.post(
        "/v1/auth/token", data={"username": username, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


async def board_until(
    api: Api, token: str, scope: str, workouts: int, within_s: float = 90
) -> dict[str, Any]:
    """The all-time workouts board of `scope` once its scores add up to `workouts`."""
    board: dict[str, Any] = {}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within_s):
            while True:
                board = await api.board(token, "workouts/all", scope=scope, limit=100)
                if sum(e["score"] for e in board["entries"]) >= workouts:
                    return board
                await asyncio.sleep(0.2)
    raise AssertionError(f"the {scope} board did not reach {workouts} workouts: {board}")


async def test_seed_fills_the_record_and_the_boards(api: Api) -> None:
    assert api.app is not None
    env = command_env(api.app.state.container.settings)
    argv = ["seed", "--users", str(ATHLETES), "--workouts", str(WORKOUTS), "--days", "14"]
    code, output = await run_command(
        FITBOARD, *argv, "--seed", str(SEED), "--password", PASSWORD, env=env, timeout_s=120
    )
    assert code == 0, output
    assert f"{ATHLETES} athletes, 2 groups" in output, output
    assert f"{WORKOUTS} workouts queued" in output, output
    assert "refused" not in output, output
    # The progress bars, as they ended.
    bars = [line for line in output.splitlines() if line.startswith("workouts queued ")]
    assert bars, output
    assert f"{WORKOUTS}/{WORKOUTS}" in bars[-1], output

    people = synthetic.athletes(SEED, ATHLETES, now=datetime.now(UTC))
    token = await sign_in(api, people[0].username)
    # Every workout processed and counted (none flagged), spread over many athletes.
    board = await board_until(api, token, "global", WORKOUTS)
    assert sum(e["score"] for e in board["entries"]) == WORKOUTS
    assert board["total"] > ATHLETES // 2
    distance = await api.board(token, "distance/all", limit=1)
    assert distance["entries"][0]["score"] > 0
    # A group's board holds its members' workouts.
    club = synthetic.groups(SEED, people)[0]
    owner = next(p for p in people if p.id == club.owner_id)
    owner_token = await sign_in(api, owner.username)
    group_board = await api.board(owner_token, "workouts/all", scope=f"group:{club.id}")
    assert group_board["entries"], group_board
    members = {str(m) for m in (club.owner_id, *club.member_ids)}
    assert {e["user_id"] for e in group_board["entries"]} <= members

    if not api.app.state.container.embedded:
        return  # the refusal below is the CLI's, the same in both modes
    code, output = await run_command(
        FITBOARD, *argv, "--seed", str(SEED), "--password", PASSWORD, env=env
    )
    assert code == 1, output
    assert output.strip().splitlines()[-1].startswith("error: the athletes of this seed are in")
    assert len(output.strip().splitlines()) == 1, output


def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In this process (the arguments are judged before anything starts): quicker than a
    command of its own."""
    for name in [k for k in os.environ if k.startswith("FITBOARD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FITBOARD_MODE", "embedded")
    monkeypatch.setenv("FITBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    for argv, said in (
        (["--users", "0", "--workouts", "5"], "error: --users must be between 1 and 1,000,000"),
        (["--users", "5", "--workouts", "5", "--password", "short"], "error: --password: must"),
    ):
        result = CliRunner().invoke(app, ["seed", *argv])
        output = result.output.strip()
        assert result.exit_code == 2, output
        assert output.splitlines() == [output], output
        assert output.startswith(said), output
