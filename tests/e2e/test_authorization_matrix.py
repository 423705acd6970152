"""The authorization matrix of issue 14, generated from the served OpenAPI schema, in both
modes: every operation that declares security × {no token, expired, wrong signature,
`alg: none`, a well-signed token of no athlete} → 401; an athlete-owned resource of another
athlete (a workout, a group, a group challenge, a group board, a month's report, a workout
id) → the 403/404 (409 for a taken workout id) that the operation documents; admin routes
with a valid non-admin token → 403. Never 2xx, never 5xx, never a status the operation does
not document. The same for Socket.IO: connecting with each bad token, and subscribing to a
group board or a group challenge's board of a group one is not a member of.

A route added later is in the matrix without a change here: its operation is read from
/openapi.json. Only a new kind of path parameter or a new required body needs a line below,
and the test says so."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from fastapi import FastAPI

from fitboard.adapters.tokens_jwt import ALGORITHM, ISSUER
from tests.e2e.conftest import (
    TEST_SECRET,
    Api,
    app_in_mode,
    migrated_postgres,  # noqa: F401  (a fixture, found by pytest by its name)
    run_at,
)
from tests.live.conftest import LiveServer, serving
from tests.live.test_challenge_boards import group_challenge

pytestmark = pytest.mark.asyncio(loop_scope="module")

METHODS = ("get", "put", "post", "patch", "delete")
PASSWORD = "correct horse battery"
# The path parameters an operation may have, each filled with the victim's resource (or a
# value that reaches the rule). A new kind fails the matrix until it is added here.
OWNED_IDS = ("workout_id", "group_id", "challenge_id")
OTHER_PARAMETERS = ("metric", "period", "month")
# The operations of the API that anyone may call (they take credentials, not a token);
# every other /v1 operation must declare the bearer security, or it would be missing here.
PUBLIC = {"POST /v1/auth/register", "POST /v1/auth/token"}
# Checked last: were one of them to accept a forged token, it would end the intruder's
# session, and every case after it would fail for that instead of its own reason.
ENDS_A_SESSION = {"DELETE /v1/me", "POST /v1/auth/logout", "POST /v1/auth/password"}


def _claims(subject: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
        "gen": 0,
    }
    claims.update(changes)
    return claims


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged_tokens(subject: str) -> dict[str, str | None]:
    """A token for `subject` wrong in one way each; None is no token at all."""
    now = int(time.time())
    return {
        "no token": None,
        "expired": jwt.encode(
            _claims(subject, iat=now - 7200, exp=now - 3600), TEST_SECRET, algorithm=ALGORITHM
        ),
        "wrong signature": jwt.encode(
            _claims(subject), "another-secret-that-is-long-enough-for-hs256", algorithm=ALGORITHM
        ),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(subject))}.",
        "no such athlete": jwt.encode(_claims(str(uuid.uuid4())), TEST_SECRET, algorithm=ALGORITHM),
    }


def good_token(subject: str) -> str:
    """The token the forger would make if it were right: the control of forged_tokens."""
    return jwt.encode(_claims(subject), TEST_SECRET, algorithm=ALGORITHM)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    documented: frozenset[int]
    parameters: tuple[tuple[str, str], ...]  # (name, in)
    body_required: bool
    secured: bool

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def admin(self) -> bool:
        return self.path.startswith("/v1/admin/")


def operations_of(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in document["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            documented = frozenset(int(s) for s in operation["responses"] if s.isdigit())
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    documented=documented,
                    parameters=tuple((p["name"], p["in"]) for p in operation.get("parameters", [])),
                    body_required=bool(operation.get("requestBody", {}).get("required")),
                    secured=bool(operation.get("security")),
                )
            )
    return found


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    # httpx's request options: params, json, files, data.
    options: dict[str, Any] = field(default_factory=dict)

    async def send(self, client: httpx.AsyncClient, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return await client.request(self.method, self.path, headers=headers, **self.options)


GPX = b"""<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="matrix" xmlns="http://www.topografix.com/GPX/1/1">
<trk><trkseg>
<trkpt lat="52.5200" lon="13.4050"><time>2024-05-01T07:00:00Z</time></trkpt>
<trkpt lat="52.5300" lon="13.4150"><time>2024-05-01T07:10:00Z</time></trkpt>
</trkseg></trk></gpx>
"""


@dataclass
class World:
    """One started application, its three athletes and the victim's resources."""

    live: LiveServer
    victim: str
    victim_user: dict[str, Any]
    intruder: str
    intruder_user: dict[str, Any]
    admin: str
    workout_id: str
    group_id: str
    challenge: dict[str, Any]
    month: str

    @property
    def client(self) -> httpx.AsyncClient:
        return self.live.api.client

    def workout(self, **changes: Any) -> dict[str, Any]:
        return {
            "activity": "run",
            "started_at": run_at(3),
            "duration_s": 1800,
            "distance_m": 5000,
            **changes,
        }

    def bodies(self) -> dict[str, Callable[[], Call]]:
        """A valid request for each operation with a required body (or a form)."""
        # The victim's own challenge, posted again for the victim's group.
        challenge = {k: self.challenge[k] for k in ("name", "metric", "starts_at", "ends_at")}
        challenge["scope"] = f"group:{self.group_id}"
        bodies: dict[str, Any] = {
            "POST /v1/auth/password": {
                "current_password": PASSWORD,
                "new_password": "a new passphrase",
            },
            "POST /v1/admin/dead-letters/replay": {"ids": []},
            "POST /v1/admin/workouts/{workout_id}/approve": {"reason": "matrix"},
            "POST /v1/admin/workouts/{workout_id}/reject": {"reason": "matrix"},
            "PATCH /v1/me": {"display_name": "Someone else"},
            # A taken id: another athlete's workout id is theirs (409).
            "POST /v1/workouts": self.workout(id=self.workout_id),
            "POST /v1/workouts:batch": {"workouts": [self.workout()]},
            "PATCH /v1/workouts/{workout_id}": {"duration_s": 1900},
            "POST /v1/challenges": challenge,
            "POST /v1/groups": {"name": "Intruders"},
            "POST /v1/groups/{group_id}/join": {"invite_code": "not-the-code"},
        }
        made: dict[str, Callable[[], Call]] = {
            label: _json_call(label, body) for label, body in bodies.items()
        }
        made["POST /v1/workouts/import"] = lambda: Call(
            "POST",
            "/v1/workouts/import",
            {
                "files": {"file": ("run.gpx", GPX, "application/gpx+xml")},
                "data": {"activity": "run"},
            },
        )
        return made

    def call(self, operation: Operation) -> Call:
        """The operation on the victim's resources, with a valid body where one is needed."""
        values = {
            "workout_id": self.workout_id,
            "group_id": self.group_id,
            "challenge_id": self.challenge["id"],
            "metric": "points",
            "period": "week",
            "month": self.month,
        }
        path = operation.path
        for name, where in operation.parameters:
            if where != "path":
                continue
            assert name in (*OWNED_IDS, *OTHER_PARAMETERS), (
                f"{operation.label}: path parameter {name!r} is new to the matrix; add it to "
                "OWNED_IDS (an athlete-owned id, filled with another athlete's) or "
                "OTHER_PARAMETERS, with a value in World.call"
            )
            path = path.replace("{" + name + "}", values[name])
        made = self.bodies().get(operation.label)
        if made is None:
            assert not operation.body_required, (
                f"{operation.label} requires a body: add a valid one to World.bodies"
            )
            call = Call(operation.method, path)
        else:
            call = replace(made(), path=path)
        if operation.path.startswith("/v1/leaderboards/"):
            call = replace(
                call, options={**call.options, "params": {"scope": f"group:{self.group_id}"}}
            )
        return call


def other_athletes_case(operation: Operation) -> frozenset[int] | None:
    """The statuses an athlete gets for the operation on another athlete's resource, or
    None when the operation names no resource of anyone's."""
    if operation.admin:
        return None
    if operation.label == "POST /v1/workouts":
        return frozenset({409})
    names = {name for name, where in operation.parameters if where == "path"}
    if (
        names & set(OWNED_IDS)
        or operation.path.startswith(("/v1/leaderboards/", "/v1/me/reports/"))
        or operation.label == "POST /v1/challenges"
    ):
        return frozenset({403, 404})
    return None


def _json_call(label: str, body: Any) -> Callable[[], Call]:
    method, path = label.split(" ", 1)
    return lambda: Call(method, path, {"json": body})


async def _until(check: Callable[[], Awaitable[bool]], what: str, within_s: float = 30) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within_s):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not within {within_s}s")


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["embedded", pytest.param("production", marks=pytest.mark.production)],
)
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    tmp_path: Path = tmp_path_factory.mktemp("authz")
    async with contextlib.AsyncExitStack() as stack:
        app: FastAPI = await stack.enter_async_context(app_in_mode(request, tmp_path, "authz"))
        url = await stack.enter_async_context(serving(app))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        api = Api(http, app)
        victim, victim_user = await api.register("victim")
        intruder, intruder_user = await api.register("intruder")
        admin, _ = await api.register("warden")
        await api.promote("warden")

        workout_id = await api.submit_ok(
            victim, activity="run", started_at=run_at(2), duration_s=1800, distance_m=5000
        )
        processed = await api.wait_processed(victim, workout_id)
        clients = await stack.enter_async_context(contextlib.AsyncExitStack())
        live = LiveServer(url, api, request.param, app, clients)
        group_id, challenge_id = await group_challenge(live, victim)
        listed = await http.get("/v1/challenges", headers=api.auth(victim))
        assert listed.status_code == 200, listed.text
        [challenge] = [c for c in listed.json() if c["id"] == challenge_id]
        started = datetime.fromisoformat(processed["started_at"])
        month = started.astimezone(app.state.container.settings.zone).strftime("%Y-%m")

        async def report_ready() -> bool:
            answer = await http.get(f"/v1/me/reports/{month}", headers=api.auth(victim))
            assert answer.status_code in (200, 404), answer.text
            return answer.status_code == 200

        await _until(report_ready, f"the victim's report for {month}")

        yield World(
            live=live,
            victim=victim,
            victim_user=victim_user,
            intruder=intruder,
            intruder_user=intruder_user,
            admin=admin,
            workout_id=workout_id,
            group_id=group_id,
            challenge=challenge,
            month=month,
        )


async def served_operations(world: World) -> list[Operation]:
    answer = await world.client.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    return operations_of(answer.json())


async def test_a_forged_token_is_refused_for_its_flaw_alone(world: World) -> None:
    """The control of the forger: made right, its token is the intruder's, so every refusal
    below is for the one flaw of each token."""
    me = await world.client.get("/v1/me", headers=Api.auth(good_token(world.intruder_user["id"])))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == world.intruder_user["id"]


async def test_no_operation_of_the_api_but_signing_in_is_open_to_anyone(world: World) -> None:
    """A route that forgot its token dependency declares no security: it would be missing
    from the matrix below, so it fails here."""
    operations = await served_operations(world)
    open_ones = {op.label for op in operations if op.path.startswith("/v1/") and not op.secured}
    assert open_ones == PUBLIC, f"/v1 operations open to anyone: {sorted(open_ones)}"


async def test_every_secured_operation_refuses_whoever_may_not_call_it(world: World) -> None:
    operations = await served_operations(world)
    secured = sorted(
        (op for op in operations if op.secured), key=lambda op: op.label in ENDS_A_SESSION
    )
    assert secured, "no operation of /openapi.json declares security"
    tokens = forged_tokens(world.intruder_user["id"])
    failures: list[str] = []
    rows: list[str] = []
    statuses: list[str] = []
    checked = checked_cases = 0

    def judge(op: Operation, case: str, answer: httpx.Response, wanted: frozenset[int]) -> None:
        nonlocal checked_cases
        checked_cases += 1
        statuses.append(f"{case} {answer.status_code}")
        allowed = wanted & op.documented
        if answer.status_code not in allowed:
            failures.append(
                f"{op.label} · {case}: {answer.status_code}, wanted one of {sorted(allowed)} "
                f"(documented {sorted(op.documented)}): {answer.text[:200]}"
            )

    for op in secured:
        call = world.call(op)
        statuses.clear()
        for case, token in tokens.items():
            judge(op, case, await call.send(world.client, token), frozenset({401}))
        if op.admin:
            answer = await call.send(world.client, world.intruder)
            judge(op, "non-admin", answer, frozenset({403}))
        else:
            wanted = other_athletes_case(op)
            if wanted is not None:
                answer = await call.send(world.client, world.intruder)
                judge(op, "another athlete's resource", answer, wanted)
        if op.method == "GET":
            # The control: the rightful caller gets the same request through, so the
            # refusals above are the rule's, not a malformed request's.
            rightful = world.admin if op.admin else world.victim
            answer = await call.send(world.client, rightful)
            if not 200 <= answer.status_code < 300:
                failures.append(f"{op.label} · control: {answer.status_code}: {answer.text[:200]}")
        checked += 1
        rows.append(f"{op.label}: {', '.join(statuses)}")

    print(
        f"authorization matrix ({world.live.mode}): {checked} operations, {checked_cases} cases",
        *rows,
        sep="\n  ",
    )
    assert checked >= len(secured)
    assert checked_cases >= len(tokens) * len(secured)
    assert not failures, "\n".join(failures)


async def test_no_bad_token_opens_a_live_connection(world: World) -> None:
    for case, token in forged_tokens(world.intruder_user["id"]).items():
        reason = await world.live.refusal(token)
        assert reason, case
    accepted = await world.live.connect(good_token(world.intruder_user["id"]))
    assert accepted.client.connected


async def test_group_boards_are_live_for_members_only(world: World) -> None:
    board = f"points/week/group:{world.group_id}"
    outsider = await world.live.connect(world.intruder)
    refused = await outsider.subscribe(board)
    assert refused["ok"] is False, refused
    assert "members" in refused["error"], refused
    assert await outsider.call("subscribe", {"challenge": world.challenge["id"]}) == {
        "ok": False,
        "error": "no such challenge",
    }
    member = await world.live.connect(world.victim)
    assert await member.subscribe(board) == {"ok": True}
    assert await member.call("subscribe", {"challenge": world.challenge["id"]}) == {"ok": True}
    # Refused, the outsider never got a snapshot of either.
    assert outsider.received("leaderboard:update") == []
