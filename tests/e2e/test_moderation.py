"""Moderation and corrections (issue 14), in both modes: a flagged workout approved counts,
a counted one rejected stops counting, an athlete deletes and corrects their own workouts;
after each, the boards equal the record (the reconcile check finds no difference)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fitboard.application.messaging.ports import Message
from fitboard.application.workouts.change_messages import change_message
from fitboard.application.workouts.messages import submission_message
from fitboard.domain.activities import Activity
from fitboard.domain.changes import ChangeKind, WorkoutChange
from fitboard.domain.workouts import WorkoutSubmission
from tests.e2e.conftest import Api, run_at

# 5 km in 10 minutes: possible, but faster than the world record, so stored as flagged.
TOO_FAST = {"activity": "run", "duration_s": 600, "distance_m": 5000}
# An ordinary run.
EASY = {"activity": "run", "duration_s": 1800, "distance_m": 5000}


async def workout_until(
    api: Api, token: str, workout_id: str, *, status: str | None, within_s: float = 15
) -> dict[str, Any]:
    """The workout once it has `status` (None: once it is gone, 404)."""
    last: httpx.Response | None = None
    async with asyncio.timeout(within_s):
        while True:
            last = await api.client.get(f"/v1/workouts/{workout_id}", headers=api.auth(token))
            if status is None and last.status_code == 404:
                return {}
            if last.status_code == 200 and last.json()["status"] == status:
                data: dict[str, Any] = last.json()
                return data
            await asyncio.sleep(0.02)


async def board_until(
    api: Api, token: str, path: str, scores: dict[str, int], within_s: float = 15, **params: str
) -> dict[str, Any]:
    """The board once its entries are exactly `scores` (user id -> score)."""
    board: dict[str, Any] = {}
    try:
        async with asyncio.timeout(within_s):
            while True:
                board = await api.board(token, path, **params)
                if {e["user_id"]: e["score"] for e in board["entries"]} == scores:
                    return board
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{path} never became {scores}: {board}") from None


async def report_until(
    api: Api, token: str, month: str, workouts: int, within_s: float = 15
) -> dict[str, Any]:
    """The athlete's monthly report once it counts `workouts` workouts."""
    report: dict[str, Any] = {}
    try:
        async with asyncio.timeout(within_s):
            while True:
                answer = await api.client.get(f"/v1/me/reports/{month}", headers=api.auth(token))
                if answer.status_code == 200:
                    report = answer.json()
                    if report["workouts"] == workouts:
                        return report
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"the {month} report never had {workouts}: {report}") from None


async def assert_boards_equal_the_record(api: Api) -> None:
    assert api.app is not None
    report = await api.app.state.container.services.maintenance.reconcile(repair=False)
    assert report.boards_checked > 0
    assert report.differences == []


async def admin(api: Api) -> str:
    token, _ = await api.register("root")
    await api.promote("root")
    return token


async def held(api: Api, token: str) -> set[str]:
    answer = await api.client.get("/v1/me/achievements", headers=api.auth(token))
    assert answer.status_code == 200, answer.text
    return {a["id"] for a in answer.json()}


async def test_a_flagged_workout_approved_counts_from_then_on(api: Api) -> None:
    root = await admin(api)
    token, ada = await api.register("ada", weight_kg=60)
    workout_id = await api.submit_ok(token, started_at=run_at(), **TOO_FAST)
    flagged = await api.wait_processed(token, workout_id)
    assert flagged["status"] == "flagged"
    assert "world record" in flagged["flag_reason"]
    assert flagged["decision"] is None
    assert (await api.board(token, "distance/all"))["entries"] == []
    assert "first-workout" not in await held(api, token)

    review = await api.client.get("/v1/admin/workouts?status=flagged", headers=api.auth(root))
    assert review.status_code == 200, review.text
    [item] = review.json()["items"]
    assert (item["id"], item["user_id"], item["decision"]) == (workout_id, ada["id"], None)

    approved = await api.client.post(
        f"/v1/admin/workouts/{workout_id}/approve",
        json={"reason": "chip-timed race result"},
        headers=api.auth(root),
    )
    assert approved.status_code == 202, approved.text
    assert approved.json()["status"] == "queued"

    counted = await workout_until(api, token, workout_id, status="processed")
    assert counted["decision"]["decision"] == "approve"
    assert counted["decision"]["reason"] == "chip-timed race result"
    await board_until(api, token, "distance/all", {ada["id"]: 5000})
    assert "first-workout" in await held(api, token)
    await report_until(api, token, flagged["started_at"][:7], workouts=1)
    assert "first-workout" in counted["achievements"]
    again = await api.client.post(
        f"/v1/admin/workouts/{workout_id}/approve", headers=api.auth(root)
    )
    assert again.status_code == 409, again.text
    assert (await api.client.get("/v1/admin/workouts", headers=api.auth(root))).json()[
        "items"
    ] == []
    await assert_boards_equal_the_record(api)


async def test_a_counted_workout_rejected_stops_counting(api: Api) -> None:
    root = await admin(api)
    token, ada = await api.register("ada", weight_kg=60)
    other_token, bob = await api.register("bob", weight_kg=80)
    # Runs of 3, 5 and 4 km in date order: the 5 km beats the 3 km, a record.
    first = await api.submit_ok(token, started_at=run_at(4), **{**EASY, "distance_m": 3000})
    record = await api.submit_ok(token, started_at=run_at(3), **EASY)
    third = await api.submit_ok(token, started_at=run_at(2), **{**EASY, "distance_m": 4000})
    bobs = await api.submit_ok(other_token, started_at=run_at(2), **EASY)
    for who, workout_id in ((token, first), (token, record), (token, third), (other_token, bobs)):
        await api.wait_processed(who, workout_id)
    await board_until(api, token, "distance/all", {ada["id"]: 12000, bob["id"]: 5000})
    assert "record-longest-run" in (await api.wait_processed(token, record))["achievements"]
    assert "record-longest-run" not in (await api.wait_processed(token, third))["achievements"]

    rejected = await api.client.post(
        f"/v1/admin/workouts/{record}/reject",
        json={"reason": "a car ride, not a run"},
        headers=api.auth(root),
    )
    assert rejected.status_code == 202, rejected.text

    shown = await workout_until(api, token, record, status="rejected")
    assert shown["decision"]["decision"] == "reject"
    assert shown["decision"]["reason"] == "a car ride, not a run"
    assert "record-longest-run" not in shown["achievements"]
    board = await board_until(api, token, "distance/all", {ada["id"]: 7000, bob["id"]: 5000})
    assert [e["user_id"] for e in board["entries"]] == [ada["id"], bob["id"]]
    await board_until(api, token, "workouts/all", {ada["id"]: 2, bob["id"]: 1})
    # Without it, the 4 km run beats the 3 km one before it: the record is judged again.
    assert "record-longest-run" in (await api.wait_processed(token, third))["achievements"]
    listed = await api.client.get("/v1/admin/workouts?status=rejected", headers=api.auth(root))
    [item] = listed.json()["items"]
    me = await api.client.get("/v1/me", headers=api.auth(root))
    assert item["decision"]["decided_by"] == me.json()["id"]
    await assert_boards_equal_the_record(api)


async def test_an_athlete_deletes_and_corrects_their_workouts(api: Api) -> None:
    token, ada = await api.register("ada", weight_kg=60)
    other_token, _ = await api.register("bob")
    kept = await api.submit_ok(token, started_at=run_at(3), **EASY)
    duplicate = await api.submit_ok(token, started_at=run_at(2), **EASY)
    for workout_id in (kept, duplicate):
        await api.wait_processed(token, workout_id)
    await board_until(api, token, "distance/all", {ada["id"]: 10000})

    for method, body in (("DELETE", None), ("PATCH", {"notes": "x"})):
        url = f"/v1/workouts/{kept}"
        foreign = await api.client.request(method, url, json=body, headers=api.auth(other_token))
        assert foreign.status_code == 404, foreign.text
        url = f"/v1/workouts/{uuid.uuid4()}"
        absent = await api.client.request(method, url, json=body, headers=api.auth(token))
        assert absent.status_code == 404, absent.text

    # The month of the one to delete (the other may fall in the month before it).
    started = {w: (await api.wait_processed(token, w))["started_at"] for w in (kept, duplicate)}
    month = started[duplicate][:7]
    in_month = sum(1 for s in started.values() if s[:7] == month)
    await report_until(api, token, month, workouts=in_month)
    deleted = await api.client.delete(f"/v1/workouts/{duplicate}", headers=api.auth(token))
    assert deleted.status_code == 202, deleted.text
    assert deleted.json() == {"id": duplicate, "status": "queued"}
    await workout_until(api, token, duplicate, status=None)
    await board_until(api, token, "distance/all", {ada["id"]: 5000})
    await report_until(api, token, month, workouts=in_month - 1)
    listed = await api.client.get("/v1/workouts", headers=api.auth(token))
    assert [w["id"] for w in listed.json()["items"]] == [kept]
    await assert_boards_equal_the_record(api)

    before = await api.wait_processed(token, kept)
    corrected = await api.client.patch(
        f"/v1/workouts/{kept}",
        json={"distance_m": 7000, "activity": "walk", "notes": "it was a hike, really"},
        headers=api.auth(token),
    )
    assert corrected.status_code == 202, corrected.text
    async with asyncio.timeout(15):
        while True:
            now = await api.wait_processed(token, kept)
            if now["activity"] == "walk":
                break
            await asyncio.sleep(0.02)
    assert now["distance_m"] == 7000
    assert now["notes"] == "it was a hike, really"
    assert now["calories"] != before["calories"]
    await board_until(api, token, "distance/all", {ada["id"]: 7000})
    await board_until(api, token, "distance/all", {ada["id"]: 7000}, scope="activity:walk")
    assert (await api.board(token, "distance/all", scope="activity:run"))["entries"] == []
    await assert_boards_equal_the_record(api)


async def test_a_correction_is_held_to_the_rules_of_a_new_workout(api: Api) -> None:
    token, _ = await api.register("ada")
    workout_id = await api.submit_ok(token, started_at=run_at(), **EASY)
    await api.wait_processed(token, workout_id)
    for body, field in (
        ({"distance_m": 500_000}, "distance_m"),  # 1,000 km/h: impossible
        ({"duration_s": None}, "duration_s"),
        ({"started_at": run_at(5)}, "started_at"),
        ({}, "body"),
    ):
        answer = await api.client.patch(
            f"/v1/workouts/{workout_id}", json=body, headers=api.auth(token)
        )
        assert answer.status_code == 422, (body, answer.text)
        assert field in answer.text, answer.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/admin/workouts"),
        ("POST", "/v1/admin/workouts/{id}/approve"),
        ("POST", "/v1/admin/workouts/{id}/reject"),
    ],
)
async def test_only_admins_review_workouts(api: Api, method: str, path: str) -> None:
    token, _ = await api.register("ada")
    workout_id = await api.submit_ok(token, started_at=run_at(), **TOO_FAST)
    await api.wait_processed(token, workout_id)
    url = path.format(id=workout_id)
    assert (await api.client.request(method, url)).status_code == 401
    refused = await api.client.request(method, url, headers=api.auth(token))
    assert refused.status_code == 403, refused.text
    assert (await api.wait_processed(token, workout_id))["status"] == "flagged"


@dataclass(frozen=True)
class Redelivered:
    """A message delivered again (the first delivery's ack was lost), handed straight to
    the worker's handler; settling is the consumer loop's job, not the handler's."""

    message: Message
    attempt: int = 2
    retries: int = 0

    async def ack(self) -> None:
        raise AssertionError("a handler does not settle its delivery")

    async def retry(self, reason: str, delay_s: float, *, counted: bool = True) -> None:
        raise AssertionError("a handler does not settle its delivery")

    async def dead_letter(self, reason: str) -> None:
        raise AssertionError("a handler does not settle its delivery")


async def test_a_redelivered_change_changes_nothing_twice(api: Api) -> None:
    assert api.app is not None
    container = api.app.state.container
    root = await admin(api)
    root_id = (await api.client.get("/v1/me", headers=api.auth(root))).json()["id"]
    token, ada = await api.register("ada", weight_kg=60)
    workout_id = await api.submit_ok(token, started_at=run_at(), **TOO_FAST)
    await api.wait_processed(token, workout_id)

    # An approval, then a rejection; then the approval's message comes again.
    approval = WorkoutChange(
        id=uuid.uuid4(),
        kind=ChangeKind.APPROVE,
        workout_id=uuid.UUID(workout_id),
        owner=uuid.UUID(ada["id"]),
        changed_by=uuid.UUID(root_id),
        changed_at=datetime.now(UTC),
        reason="checked",
    )
    await container.broker.publish(change_message(approval))
    await workout_until(api, token, workout_id, status="processed")
    await board_until(api, token, "distance/all", {ada["id"]: 5000})
    rejected = await api.client.post(
        f"/v1/admin/workouts/{workout_id}/reject", headers=api.auth(root)
    )
    assert rejected.status_code == 202, rejected.text
    await workout_until(api, token, workout_id, status="rejected")
    await board_until(api, token, "distance/all", {})

    changed = await container.services.changes.handle_workout_changed(
        Redelivered(change_message(approval))
    )
    assert changed.duplicate
    shown = await workout_until(api, token, workout_id, status="rejected")
    assert shown["decision"]["decision"] == "reject"
    assert (await api.board(token, "distance/all"))["entries"] == []
    await assert_boards_equal_the_record(api)

    # A deletion delivered twice deletes once; the workout's own submission delivered
    # again afterwards does not bring it back (it is dead-lettered, saying why).
    deleted = await api.client.delete(f"/v1/workouts/{workout_id}", headers=api.auth(token))
    assert deleted.status_code == 202, deleted.text
    await workout_until(api, token, workout_id, status=None)
    [deletion] = [
        change
        for change in await _applied_changes(api, workout_id)
        if change.kind is ChangeKind.DELETE
    ]
    again = await container.services.changes.handle_workout_changed(
        Redelivered(change_message(deletion))
    )
    assert again.duplicate
    assert again.after is None
    submission = WorkoutSubmission(
        id=uuid.UUID(workout_id),
        user_id=uuid.UUID(ada["id"]),
        activity=Activity.RUN,
        started_at=datetime.fromisoformat(shown["started_at"]),
        duration_s=600,
        submitted_at=datetime.now(UTC),
        distance_m=5000,
    )
    await container.broker.publish(submission_message(submission))
    [letter] = await api.dead_letters(root, 1)
    assert "deleted by its athlete" in letter["reason"]
    await workout_until(api, token, workout_id, status=None)
    await assert_boards_equal_the_record(api)

    # Deleting the account erases the record of the changes to its workouts too.
    assert await _applied_changes(api, workout_id) != []
    erased = await api.client.delete("/v1/me", headers=api.auth(token))
    assert erased.status_code == 202, erased.text
    async with asyncio.timeout(15):
        while True:
            if not await _applied_changes(api, workout_id):
                break
            await asyncio.sleep(0.05)


async def _applied_changes(api: Api, workout_id: str) -> list[WorkoutChange]:
    """The changes recorded on a workout, read from the record (as the worker applied them)."""
    from sqlalchemy import select

    from fitboard.adapters.sql.tables import workout_changes

    assert api.app is not None
    async with api.app.state.container.store.engine.connect() as connection:
        rows = await connection.execute(
            select(workout_changes).where(workout_changes.c.workout_id == uuid.UUID(workout_id))
        )
        return [
            WorkoutChange(
                id=row.id,
                kind=ChangeKind(row.kind),
                workout_id=row.workout_id,
                owner=row.user_id,
                changed_by=row.changed_by,
                changed_at=row.changed_at,
                reason=row.reason,
            )
            for row in rows
        ]


async def processed(api: Api, token: str, **workout: Any) -> str:
    """Submit a workout and wait until the worker has judged it, so that the next one
    is judged after it."""
    workout_id = await api.submit_ok(token, **workout)
    await api.wait_processed(token, workout_id)
    return workout_id


async def deleted(api: Api, token: str, workout_id: str) -> None:
    answer = await api.client.delete(f"/v1/workouts/{workout_id}", headers=api.auth(token))
    assert answer.status_code == 202, answer.text
    await workout_until(api, token, workout_id, status=None)


async def test_a_total_reached_later_is_taken_back_when_an_earlier_workout_goes(
    api: Api,
) -> None:
    token, ada = await api.register("ada", weight_kg=60)
    # 50, 55 and 5 km, in date order and one after another: the second reaches the
    # 100 km club (the badge is held for it), but it rests on the first too.
    long_run = {"activity": "run", "duration_s": 5 * 3600}
    first = await processed(api, token, started_at=run_at(72), **long_run, distance_m=50_000)
    second = await processed(api, token, started_at=run_at(48), **long_run, distance_m=55_000)
    assert "run-total-100k" in (await api.wait_processed(token, second))["achievements"]
    third = await processed(api, token, started_at=run_at(24), **EASY)
    await board_until(api, token, "distance/all", {ada["id"]: 110_000})
    assert "run-total-100k" in await held(api, token)

    # Without the 5 km run the total is still 105 km: the badge stays.
    await deleted(api, token, third)
    await board_until(api, token, "distance/all", {ada["id"]: 105_000})
    assert "run-total-100k" in await held(api, token)

    # Without the first run it is 55 km: the badge a later workout reached is taken back.
    await deleted(api, token, first)
    # The board moves after the change's transaction, which judged the awards, commits.
    await board_until(api, token, "distance/all", {ada["id"]: 55_000})
    assert "run-total-100k" not in await held(api, token)
    assert "run-total-100k" not in (await api.wait_processed(token, second))["achievements"]
    assert "first-workout" in await held(api, token)
    await assert_boards_equal_the_record(api)


async def test_a_streak_broken_by_deleting_its_middle_day_is_taken_back(api: Api) -> None:
    token, ada = await api.register("ada", weight_kg=60)  # UTC: a day is 24 hours
    # Three consecutive days, 24 hours apart, one after another: the last day's workout
    # reaches the streak (the badge is held for it), but it rests on the middle day too.
    now = datetime.now(UTC)
    starts = [(now - timedelta(hours=h)).isoformat() for h in (49, 25, 1)]
    days = [await processed(api, token, started_at=start, **EASY) for start in starts]
    assert "streak-3" in (await api.wait_processed(token, days[2]))["achievements"]
    assert "streak-3" in await held(api, token)

    await deleted(api, token, days[1])
    await board_until(api, token, "workouts/all", {ada["id"]: 2})
    assert "streak-3" not in await held(api, token)
    await assert_boards_equal_the_record(api)
