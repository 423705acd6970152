"""The activities an athlete can log."""

from enum import StrEnum


class Activity(StrEnum):
    RUN = "run"
    WALK = "walk"
    HIKE = "hike"
    CYCLE = "cycle"
    SWIM = "swim"
    ROW = "row"
    STRENGTH = "strength"
    YOGA = "yoga"
    HIIT = "hiit"
    OTHER = "other"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
