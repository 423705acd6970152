"""The account's session and life, through the HTTP API in each mode: changing the
password, renewing and revoking tokens, deleting the account, exporting its data
(docs/accounts.md)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fitboard.adapters.sql.tables import workout_changes
from fitboard.application.accounts.export import AccountExport
from fitboard.application.workouts.messages import submission_message
from fitboard.domain.activities import Activity
from fitboard.domain.boards import Period
from fitboard.domain.errors import AuthenticationFailed
from fitboard.domain.periods import period_key
from fitboard.domain.workouts import WorkoutSubmission
from fitboard.entrypoints.api.athletes import REVOCATION_DELAY_S, KnownAthletes
from tests.e2e.conftest import Api, run_at, start_within_its_day

PASSWORD = "correct horse battery"
NEW_PASSWORD = "seven purple giraffes dancing"


async def sign_in(api: Api, username: str, password: str) -> httpx.Response:
    return await api.client.post(
        "/v1/auth/token", data={"username": username, "password": password}
    )


async def me(api: Api, token: str) -> int:
    return (await api.client.get("/v1/me", headers=api.auth(token))).status_code


async def change_password(api: Api, token: str, current: str, new: str) -> httpx.Response:
    return await api.client.post(
        "/v1/auth/password",
        json={"current_password": current, "new_password": new},
        headers=api.auth(token),
    )


# ------------------------------------------------------------------ password and sessions


async def test_a_password_change_revokes_every_older_token(api: Api) -> None:
    first, _ = await api.register("ada")
    signed_in = await sign_in(api, "ada", PASSWORD)
    second = signed_in.json()["access_token"]

    changed = await change_password(api, first, PASSWORD, NEW_PASSWORD)

    assert changed.status_code == 200, changed.text
    fresh = changed.json()["access_token"]
    assert await me(api, first) == 401
    refused = await api.client.get("/v1/me", headers=api.auth(second))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert await me(api, fresh) == 200
    assert (await sign_in(api, "ada", PASSWORD)).status_code == 401
    again = await sign_in(api, "ada", NEW_PASSWORD)
    assert again.status_code == 200
    assert await me(api, again.json()["access_token"]) == 200


async def test_a_weak_new_password_is_422_and_a_wrong_current_one_403(api: Api) -> None:
    token, _ = await api.register("ada")

    weak = await change_password(api, token, PASSWORD, "qwerty12")
    assert weak.status_code == 422, weak.text
    assert any("new_password" in error["loc"] for error in weak.json()["detail"])
    wrong = await change_password(api, token, "not my password at all", NEW_PASSWORD)
    assert wrong.status_code == 403, wrong.text
    assert "current_password" in wrong.json()["detail"]

    # Neither changed anything: the token and the password still work.
    assert await me(api, token) == 200
    assert (await sign_in(api, "ada", PASSWORD)).status_code == 200
    assert (await sign_in(api, "ada", NEW_PASSWORD)).status_code == 401


async def test_a_token_is_renewed_while_valid_and_logout_revokes_them_all(api: Api) -> None:
    token, _ = await api.register("ada")
    renewed = await api.client.post("/v1/auth/refresh", headers=api.auth(token))
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "bearer"
    assert renewed.json()["expires_in"] > 0
    fresh = renewed.json()["access_token"]
    assert await me(api, fresh) == 200
    assert await me(api, token) == 200  # renewing revokes nothing

    out = await api.client.post("/v1/auth/logout", headers=api.auth(fresh))

    assert out.status_code == 204, out.text
    assert await me(api, fresh) == 401
    assert await me(api, token) == 401
    refused = await api.client.post("/v1/auth/refresh", headers=api.auth(token))
    assert refused.status_code == 401
    back = await sign_in(api, "ada", PASSWORD)
    assert await me(api, back.json()["access_token"]) == 200


async def test_another_process_refuses_a_revoked_token_within_the_documented_delay(
    api: Api,
) -> None:
    """Two API processes: the one that signs the athlete out refuses at once; another,
    which read the athlete's token generation earlier, refuses once REVOCATION_DELAY_S
    has passed on its clock, not before."""
    token, _ = await api.register("ada")
    assert api.app is not None
    services = api.app.state.services
    access = services.tokens.verify(token)
    now = [1000.0]
    other = KnownAthletes(clock=lambda: now[0])
    await other.require(access, services.sessions)

    assert (await api.client.post("/v1/auth/logout", headers=api.auth(token))).status_code == 204

    assert await me(api, token) == 401
    now[0] += REVOCATION_DELAY_S - 0.5
    await other.require(access, services.sessions)  # still trusted: read 4.5 s ago
    now[0] += 0.5
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await other.require(access, services.sessions)


# ------------------------------------------------------------------ deleting the account


async def _boards_of(api: Api, token: str, group_id: str, day: date) -> dict[str, set[str]]:
    """Who is listed on the boards ada's run (on `day`) reached, as each board reads."""
    week = {"period_key": period_key(Period.WEEK, day)}
    scopes = {
        "calories/week": week,
        "distance/all": {},
        "workouts/month": {"period_key": period_key(Period.MONTH, day)},
        "distance/week run": {"scope": "activity:run", **week},
        "points/all group": {"scope": f"group:{group_id}"},
    }
    listed = {}
    for name, params in scopes.items():
        path = name.split(" ")[0]
        found = await api.board(token, path, **params)
        listed[name] = {e["user_id"] for e in found["entries"]}
    return listed


async def test_deleting_the_account_removes_the_athlete_from_every_board_and_the_record(
    api: Api,
) -> None:
    ada, ada_user = await api.register("ada")
    bob, bob_user = await api.register("bob")
    group = await api.client.post("/v1/groups", json={"name": "Club"}, headers=api.auth(ada))
    assert group.status_code == 201, group.text
    joined = await api.client.post(
        f"/v1/groups/{group.json()['id']}/join",
        json={"invite_code": group.json()["invite_code"]},
        headers=api.auth(bob),
    )
    assert joined.status_code == 200, joined.text
    run = {"activity": "run", "duration_s": 1800, "distance_m": 5000}
    # A duplicate ada deleted herself: its change is on record, and goes with her.
    duplicate = await api.submit_ok(ada, started_at=run_at(6), **run)
    await api.wait_processed(ada, duplicate)
    gone = await api.client.delete(f"/v1/workouts/{duplicate}", headers=api.auth(ada))
    assert gone.status_code == 202, gone.text
    await _until_changed(api, ada_user["id"])
    # Bob's run three hours ago, ada's an hour later, both on one UTC day (so in one week
    # and month, whose boards are read): before 03:00 UTC on a Monday (on the 1st) runs
    # of two and three hours ago were in the week (month) before, and the test failed.
    started = start_within_its_day(3, timedelta(hours=2))
    ada_run = await api.submit_ok(ada, started_at=(started + timedelta(hours=1)).isoformat(), **run)
    bob_run = await api.submit_ok(bob, started_at=started.isoformat(), **run)
    await api.wait_processed(ada, ada_run)
    await api.wait_processed(bob, bob_run)
    day = started.date()
    await api.board_listing(bob, "calories/week", 2, period_key=period_key(Period.WEEK, day))
    before = await _boards_of(api, bob, group.json()["id"], day)
    assert all(ada_user["id"] in users for users in before.values()), before

    deleted = await api.client.delete("/v1/me", headers=api.auth(ada))

    assert deleted.status_code == 202, deleted.text
    assert deleted.json() == {"id": ada_user["id"], "status": "deleted"}
    after = await _boards_of(api, bob, group.json()["id"], day)
    assert after == {name: {bob_user["id"]} for name in before}
    assert await me(api, ada) == 401
    assert (
        await api.client.get(f"/v1/workouts/{ada_run}", headers=api.auth(ada))
    ).status_code == 401
    assert (await sign_in(api, "ada", PASSWORD)).status_code == 401
    assert await _changes_of(api, ada_user["id"]) == 0
    assert api.app is not None
    async with api.app.state.container.store.unit_of_work(read_only=True) as uow:
        assert await uow.workouts.get(uuid.UUID(ada_run)) is None
        assert await uow.achievements.for_user(uuid.UUID(ada_user["id"])) == []
        # The group passed to bob, its only other member.
        passed = await uow.groups.get(uuid.UUID(group.json()["id"]))
        assert passed is not None
        assert str(passed.owner_id) == bob_user["id"]
    # The username is free again, for someone new.
    _token, again_user = await api.register("ada")
    assert again_user["id"] != ada_user["id"]


async def _changes_of(api: Api, user_id: str) -> int:
    """Rows of workout_changes about the athlete's workouts."""
    assert api.app is not None
    statement = select(func.count()).where(workout_changes.c.user_id == uuid.UUID(user_id))
    async with api.app.state.container.store.engine.connect() as connection:
        count: int = (await connection.execute(statement)).scalar_one()
    return count


async def _until_changed(api: Api, user_id: str, within_s: float = 15) -> None:
    """Until the worker has recorded a change to one of the athlete's workouts."""
    async with asyncio.timeout(within_s):
        while await _changes_of(api, user_id) == 0:  # noqa: ASYNC110 (the record has no event)
            await asyncio.sleep(0.05)


async def test_a_group_whose_only_member_is_deleted_goes_with_them(api: Api) -> None:
    ada, _ = await api.register("ada")
    group = await api.client.post("/v1/groups", json={"name": "Solo"}, headers=api.auth(ada))
    assert (await api.client.delete("/v1/me", headers=api.auth(ada))).status_code == 202
    assert api.app is not None
    async with api.app.state.container.store.unit_of_work(read_only=True) as uow:
        assert await uow.groups.get(uuid.UUID(group.json()["id"])) is None


async def test_a_queued_workout_of_a_deleted_athlete_is_dead_lettered_not_stored(
    api: Api,
) -> None:
    ada, ada_user = await api.register("ada")
    ops, _ = await api.register("ops")
    await api.promote("ops")
    assert (await api.client.delete("/v1/me", headers=api.auth(ada))).status_code == 202
    # A workout ada sent just before, reaching the worker only now.
    now = datetime.now(UTC)
    late = WorkoutSubmission(
        id=uuid.uuid4(),
        user_id=uuid.UUID(ada_user["id"]),
        activity=Activity.RUN,
        started_at=now - timedelta(hours=2),
        duration_s=3600,
        submitted_at=now - timedelta(seconds=1),
        distance_m=10000,
    )
    assert api.app is not None
    await api.app.state.container.broker.publish(submission_message(late))

    [letter] = await api.dead_letters(ops, 1)
    assert letter["reason"] == f"no athlete with id {ada_user['id']}"
    async with api.app.state.container.store.unit_of_work(read_only=True) as uow:
        assert await uow.workouts.get(late.id) is None
        assert await uow.users.get(late.user_id) is None
    board = await api.board(ops, "distance/all")
    assert board["entries"] == []


# ------------------------------------------------------------------ export


async def test_the_export_holds_what_the_athlete_submitted(api: Api) -> None:
    ada, ada_user = await api.register("ada", weight_kg=61.5, timezone="Europe/London")
    group = await api.client.post("/v1/groups", json={"name": "Club"}, headers=api.auth(ada))
    submitted = [
        await api.submit_ok(
            ada, activity="run", started_at=run_at(hours), duration_s=1200, distance_m=3000
        )
        for hours in (5, 4, 3)
    ]
    for workout_id in submitted:
        await api.wait_processed(ada, workout_id)

    response = await api.client.get("/v1/me/export", headers=api.auth(ada))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = json.loads(response.content)
    assert document["format"] == "fitboard-export/1"
    assert document["profile"]["id"] == ada_user["id"]
    assert document["profile"]["weight_kg"] == 61.5
    assert [w["id"] for w in document["workouts"]] == submitted[::-1]  # newest first
    assert {w["distance_m"] for w in document["workouts"]} == {3000}
    assert document["groups"] == [
        {
            "id": group.json()["id"],
            "name": "Club",
            "owner": True,
            "joined_at": document["groups"][0]["joined_at"],
        }
    ]
    earned = {a["achievement_id"] for a in document["awards"]}
    assert "first-workout" in earned
    assert {a["workout_id"] for a in document["awards"]} <= {*submitted, None}
    assert isinstance(document["reports"], list)


async def test_the_export_reads_a_long_history_a_page_at_a_time(api: Api) -> None:
    ada, ada_user = await api.register("ada")
    submitted = [
        await api.submit_ok(ada, activity="walk", started_at=run_at(hours), duration_s=600)
        for hours in (9, 8, 7, 6, 5)
    ]
    for workout_id in submitted:
        await api.wait_processed(ada, workout_id)
    assert api.app is not None
    paged = AccountExport(api.app.state.container.store, page_size=2)
    streamed = [str(w.id) async for w in paged.workouts(uuid.UUID(ada_user["id"]))]
    assert streamed == submitted[::-1]
