"""The achievement catalog: read from a YAML file and validated at start, with errors that
name the rule and the field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fitboard.domain.achievements import (
    MORNING_STARTS_AT_HOUR,
    AnyRule,
    Measure,
    PersonalRecord,
    Placement,
    Streak,
    TimeOfDay,
    TotalThreshold,
    WorkoutThreshold,
)
from fitboard.domain.activities import Activity
from fitboard.domain.boards import Metric, Period

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


class CatalogError(ValueError):
    """The rule file cannot be used; the message says which rule and field."""


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RuleId
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=300)
    activities: list[Activity] | None = Field(default=None, min_length=1)

    def _activities(self) -> frozenset[Activity] | None:
        return frozenset(self.activities) if self.activities else None


class _Workout(_Common):
    kind: Literal["workout"]
    measure: Literal["distance_m", "duration_s", "calories", "points"]
    at_least: float = Field(gt=0)

    def rule(self) -> AnyRule:
        return WorkoutThreshold(
            self.id, self.name, self.description, self._activities(),
            Measure(self.measure), self.at_least,
        )  # fmt: skip


class _Total(_Common):
    kind: Literal["total"]
    measure: Literal["distance_m", "duration_s", "calories", "points", "workouts"]
    at_least: float = Field(gt=0)

    def rule(self) -> AnyRule:
        return TotalThreshold(
            self.id, self.name, self.description, self._activities(),
            Measure(self.measure), self.at_least,
        )  # fmt: skip


class _Streak(_Common):
    kind: Literal["streak"]
    days: int = Field(ge=2, le=3660)

    def rule(self) -> AnyRule:
        return Streak(self.id, self.name, self.description, self._activities(), self.days)


class _Record(_Common):
    kind: Literal["record"]
    measure: Literal["distance_m", "duration_s", "calories", "points", "pace_s_per_km"]
    min_distance_m: float = Field(default=0.0, ge=0)

    def rule(self) -> AnyRule:
        return PersonalRecord(
            self.id, self.name, self.description, self._activities(),
            Measure(self.measure), self.min_distance_m,
        )  # fmt: skip


class _TimeOfDay(_Common):
    kind: Literal["time_of_day"]
    before_hour: int = Field(ge=1, le=23)
    # The local hour the morning starts at (docs/domain.md, "Achievements").
    from_hour: int = Field(default=MORNING_STARTS_AT_HOUR, ge=0, le=22)

    @model_validator(mode="after")
    def _morning_before_the_end(self) -> Self:
        if self.from_hour >= self.before_hour:
            raise ValueError("from_hour must be earlier than before_hour")
        return self

    def rule(self) -> AnyRule:
        return TimeOfDay(
            self.id,
            self.name,
            self.description,
            self._activities(),
            self.before_hour,
            self.from_hour,
        )


class _Placement(_Common):
    kind: Literal["placement"]
    metric: Metric
    period: Literal["day", "week", "month", "year"]
    top: int = Field(ge=1, le=1000)

    def rule(self) -> AnyRule:
        return Placement(
            self.id, self.name, self.description, None,
            self.metric, Period(self.period), self.top,
        )  # fmt: skip


_RuleModel = Annotated[
    _Workout | _Total | _Streak | _Record | _TimeOfDay | _Placement, Field(discriminator="kind")
]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    achievements: list[_RuleModel] = Field(min_length=1)


def default_catalog_text() -> str:
    return resources.files("fitboard.data").joinpath("achievements.yaml").read_text()


def parse_catalog(text: str, source: str = "achievements") -> list[AnyRule]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: not valid YAML: {exc}") from None
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(_describe(source, data, exc)) from None
    rules = [model.rule() for model in parsed.achievements]
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise CatalogError(f"{source}: achievement {rule.id!r} is declared twice")
        seen.add(rule.id)
    return rules


def load_catalog(path: Path | None) -> list[AnyRule]:
    """The rules from `path`, or the shipped defaults."""
    if path is None:
        return parse_catalog(default_catalog_text(), "default achievements")
    try:
        text = path.read_text()
    except OSError as exc:
        raise CatalogError(f"cannot read achievements file {path}: {exc.strerror}") from None
    return parse_catalog(text, str(path))


def _describe(source: str, data: object, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ".".join(str(part) for part in loc)
        if len(loc) >= 2 and loc[0] == "achievements" and isinstance(loc[1], int):
            index = loc[1]
            rule_id = _rule_id(data, index)
            # loc is achievements.<i>.<kind>.<field>: keep the field only.
            field = ".".join(str(part) for part in loc[3:]) or str(loc[2] if len(loc) > 2 else "")
            where = f"achievement {rule_id!r} (#{index + 1}), field {field!r}"
        lines.append(f"{source}: {where}: {error['msg']}")
    return "\n".join(lines)


def _rule_id(data: object, index: int) -> str:
    try:
        entry = data["achievements"][index]  # type: ignore[index]
        return str(entry.get("id", "?"))
    except (TypeError, KeyError, IndexError, AttributeError):
        return "?"
