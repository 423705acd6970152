from __future__ import annotations

from fastapi import APIRouter

from fitboard.domain.achievements import (
    AnyRule,
    PersonalRecord,
    Placement,
    Streak,
    TimeOfDay,
    TotalThreshold,
    WorkoutThreshold,
)
from fitboard.entrypoints.api.deps import CurrentUserId, ServicesDep
from fitboard.entrypoints.api.errors import responses
from fitboard.entrypoints.api.schemas import AchievementOut, HeldAchievementOut

router = APIRouter(prefix="/v1", tags=["achievements"], responses=responses(401, 503))

_KINDS: dict[type[AnyRule], str] = {
    WorkoutThreshold: "workout",
    TotalThreshold: "total",
    Streak: "streak",
    PersonalRecord: "record",
    TimeOfDay: "time_of_day",
    Placement: "placement",
}


@router.get(
    "/achievements", summary="List achievements with my progress", operation_id="list_achievements"
)
async def catalog(user_id: CurrentUserId, services: ServicesDep) -> list[AchievementOut]:
    """Every achievement, with the caller's progress toward it."""
    entries = await services.achievements.catalog_for(user_id)
    return [
        AchievementOut(
            id=e.rule.id,
            name=e.rule.name,
            description=e.rule.description,
            kind=_KINDS[type(e.rule)],
            progress=1.0 if e.held else e.progress,
            held=e.held,
        )
        for e in entries
    ]


@router.get("/me/achievements", summary="List my achievements", operation_id="list_my_achievements")
async def mine(user_id: CurrentUserId, services: ServicesDep) -> list[HeldAchievementOut]:
    """What the caller has earned, newest first."""
    names = {rule.id: rule.name for rule in services.achievements.rules}
    held = await services.achievements.held_by(user_id)
    return [
        HeldAchievementOut(
            id=h.achievement_id,
            # An award outlives its rule if an operator removes it from the catalog.
            name=names.get(h.achievement_id, h.achievement_id),
            awarded_at=h.awarded_at,
            workout_id=h.workout_id,
            period_key=h.period_key,
            value=h.value,
        )
        for h in held
    ]
