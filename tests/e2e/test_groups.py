"""Groups: invite-only boards, visible to members only."""

from __future__ import annotations

from tests.e2e.conftest import Api, run_at


async def test_group_boards_are_for_members_and_follow_joins_and_leaves(api: Api) -> None:
    owner, _ = await api.register("captain")
    mate, _ = await api.register("teammate")
    outsider, _ = await api.register("outsider")
    for token, minutes in ((owner, 30), (mate, 45), (outsider, 60)):
        workout_id = await api.submit_ok(token, activity="yoga", started_at=run_at(2),
                                         duration_s=minutes * 60)  # fmt: skip
        await api.wait_processed(token, workout_id)
    created = await api.client.post("/v1/groups", json={"name": "Club"}, headers=api.auth(owner))
    assert created.status_code == 201
    group = created.json()
    scope = {"scope": f"group:{group['id']}", "period_key": "all"}

    path = f"/v1/groups/{group['id']}/join"
    wrong = await api.client.post(path, json={"invite_code": "guess"}, headers=api.auth(mate))
    assert wrong.status_code == 403
    joined = await api.client.post(f"/v1/groups/{group['id']}/join",
                                   json={"invite_code": group["invite_code"]},
                                   headers=api.auth(mate))  # fmt: skip
    assert joined.status_code == 200

    board = await api.board(owner, "duration/all", **scope)
    assert [(e["display_name"], e["score"]) for e in board["entries"]] == [
        ("teammate", 2700), ("captain", 1800)]  # fmt: skip
    hidden = await api.client.get("/v1/leaderboards/duration/all", params=scope,
                                  headers=api.auth(outsider))  # fmt: skip
    assert hidden.status_code == 403

    left = await api.client.delete(f"/v1/groups/{group['id']}/members/me",
                                   headers=api.auth(mate))  # fmt: skip
    assert left.status_code == 204
    board = await api.board(owner, "duration/all", **scope)
    assert [e["display_name"] for e in board["entries"]] == ["captain"]
    again = await api.client.delete(f"/v1/groups/{group['id']}/members/me",
                                    headers=api.auth(mate))  # fmt: skip
    assert again.status_code == 404


async def test_an_athlete_lists_the_groups_they_created_or_joined(api: Api) -> None:
    owner, owner_user = await api.register("founder")
    mate, mate_user = await api.register("joiner")
    outsider, _ = await api.register("stranger")
    club = (await api.client.post("/v1/groups", json={"name": "Club"},
                                  headers=api.auth(owner))).json()  # fmt: skip
    joined = await api.client.post(f"/v1/groups/{club['id']}/join",
                                   json={"invite_code": club["invite_code"]},
                                   headers=api.auth(mate))  # fmt: skip
    assert joined.status_code == 200
    own = (await api.client.post("/v1/groups", json={"name": "Own"},
                                 headers=api.auth(mate))).json()  # fmt: skip

    async def groups_of(token: str) -> list[dict[str, object]]:
        response = await api.client.get("/v1/groups", headers=api.auth(token))
        assert response.status_code == 200, response.text
        body: list[dict[str, object]] = response.json()
        return body

    # The earliest joined first, each with what a member may share and how many joined.
    assert await groups_of(mate) == [
        {"id": club["id"], "name": "Club", "invite_code": club["invite_code"],
         "owner_id": owner_user["id"], "member_count": 2},
        {"id": own["id"], "name": "Own", "invite_code": own["invite_code"],
         "owner_id": mate_user["id"], "member_count": 1},
    ]  # fmt: skip
    assert [g["member_count"] for g in await groups_of(owner)] == [2]
    assert await groups_of(outsider) == []

    left = await api.client.delete(f"/v1/groups/{club['id']}/members/me", headers=api.auth(mate))
    assert left.status_code == 204
    assert [g["name"] for g in await groups_of(mate)] == ["Own"]
    assert [g["member_count"] for g in await groups_of(owner)] == [1]
    assert (await api.client.get("/v1/groups")).status_code == 401
