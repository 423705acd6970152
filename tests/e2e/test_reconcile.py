"""`fitboard reconcile` checks every board instance the record implies, in both modes:
loaded or not, and in embedded mode the boards in the memory of the serving process."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from fitboard.application.boards.maintenance import BoardMaintenance
from fitboard.bootstrap import maintenance_socket
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, ScoreUpdate
from fitboard.domain.periods import current_key
from fitboard.entrypoints.api import create_app
from fitboard.entrypoints.maintenance_socket import reconcile_served
from tests.e2e.conftest import TEST_SECRET, Api, settings_for, start_within_its_day

FITBOARD = str(Path(sys.executable).with_name("fitboard"))
# Two athletes, each with one workout today: one runs and is in a group, one cycles.
# Their scopes: global, activity:run, activity:cycle, the group's; in each, every
# metric's board of every period.
IMPLIED = 4 * len(Metric) * len(Period)


# When both workouts start: three hours ago, or an hour before the end of that UTC day
# if that is earlier, since the tests' workouts start up to 40 minutes after it and must
# all fall on its day. Three hours ago alone put the last one on the next day, on boards
# none of them expect, when the tests were collected between 02:20 and 03:00 UTC.
STARTED = start_within_its_day(3, timedelta(hours=1))


async def two_athletes(api: Api) -> tuple[str, dict[str, object], dict[str, object]]:
    """Two athletes' workouts processed, nobody having read a board; the group's id."""
    runner_token, runner = await api.register("runner")
    cyclist_token, cyclist = await api.register("cyclist")
    answer = await api.client.post(
        "/v1/groups", json={"name": "club"}, headers=api.auth(runner_token)
    )
    assert answer.status_code == 201, answer.text
    group_id: str = answer.json()["id"]
    ran = await api.submit_ok(
        runner_token,
        activity="run",
        started_at=STARTED.isoformat(),
        duration_s=1800,
        distance_m=6000,
    )
    rode = await api.submit_ok(
        cyclist_token,
        activity="cycle",
        started_at=STARTED.isoformat(),
        duration_s=3600,
        distance_m=25000,
    )
    await api.wait_processed(runner_token, ran)
    await api.wait_processed(cyclist_token, rode)
    return group_id, runner, cyclist


def maintenance(api: Api) -> BoardMaintenance:
    assert api.app is not None
    found: BoardMaintenance = api.app.state.container.services.maintenance
    return found


def today(metric: Metric, scope: Scope, period: Period = Period.WEEK) -> BoardKey:
    """The instance of the board the workouts are on."""
    return BoardKey(BoardId(metric, period, scope), current_key(period, STARTED, ZoneInfo("UTC")))


async def read(api: Api, key: BoardKey) -> None:
    """Read `key` as a viewer does, which loads it from the record (cache-aside)."""
    token, _ = await api.register(f"viewer-{uuid.uuid4().hex[:8]}")
    scope = key.board.scope
    params = {} if scope == Scope.global_() else {"scope": str(scope)}
    board = f"{key.board.metric.value}/{key.board.period.value}"
    await api.board(token, board, period_key=key.period_key, **params)


async def test_a_correct_state_checks_every_implied_instance(api: Api) -> None:
    await two_athletes(api)
    report = await maintenance(api).reconcile(repair=False)
    assert report.implied == IMPLIED
    assert report.boards_checked == IMPLIED + report.not_implied
    assert report.difference_count == 0, report.differences
    # Nobody read a board: every instance is cold, and the workers wrote into none of
    # them (a board no one reads takes no writes), so nothing was compared.
    assert report.cold == IMPLIED
    assert report.partly_held == 0
    assert report.entries_compared == 0

    # Read one board: it is loaded now, no longer cold, and still equal to the record.
    await read(api, today(Metric.DISTANCE, Scope.global_()))
    again = await maintenance(api).reconcile(repair=False)
    assert again.cold == IMPLIED - 1
    assert again.entries_compared == 2
    assert again.difference_count == 0, again.differences

    warmed = await maintenance(api).reconcile(repair=False, warm=True)
    assert warmed.warmed == IMPLIED - 1
    after = await maintenance(api).reconcile(repair=False)
    assert (after.cold, after.difference_count) == (0, 0)


async def test_a_wrong_entry_on_a_loaded_board_is_found_and_repaired(api: Api) -> None:
    _, runner, cyclist = await two_athletes(api)
    assert api.app is not None
    ranking = api.app.state.container.ranking
    user = uuid.UUID(str(runner["id"]))
    key = today(Metric.DISTANCE, Scope.global_())
    await read(api, key)
    assert await ranking.is_loaded(key)
    # Stray writes on a loaded board, which takes them as they come.
    await ranking.project(user, 10**9, [ScoreUpdate(key, 123, datetime.now(UTC))])
    stranger = uuid.uuid4()
    await ranking.project(stranger, 1, [ScoreUpdate(key, 7, datetime.now(UTC))])

    report = await maintenance(api).reconcile(repair=False)
    found = {(d.key, d.user_id, d.in_index, d.in_record) for d in report.differences}
    assert found == {(key, user, 123, 6000), (key, stranger, 7, None)}
    assert report.differing == [key]

    repaired = await maintenance(api).reconcile(repair=True)
    assert repaired.repaired == [key]
    assert await ranking.scores(key) == {user: 6000, uuid.UUID(str(cyclist["id"])): 25000}
    after = await maintenance(api).reconcile(repair=False)
    assert after.difference_count == 0, after.differences


async def test_a_board_the_record_does_not_imply_must_hold_no_one(api: Api) -> None:
    await two_athletes(api)
    assert api.app is not None
    ranking = api.app.state.container.ranking
    empty_year = BoardKey(BoardId(Metric.POINTS, Period.YEAR, Scope.global_()), "2001")
    await ranking.load(empty_year, [])
    stray = BoardKey(BoardId(Metric.POINTS, Period.DAY, Scope.global_()), "2001-01-01")
    await ranking.load(stray, [])
    await ranking.project(uuid.uuid4(), 1, [ScoreUpdate(stray, 5, datetime.now(UTC))])

    report = await maintenance(api).reconcile(repair=False)
    assert report.not_implied == 2
    assert report.boards_checked == IMPLIED + 2
    assert report.differing == [stray]


async def test_what_an_interrupted_load_left_is_not_compared_and_is_dropped(api: Api) -> None:
    """A board held but not loaded (a load that never finished, or an earlier release's
    writes into boards no one loaded) may be stale: it takes no writes. Reconcile counts
    it and does not compare it, `--repair` drops it, and so does its next load."""
    _, runner, _ = await two_athletes(api)
    assert api.app is not None
    ranking = api.app.state.container.ranking
    user = uuid.UUID(str(runner["id"]))
    stale = today(Metric.DISTANCE, Scope.global_())
    unimplied = BoardKey(BoardId(Metric.POINTS, Period.DAY, Scope.global_()), "2001-01-01")
    for key in (stale, unimplied):
        async with ranking.rebuild_lock(key):
            await ranking.project(user, 10**9, [ScoreUpdate(key, 1, datetime.now(UTC))])
    assert await ranking.scores(stale) == {user: 1}

    report = await maintenance(api).reconcile(repair=False)
    assert (report.partly_held, report.not_implied) == (1, 1)
    assert report.difference_count == 0, report.differences

    # A read drops the stale board before loading it from the record.
    await read(api, stale)
    assert (await ranking.scores(stale))[user] == 6000
    repaired = await maintenance(api).reconcile(repair=True)
    assert repaired.dropped == 1
    assert unimplied not in await ranking.held_keys()
    assert (await maintenance(api).reconcile(repair=True)).dropped == 0


def implied_keys(group_id: str) -> list[BoardKey]:
    """Every board instance `two_athletes`' workouts imply."""
    scopes = [
        Scope.global_(),
        Scope.for_activity(Activity.RUN),
        Scope.for_activity(Activity.CYCLE),
        Scope.for_group(uuid.UUID(group_id)),
    ]
    return [
        today(metric, scope, period) for period in Period for scope in scopes for metric in Metric
    ]


async def test_warming_reads_the_record_after_its_locks_and_leaves_boards_being_loaded(
    api: Api,
) -> None:
    """Warming loads each cold board from a read of the record taken under its lock: a
    workout processed after reconcile's check (which no cold board took) is on the boards
    it warms. A board whose lock another holds is being loaded by them: left to them."""
    group_id, runner, cyclist = await two_athletes(api)
    assert api.app is not None
    ranking = api.app.state.container.ranking
    keys = implied_keys(group_id)
    report = await maintenance(api).reconcile(repair=False)
    assert report.cold == len(keys) == IMPLIED
    # After the check: a third athlete runs, into boards that are all cold.
    sprinter_token, sprinter = await api.register("sprinter")
    ran = await api.submit_ok(
        sprinter_token,
        activity="run",
        started_at=(STARTED + timedelta(minutes=40)).isoformat(),
        duration_s=600,
        distance_m=2000,
    )
    await api.wait_processed(sprinter_token, ran)
    taken = today(Metric.POINTS, Scope.global_(), Period.ALL)
    async with ranking.rebuild_lock(taken):
        warmed = await maintenance(api).warm(keys)
        assert not await ranking.is_loaded(taken)
    assert warmed == IMPLIED - 1
    distance = today(Metric.DISTANCE, Scope.global_())
    assert await ranking.is_loaded(distance)
    assert await ranking.scores(distance) == {
        uuid.UUID(str(runner["id"])): 6000,
        uuid.UUID(str(cyclist["id"])): 25000,
        uuid.UUID(str(sprinter["id"])): 2000,
    }
    after = await maintenance(api).reconcile(repair=False)
    assert (after.cold, after.difference_count) == (1, 0), after.differences


async def test_warming_in_batches_loads_each_instance_from_its_own_days(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workouts on several days, warmed in batches of two instances: each batch reads the
    days of its instances, and every board ends equal to the record."""
    token, _ = await api.register("runner")
    for days_ago in (1, 2, 9, 40):
        done = await api.submit_ok(
            token,
            activity="run",
            started_at=(STARTED - timedelta(days=days_ago)).isoformat(),
            duration_s=1200,
            distance_m=100 * days_ago,
        )
        await api.wait_processed(token, done)
    monkeypatch.setattr("fitboard.application.boards.maintenance._WARM_BOARDS", len(Metric) + 1)
    report = await maintenance(api).reconcile(repair=False, warm=True)
    assert report.warmed == report.cold == report.implied
    after = await maintenance(api).reconcile(repair=False)
    assert (after.cold, after.difference_count) == (0, 0), after.differences
    assert after.entries_compared == after.record_entries > 0


@pytest.fixture
async def embedded_api(tmp_path: Path) -> AsyncIterator[Api]:
    """The embedded application alone: the maintenance socket is embedded mode's."""
    app = create_app(settings_for(tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fitboard") as client:
            yield Api(client, app)


async def test_embedded_reconcile_asks_the_serving_process(
    embedded_api: Api, tmp_path: Path
) -> None:
    api = embedded_api
    assert api.app is not None
    socket = maintenance_socket(api.app.state.container.settings)
    assert socket == tmp_path / "maintenance.sock"
    # Its owner's alone, as every file of the data directory.
    assert stat.S_IMODE(socket.stat().st_mode) == 0o600
    _, runner, _ = await two_athletes(api)
    seen: list[tuple[int, int]] = []
    report = await reconcile_served(
        socket, repair=False, warm=False, progress=lambda c, t: seen.append((c, t))
    )
    assert (report.implied, report.difference_count) == (IMPLIED, 0)
    assert seen
    assert seen[-1] == (report.boards_checked, report.boards_checked)

    # A wrong entry in the server's memory: the command, a process of its own, finds it.
    key = today(Metric.DURATION, Scope.for_activity(Activity.RUN))
    user = uuid.UUID(str(runner["id"]))
    await read(api, key)
    await api.app.state.container.ranking.project(
        user, 10**9, [ScoreUpdate(key, 1, datetime.now(UTC))]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITBOARD_")}
    env |= {"FITBOARD_DATA_DIR": str(tmp_path), "FITBOARD_JWT_SECRET": TEST_SECRET}
    command = await asyncio.create_subprocess_exec(
        FITBOARD,
        "reconcile",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(command.communicate(), 60))[0].decode()
    assert command.returncode == 1, output
    assert f"checked {report.boards_checked} boards: 1 differences" in output, output

    repair = await asyncio.create_subprocess_exec(
        FITBOARD, "reconcile", "--repair", env=env, stdout=asyncio.subprocess.PIPE
    )
    output = (await asyncio.wait_for(repair.communicate(), 60))[0].decode()
    assert repair.returncode == 0, output
    assert await api.app.state.container.ranking.scores(key) == {user: 1800}


def test_embedded_reconcile_without_a_server_checks_nothing_and_says_so(tmp_path: Path) -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("FITBOARD_")}
    env |= {"FITBOARD_DATA_DIR": str(tmp_path), "FITBOARD_JWT_SECRET": TEST_SECRET}
    run = subprocess.run(
        [FITBOARD, "reconcile"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no `fitboard serve` runs on" in run.stdout
