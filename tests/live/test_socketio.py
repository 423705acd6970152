"""Live updates (API.md "Live updates") through a real server and python-socketio's client."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

from fitboard.bootstrap import Container
from fitboard.domain.groups import Group
from tests.e2e.conftest import TEST_SECRET

from .conftest import LiveServer

# The all-time board: its period never ends in the middle of a test.
BOARD = "calories/all/global"


def recently(minutes: float = 90) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


async def run(live: LiveServer, token: str, minutes: int) -> str:
    return await live.api.submit_ok(
        token,
        activity="run",
        started_at=recently(),
        duration_s=minutes * 60,
        distance_m=minutes * 180,
    )


def token_signed_with(secret: str, user_id: str, *, expires_in_s: int) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "iss": "fitboard", "iat": now - 3600, "exp": now + expires_in_s}
    return jwt.encode(claims, secret, algorithm="HS256")


# --------------------------------------------------------------------------- connect


async def test_a_connection_without_a_valid_token_is_refused(live: LiveServer) -> None:
    token, user = await live.api.register("ada")
    refused = {
        "no token": None,
        "not a token": "not-a-jwt",
        "forged": token_signed_with("x" * 48, user["id"], expires_in_s=600),
        # Past the verifier's 10 s leeway.
        "expired": token_signed_with(TEST_SECRET, user["id"], expires_in_s=-60),
    }
    reasons = {why: await live.refusal(bad) for why, bad in refused.items()}
    assert reasons == {
        "no token": "connect with auth: {token: <access token>}",
        "not a token": "the token is not valid",
        "forged": "the token is not valid",
        "expired": "the token has expired; sign in again",
    }
    accepted = await live.connect(token)
    assert accepted.client.connected


async def test_a_connection_is_closed_when_its_token_expires(live: LiveServer) -> None:
    token, user = await live.api.register("ada")
    expired_before = await expired_disconnects(live)
    short = await live.connect(token_signed_with(TEST_SECRET, user["id"], expires_in_s=2))
    lasting = await live.connect(token)
    gone = asyncio.Event()

    async def on_disconnect(reason: Any = None) -> None:
        gone.set()

    short.client.on("disconnect", on_disconnect)
    assert await short.subscribe(BOARD) == {"ok": True}
    await asyncio.wait_for(gone.wait(), timeout=10)
    assert not short.client.connected
    # The other connection, whose token is still good, is untouched and still served.
    assert lasting.client.connected
    assert await lasting.subscribe(BOARD) == {"ok": True}
    assert await expired_disconnects(live) == expired_before + 1


async def expired_disconnects(live: LiveServer) -> float:
    """The counter is the process's, shared by every test in it: compare, don't assume."""
    metrics = (await live.api.client.get("/metrics")).text
    line = next(x for x in metrics.splitlines() if x.startswith("fitboard_live_expired_dis"))
    return float(line.split()[1])


async def test_metrics_count_connections(live: LiveServer) -> None:
    token, _ = await live.api.register("ada")
    await live.connect(token)
    response = await live.api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    connections = next(line for line in lines if line.startswith("fitboard_live_connections "))
    assert float(connections.split()[1]) >= 1
    assert any(line.startswith("fitboard_live_connects_total{") for line in lines)


# --------------------------------------------------------------------------- subscribe


async def test_subscribe_is_acknowledged_with_a_snapshot(live: LiveServer) -> None:
    ada, ada_user = await live.api.register("ada", display_name="Ada L.")
    workout_id = await run(live, ada, 30)
    processed = await live.api.wait_processed(ada, workout_id)
    bob, _ = await live.api.register("bob")
    client = await live.connect(bob)

    assert await client.subscribe(BOARD) == {"ok": True}
    snapshot = await client.wait_for("leaderboard:update")
    assert snapshot["board"] == BOARD
    assert snapshot["period_key"] == "all"
    assert snapshot["entries"] == [
        {
            "rank": 1,
            "user_id": ada_user["id"],
            "display_name": "Ada L.",
            "score": round(processed["calories"]),
        }
    ]
    assert isinstance(snapshot["version"], int)

    # Subscribing again (a client back from a gap) gets a fresh snapshot, never an older one.
    assert await client.subscribe(BOARD) == {"ok": True}
    await client.wait_for("leaderboard:update", lambda s: s["version"] > snapshot["version"])
    assert await client.call("unsubscribe", {"board": BOARD}) == {"ok": True}


async def test_bad_board_names_are_refused_in_the_ack(live: LiveServer) -> None:
    token, _ = await live.api.register("ada")
    client = await live.connect(token)
    for data in (
        {"board": "calories/week"},
        {"board": "calories/fortnight/global"},
        {"board": "kilojoules/week/global"},
        {"board": "calories/week/activity:teleport"},
        {"board": 42},
        "calories/week/global",
        None,
    ):
        ack = await client.call("subscribe", data)
        assert ack["ok"] is False, data
        assert ack["error"], data
    assert await client.call("unsubscribe", {"board": "nonsense"}) == {
        "ok": False,
        "error": "board: 'nonsense' is not <metric>/<period>/<scope>",
    }
    assert client.received("leaderboard:update") == []


async def test_group_boards_are_for_members_only(live: LiveServer) -> None:
    owner, owner_user = await live.api.register("owner")
    stranger, _ = await live.api.register("stranger")
    group_id = uuid.uuid4()
    container: Container = live.app.state.container
    async with container.store.unit_of_work() as uow:
        await uow.groups.add(
            Group(group_id, "club", "INVITE1", uuid.UUID(owner_user["id"]), datetime.now(UTC))
        )
        await uow.commit()
    board = f"calories/week/group:{group_id}"

    member = await live.connect(owner)
    assert await member.subscribe(board) == {"ok": True}
    outsider = await live.connect(stranger)
    ack = await outsider.subscribe(board)
    assert ack["ok"] is False
    assert "members" in ack["error"]
    missing = await outsider.subscribe(f"calories/week/group:{uuid.uuid4()}")
    assert missing == {"ok": False, "error": "no such group"}


# --------------------------------------------------------------------------- events


async def test_a_processed_workout_reaches_the_athlete_and_the_board(live: LiveServer) -> None:
    token, user = await live.api.register("ada")
    client = await live.connect(token)
    assert await client.subscribe(BOARD) == {"ok": True}
    empty = await client.wait_for("leaderboard:update")
    assert empty["entries"] == []

    workout_id = await run(live, token, 30)
    processed = await client.wait_for("workout:processed")
    stored = await live.api.wait_processed(token, workout_id)
    assert processed == {
        "id": workout_id,
        "status": "processed",
        "calories": stored["calories"],
        "points": stored["points"],
    }
    rank = await client.wait_for("rank:update", lambda p: p["board"] == BOARD)
    assert rank == {
        "board": BOARD,
        "period_key": "all",
        "rank": 1,
        "previous_rank": None,
        "score": round(stored["calories"]),
    }
    moved = await client.wait_for("leaderboard:update", lambda s: s["entries"] != [])
    assert moved["entries"][0]["user_id"] == user["id"]
    assert moved["version"] > empty["version"]

    # A second workout moves the score, not the rank.
    await run(live, token, 10)
    again = await client.wait_for(
        "rank:update", lambda p: p["board"] == BOARD and p["previous_rank"] == 1
    )
    assert again["rank"] == 1
    assert again["score"] > rank["score"]


async def test_the_athlete_who_was_passed_is_told_by_whom(live: LiveServer) -> None:
    ada, ada_user = await live.api.register("ada")
    ada_client = await live.connect(ada)
    assert await ada_client.subscribe(BOARD) == {"ok": True}
    await live.api.wait_processed(ada, await run(live, ada, 20))
    await ada_client.wait_for("rank:update", lambda p: p["board"] == BOARD)

    bob, bob_user = await live.api.register("bob", display_name="Bob the Builder")
    bob_client = await live.connect(bob)
    await run(live, bob, 60)

    passed = await ada_client.wait_for("rank:overtaken", lambda p: p["board"] == BOARD)
    assert passed == {
        "board": BOARD,
        "period_key": "all",
        "rank": 2,
        "by": {"user_id": bob_user["id"], "display_name": "Bob the Builder"},
    }
    bob_rank = await bob_client.wait_for("rank:update", lambda p: p["board"] == BOARD)
    assert (bob_rank["rank"], bob_rank["previous_rank"]) == (1, None)
    # Nobody passed Bob, and Ada hears only about her own ranks.
    assert bob_client.received("rank:overtaken") == []
    assert all(p["board"] != BOARD or p["rank"] == 1 for p in ada_client.received("rank:update"))
    assert ada_user["id"] != bob_user["id"]


# The burst: BURST_ROUNDS rounds, in each of which every athlete submits a workout at
# once; every workout moves the board.
BURST_ATHLETES = 10
BURST_ROUNDS = 20


async def test_a_burst_on_one_board_is_coalesced(live: LiveServer) -> None:
    athletes = [(await live.api.register(f"athlete{n}"))[0] for n in range(BURST_ATHLETES)]
    watcher_token, _ = await live.api.register("watcher")
    watcher = await live.connect(watcher_token)
    assert await watcher.subscribe(BOARD) == {"ok": True}
    await watcher.wait_for("leaderboard:update")
    first_snapshot_count = len(watcher.received("leaderboard:update"))

    started = time.monotonic()
    ids: list[tuple[str, str]] = []
    for round_ in range(BURST_ROUNDS):
        submitted = await asyncio.gather(
            *(run(live, token, 5 + (n + round_) % 30) for n, token in enumerate(athletes))
        )
        ids += zip(athletes, submitted, strict=True)
    for token, workout_id in ids[-BURST_ATHLETES:]:
        await live.api.wait_processed(token, workout_id, within_s=120)

    board = await live.api.board(watcher_token, "calories/all", limit=10)
    expected = [(e["user_id"], e["score"]) for e in board["entries"]]

    def is_final(snapshot: dict[str, Any]) -> bool:
        return [(e["user_id"], e["score"]) for e in snapshot["entries"]] == expected

    # The burst's last move is never lost: the last snapshot shows the final board.
    await watcher.wait_for("leaderboard:update", is_final, within_s=30)
    elapsed = time.monotonic() - started
    snapshots = watcher.received("leaderboard:update")[first_snapshot_count:]
    assert len(ids) == BURST_ATHLETES * BURST_ROUNDS
    # At most one snapshot per 250 ms (plus the leading and trailing edges), however many
    # workouts moved the board: the bound scales with how long the burst took.
    assert len(snapshots) <= elapsed / 0.25 + 2, (len(snapshots), elapsed)
    assert len(snapshots) < len(ids)
    versions = [s["version"] for s in snapshots]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)


async def test_plain_http_still_serves_beside_socketio(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        # Engine.IO answers its own handshake under /socket.io.
        response = await http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert response.status_code == 200
        assert response.text.startswith("0{")
