"""Examples for the OpenAPI document (/docs, /openapi.json): one athlete, Ada, and her
5 km run, with the figures the domain computes for them (a 61.5 kg woman born in 1990,
heart rate 152: Keytel's estimate, 304.5 kcal, MET 10.01, 50 points).

tests/unit/test_openapi.py validates each one against the schema it illustrates."""

from __future__ import annotations

from typing import Any

ATHLETE_ID = "5f0c6a8e-2b1d-4c3e-9f7a-1d2e3f4a5b6c"
OTHER_ATHLETE_ID = "8a41c2d7-93e5-4b0f-8c16-2e7d9f3b5a14"
ADMIN_ID = "c3d9e1f2-4a5b-4c6d-8e7f-90a1b2c3d4e5"
WORKOUT_ID = "0b6f2c1e-8d4a-4f3b-a2c9-7e5d1f3a9b80"
DECISION_ID = "e2a7b9c4-5d6f-4a8b-9c0d-1e2f3a4b5c6d"
GROUP_ID = "7d3e5f1a-2b4c-4d6e-8f0a-1b3c5d7e9f20"
CHALLENGE_ID = "4b8c2d6e-1f3a-4b5c-9d7e-0f2a4c6e8b1d"
TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1ZjBjNmE4ZS0yYjFkLTRjM2UtOWY3YS0xZDJl"
    "M2Y0YTViNmMiLCJnZW4iOjEsImV4cCI6MTc5NTY4MDAwMH0.q8w1Jm2v0h4cP7yX3nB5tR9sK6dF1gZ0aL4eU2iO8jM"
)
INVITE_CODE = "Xk3v9QpL2mRt"

REGISTER = {
    "username": "ada",
    "password": "correct horse battery",
    "display_name": "Ada",
    "weight_kg": 61.5,
    "birth_year": 1990,
    "sex": "female",
    "timezone": "Europe/Berlin",
}
TOKEN_FORM = {"username": "ada", "password": "correct horse battery"}
USER = {
    "id": ATHLETE_ID,
    "username": "ada",
    "display_name": "Ada",
    "weight_kg": 61.5,
    "birth_year": 1990,
    "sex": "female",
    "timezone": "Europe/Berlin",
    "show_on_leaderboards": True,
    "is_admin": False,
    "created_at": "2026-11-01T09:12:00Z",
}
TOKEN_OUT = {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600}
REGISTERED = {**TOKEN_OUT, "user": USER}
PASSWORD_CHANGE = {
    "current_password": "correct horse battery",
    "new_password": "purple tractor sings loudly",
}
PROFILE_PATCH = {"weight_kg": 60.8, "show_on_leaderboards": False}

WORKOUT_IN = {
    "id": WORKOUT_ID,
    "activity": "run",
    "started_at": "2026-11-22T07:30:00+01:00",
    "duration_s": 1800,
    "distance_m": 5000,
    "avg_heart_rate": 152,
    "notes": "Easy loop in the park",
}
WORKOUT_ACCEPTED = {"id": WORKOUT_ID, "status": "queued"}
WORKOUT_OUT: dict[str, Any] = {
    "id": WORKOUT_ID,
    "status": "processed",
    "activity": "run",
    "started_at": "2026-11-22T06:30:00Z",
    "duration_s": 1800,
    "distance_m": 5000.0,
    "elevation_gain_m": None,
    "avg_heart_rate": 152,
    "calories": 304.5,
    "calories_method": "keytel_2005",
    "met": 10.01,
    "body_mass_kg": 61.5,
    "points": 50,
    "device_calories": None,
    "notes": "Easy loop in the park",
    "flag_reason": None,
    "processed_at": "2026-11-22T08:01:02Z",
    "achievements": ["first-workout", "run-5k"],
    "source": "manual",
    "recording": None,
    "decision": None,
}
WORKOUT_PATCH = {"distance_m": 5200, "notes": "The loop was longer than I thought"}
BATCH_IN = {
    "workouts": [
        WORKOUT_IN,
        {"activity": "swim", "started_at": "2099-11-23T18:00:00+01:00", "duration_s": 2400},
    ]
}
BATCH_OUT = {
    "results": [
        {"index": 0, "id": WORKOUT_ID, "status": "queued", "error": None},
        {
            "index": 1,
            "id": None,
            "status": "invalid",
            "error": "started_at: is in the future; check the device's clock",
        },
    ]
}
IMPORT_FORM = {"file": "morning-run.gpx", "activity": "run"}
IMPORT_ITEM = {"file": "morning-run.gpx", "id": WORKOUT_ID, "status": "queued", "error": None}
IMPORT_ACCEPTED = {**WORKOUT_ACCEPTED, "results": [IMPORT_ITEM]}
ARCHIVE_IMPORT = {
    "results": [
        IMPORT_ITEM,
        {
            "file": "old/ride.fit",
            "id": None,
            "status": "invalid",
            "error": "the file holds no activity",
        },
    ]
}
IMPORT_DUPLICATE = {
    "detail": f"this is the same activity as workout {WORKOUT_ID}, which you already have; "
    "nothing was imported",
    "id": WORKOUT_ID,
}
IMPORT_REFUSED = {"detail": "morning-run.gpx is not a GPX file: no <trk> element"}

ENTRIES = [
    {"rank": 1, "user_id": OTHER_ATHLETE_ID, "display_name": "Grace", "score": 120},
    {"rank": 2, "user_id": ATHLETE_ID, "display_name": "Ada", "score": 50},
]
BOARD = {
    "metric": "points",
    "period": "week",
    "period_key": "2026-W47",
    "scope": "global",
    "starts_at": "2026-11-16T00:00:00Z",
    "ends_at": "2026-11-23T00:00:00Z",
    "total": 2,
    "entries": ENTRIES,
    "next_cursor": None,
}
MY_STANDING = {"rank": 2, "score": 50, "total": 2, "neighbors": ENTRIES}

ACHIEVEMENT = {
    "id": "run-5k",
    "name": "5K",
    "description": "Run 5 km in one workout.",
    "kind": "workout",
    "progress": 1.0,
    "held": True,
}
HELD_ACHIEVEMENT = {
    "id": "run-5k",
    "name": "5K",
    "awarded_at": "2026-11-22T08:01:02Z",
    "workout_id": WORKOUT_ID,
    "period_key": "all",
    "value": 5000.0,
}
# A month of one run: its totals are the run's too.
MONTH_TOTALS = {
    "workouts": 1,
    "active_days": 1,
    "distance_m": 5000.0,
    "duration_s": 1800,
    "calories": 304.5,
    "points": 50,
}
REPORT = {
    "month": "2026-11",
    **MONTH_TOTALS,
    "by_activity": {"run": MONTH_TOTALS},
    "best_workout": {
        "id": WORKOUT_ID,
        "activity": "run",
        "started_at": "2026-11-22T07:30:00+01:00",
        "distance_m": 5000.0,
        "duration_s": 1800,
        "calories": 304.5,
        "points": 50,
    },
    "closed": True,
    "final_rank": 2,
    "updated_at": "2026-11-22T08:01:03+00:00",
}
ACCOUNT_DELETED = {"id": ATHLETE_ID, "status": "deleted"}
ACCOUNT_EXPORT = {
    "format": "fitboard-export/1",
    "exported_at": "2026-12-01T10:00:00Z",
    "profile": USER,
    "groups": [
        {
            "id": GROUP_ID,
            "name": "Tuesday runners",
            "owner": True,
            "joined_at": "2026-11-02T18:00:00Z",
        }
    ],
    "awards": [
        {
            "achievement_id": "run-5k",
            "period_key": "all",
            "awarded_at": "2026-11-22T08:01:02Z",
            "workout_id": WORKOUT_ID,
            "value": 5000.0,
        }
    ],
    "reports": [{"month": "2026-11", "report": REPORT, "final_rank": 2}],
    "workouts": [WORKOUT_OUT],
}

CHALLENGE_IN = {
    "name": "December distance",
    "metric": "distance",
    "starts_at": "2026-12-01T00:00:00+01:00",
    "ends_at": "2027-01-01T00:00:00+01:00",
    "scope": f"group:{GROUP_ID}",
    "goal": 100000,
}
CHALLENGE = {
    "id": CHALLENGE_ID,
    "name": "December distance",
    "metric": "distance",
    "scope": f"group:{GROUP_ID}",
    "starts_at": "2026-11-30T23:00:00Z",
    "ends_at": "2026-12-31T23:00:00Z",
    "goal": 100000,
    "created_by": ATHLETE_ID,
}
CHALLENGE_BOARD = {
    "challenge": CHALLENGE,
    "metric": "distance",
    "period": "challenge",
    "period_key": CHALLENGE_ID,
    "scope": f"group:{GROUP_ID}",
    "starts_at": "2026-11-30T23:00:00Z",
    "ends_at": "2026-12-31T23:00:00Z",
    "total": 2,
    "entries": [
        {"rank": 1, "user_id": OTHER_ATHLETE_ID, "display_name": "Grace", "score": 42000},
        {"rank": 2, "user_id": ATHLETE_ID, "display_name": "Ada", "score": 5000},
    ],
    "next_cursor": None,
}
GROUP_IN = {"name": "Tuesday runners"}
JOIN_IN = {"invite_code": INVITE_CODE}
GROUP = {"id": GROUP_ID, "name": "Tuesday runners", "invite_code": INVITE_CODE}
MY_GROUP = {**GROUP, "owner_id": ATHLETE_ID, "member_count": 2}

REBUILD = {"boards": 42, "entries": 1870}
DEAD_LETTERS = {
    "items": [
        {
            "message_id": WORKOUT_ID,
            "routing_key": "workout.submitted",
            "reason": "no athlete with id 8a41c2d7-93e5-4b0f-8c16-2e7d9f3b5a14",
            "attempts": 5,
            "failed_at": "2026-11-22T08:03:00Z",
        }
    ]
}
REPLAY_IN = {"ids": [WORKOUT_ID]}
REPLAY = {"replayed": 1}
DECISION_IN = {"reason": "Checked the GPS track with the athlete: a real run"}
DECISION_QUEUED = {"id": WORKOUT_ID, "status": "queued", "decision_id": DECISION_ID}
DECISION = {
    "decision": "approve",
    "reason": "Checked the GPS track with the athlete: a real run",
    "decided_at": "2026-11-23T09:00:00Z",
}
REVIEWED_DECISION = {**DECISION, "decided_by": ADMIN_ID}
FLAGGED_WORKOUT = {
    **WORKOUT_OUT,
    "status": "flagged",
    "distance_m": 12000.0,
    "flag_reason": "average speed 24.0 km/h over 12.00 km is faster than the world record "
    "(21.1 km/h)",
    "achievements": [],
    "user_id": OTHER_ATHLETE_ID,
    "decision": None,
}
REVIEW_PAGE = {"items": [FLAGGED_WORKOUT], "next_cursor": None}

READY = {"status": "ready", "checks": {"store": "ok", "ranking": "ok", "queue": "ok"}}
NOT_READY = {
    "status": "not ready",
    "checks": {"store": "ok", "ranking": "unavailable", "queue": "ok"},
}
HEALTHY = {"status": "ok"}
METRICS_TEXT = (
    "# HELP fitboard_http_requests_total HTTP requests answered, by method, route template "
    "and status.\n"
    "# TYPE fitboard_http_requests_total counter\n"
    'fitboard_http_requests_total{method="POST",route="/v1/workouts",status="202"} 1042.0\n'
)
