"""Request and response bodies. Field names follow ../shared/API.md and are fixed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import CoreSchema

from fitboard.application.accounts.athletes import USERNAME
from fitboard.domain import plausibility
from fitboard.domain.activities import Activity, Sex
from fitboard.domain.boards import Metric, Period
from fitboard.domain.errors import InvalidField
from fitboard.domain.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from fitboard.domain.text import check_text
from fitboard.entrypoints.api import examples


def examples_of(*values: dict[str, Any]) -> ConfigDict:
    """A model's examples, for the OpenAPI document (each one valid against the model:
    tests/unit/test_openapi.py checks them)."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


class _Documented:
    """Puts a rule that the domain enforces (with its own message) into the JSON Schema,
    so the OpenAPI document states it without the rule being written twice."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        json_schema = dict(handler(schema))
        json_schema.update(self.keywords)
        return json_schema


# A JSON Schema (ECMA-262) pattern for text without a NUL character. Unpaired surrogates
# need none: JSON Schema strings are Unicode text, which has none.
NO_NUL_PATTERN = "^[^\\x00]*$"


def _storable(value: str, info: ValidationInfo) -> str:
    try:
        # Lengths are each field's own (max_length below); this is about the characters.
        check_text(info.field_name or "text", value, max_chars=len(value))
    except InvalidField as exc:
        raise ValueError(exc.message) from None
    return value


def _in_utc_range(value: datetime) -> datetime:
    # 0001-01-01T00:00+14:00 parses, but is no instant datetime can hold in UTC.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range: no such instant") from None
    return value


def _json_string(value: object) -> object:
    # Requests are validated as Python objects (json.loads, then pydantic), where a lax
    # datetime would also take a number of seconds; the schema promises an RFC 3339 string.
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string, e.g. 2026-11-22T07:30:00+01:00")
    return value


# Text that any store can hold (no NUL, no unpaired surrogate), refused with the reason.
Text = Annotated[str, AfterValidator(_storable), _Documented(pattern=NO_NUL_PATTERN)]
Username = Annotated[
    str,
    AfterValidator(_storable),
    _Documented(
        pattern=USERNAME.pattern,
        description="3-32 letters, digits, '_', '.' or '-', starting with a letter or digit; "
        "case-insensitive",
    ),
]
# Numbers and booleans are strict: `false` is not 0 and `1` is not true.
Number = Annotated[float, Strict()]
Integer = Annotated[int, Strict()]
Boolean = Annotated[bool, Strict()]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_json_string), AfterValidator(_in_utc_range)]
TimeZone = Annotated[
    Text, Field(max_length=64, description="An IANA time zone such as Europe/Berlin")
]

_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Documentation of what domain.boards.Scope.parse and domain.periods.period_range accept.
SCOPE_DESCRIPTION = "global, activity:<activity> or group:<group_id>"
# The scopes one can list, and a group's; as JSON Schema keywords for a string.
SCOPE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"enum": ["global", *(f"activity:{activity.value}" for activity in Activity)]},
        {"pattern": f"^group:{_UUID}$"},
    ],
    "description": SCOPE_DESCRIPTION,
}
PERIOD_KEY_PATTERN = r"^([0-9]{4}(-(0[1-9]|1[0-2])(-[0-3][0-9])?|-W[0-5][0-9])?|all)$"
PERIOD_KEY_DESCRIPTION = (
    "day 2026-11-22, week 2026-W47, month 2026-11, year 2026, or all; default: the current one"
)
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
ScopeText = Annotated[
    str,
    AfterValidator(_storable),
    _Documented(**SCOPE_SCHEMA),
]


class StrictBody(BaseModel):
    """Unknown fields are refused, and so are NaN and infinities."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RegisterIn(StrictBody):
    model_config = examples_of(examples.REGISTER)

    username: Username
    password: Annotated[
        Text,
        _Documented(minLength=MIN_PASSWORD_LENGTH, maxLength=MAX_PASSWORD_LENGTH),
    ] = Field(
        description=f"{MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters, not one of the "
        "30,000 commonest passwords, not easy to guess by zxcvbn's estimate (score 2 or more), "
        "not containing the username",
    )
    display_name: Text | None = Field(default=None, min_length=1, max_length=64)
    weight_kg: Number | None = Field(default=None, gt=20, lt=400)
    birth_year: Integer | None = Field(default=None, ge=1900, le=2100)
    sex: Sex | None = None
    timezone: TimeZone | None = None


class UserOut(BaseModel):
    model_config = examples_of(examples.USER)

    id: UUID
    username: str
    display_name: str
    weight_kg: float | None
    birth_year: int | None
    sex: Sex | None
    timezone: str
    show_on_leaderboards: bool
    is_admin: bool
    created_at: datetime


class TokenOut(BaseModel):
    model_config = examples_of(examples.TOKEN_OUT)

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class RegisteredOut(TokenOut):
    model_config = examples_of(examples.REGISTERED)

    user: UserOut


class PasswordChangeIn(StrictBody):
    model_config = examples_of(examples.PASSWORD_CHANGE)

    current_password: Text = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: Annotated[
        Text,
        _Documented(minLength=MIN_PASSWORD_LENGTH, maxLength=MAX_PASSWORD_LENGTH),
    ] = Field(description="The same rules as a password at registration")


class ProfilePatch(StrictBody):
    model_config = examples_of(examples.PROFILE_PATCH)

    display_name: Text | None = Field(default=None, min_length=1, max_length=64)
    weight_kg: Number | None = Field(default=None, gt=20, lt=400)
    birth_year: Integer | None = Field(default=None, ge=1900, le=2100)
    sex: Sex | None = None
    timezone: TimeZone | None = None
    show_on_leaderboards: Boolean | None = None


# The physical limits are the domain's (plausibility.check_possible enforces them, for the
# API and the worker alike); the schema only states them.
class WorkoutIn(StrictBody):
    model_config = examples_of(examples.WORKOUT_IN)

    id: UUID | None = Field(
        default=None, description="Client-chosen id; sending the same id again counts once."
    )
    activity: Activity
    started_at: Timestamp = Field(
        description=f"With an offset; after {plausibility.EARLIEST_START.date().isoformat()}, "
        "and not in the future"
    )
    duration_s: Annotated[Integer, _Documented(minimum=1, maximum=plausibility.MAX_DURATION_S)] = (
        Field(description="Seconds; the workout must have ended by now.")
    )
    distance_m: Annotated[Number, _Documented(minimum=0)] | None = Field(
        default=None, description="Metres; an impossible average speed is refused."
    )
    elevation_gain_m: (
        Annotated[Number, _Documented(minimum=0, maximum=plausibility.MAX_ELEVATION_GAIN_M)] | None
    ) = None
    avg_heart_rate: (
        Annotated[
            Integer,
            _Documented(minimum=plausibility.MIN_HEART_RATE, maximum=plausibility.MAX_HEART_RATE),
        ]
        | None
    ) = None
    calories: (
        Annotated[Number, _Documented(minimum=0, maximum=plausibility.MAX_DEVICE_CALORIES)] | None
    ) = Field(default=None, description="Device-reported kcal: kept, but not used for ranking.")
    indoor: Annotated[bool, Strict()] | None = Field(
        default=None,
        description="On a treadmill, a trainer or a rowing ergometer; chooses the calorie "
        "rows (docs/domain.md). Unsaid: a row is taken as an ergometer, the rest as outdoors.",
    )
    notes: Text | None = Field(default=None, max_length=2000)


class WorkoutAccepted(BaseModel):
    model_config = examples_of(examples.WORKOUT_ACCEPTED)

    id: UUID
    status: Literal["queued"] = "queued"


class RecordingOut(BaseModel):
    """The file an imported workout came from and what its device measured (kept and
    shown, never ranked: `calories` is fitboard's own estimate)."""

    file_name: str
    file_identity: str
    device_distance_m: float | None
    moving_time_s: int | None
    # Pauses included; null for files imported before it was kept (docs/import.md).
    elapsed_time_s: int | None
    max_heart_rate: int | None
    avg_power_w: float | None
    avg_cadence: float | None


class DecisionOut(BaseModel):
    """An admin's latest decision on the workout (docs/moderation.md)."""

    model_config = examples_of(examples.DECISION)

    decision: Literal["approve", "reject"]
    reason: str | None
    decided_at: datetime


class WorkoutOut(BaseModel):
    model_config = examples_of(examples.WORKOUT_OUT)

    id: UUID
    status: Literal["processed", "flagged", "rejected"]
    activity: Activity
    started_at: datetime
    duration_s: int
    distance_m: float | None
    elevation_gain_m: float | None
    avg_heart_rate: int | None
    calories: float
    calories_method: str
    met: float
    body_mass_kg: float
    points: int
    device_calories: float | None
    notes: str | None
    flag_reason: str | None
    processed_at: datetime
    achievements: list[str] = Field(default_factory=list)
    source: Literal["manual", "gpx", "tcx", "fit"] = Field(
        default="manual",
        description='"manual" when typed in; "gpx", "tcx" or "fit" when imported',
    )
    recording: RecordingOut | None = None
    decision: DecisionOut | None = Field(
        default=None,
        description="The latest admin decision on a flagged or rejected workout, with why.",
    )


class WorkoutPatch(StrictBody):
    """A correction: only the fields sent change (null clears an optional one). The
    corrected workout must meet the same rules as a new one (`WorkoutIn`)."""

    model_config = examples_of(examples.WORKOUT_PATCH)

    activity: Activity | None = None
    duration_s: (
        Annotated[Integer, _Documented(minimum=1, maximum=plausibility.MAX_DURATION_S)] | None
    ) = None
    distance_m: Annotated[Number, _Documented(minimum=0)] | None = None
    avg_heart_rate: (
        Annotated[
            Integer,
            _Documented(minimum=plausibility.MIN_HEART_RATE, maximum=plausibility.MAX_HEART_RATE),
        ]
        | None
    ) = None
    indoor: Annotated[bool, Strict()] | None = None
    notes: Text | None = Field(default=None, max_length=2000)


class WorkoutPage(BaseModel):
    model_config = examples_of({"items": [examples.WORKOUT_OUT], "next_cursor": None})

    items: list[WorkoutOut]
    next_cursor: str | None


# A batch item is read as any JSON value and checked against WorkoutIn one by one, so one
# bad item is that item's error (status "invalid", the field named) and never a 422 for
# the whole batch; the schema still says what an item must be.
BatchItem = Annotated[Any, WithJsonSchema({"$ref": "#/components/schemas/WorkoutIn"})]


class BatchIn(StrictBody):
    model_config = examples_of(examples.BATCH_IN)

    workouts: list[BatchItem] = Field(min_length=1, max_length=100)


class BatchItemResult(BaseModel):
    index: int
    id: UUID | None = None
    # conflict: the item's id belongs to another athlete.
    status: Literal["queued", "invalid", "conflict", "unavailable"]
    error: str | None = None


class BatchOut(BaseModel):
    model_config = examples_of(examples.BATCH_OUT)

    results: list[BatchItemResult]


class ImportItemOut(BaseModel):
    file: str
    id: UUID | None = None
    status: Literal["queued", "duplicate", "invalid"]
    error: str | None = None


class ImportAccepted(WorkoutAccepted):
    """`id` is the (first) workout queued; `results` has one entry per workout in the file
    (a multi-sport file has one per leg)."""

    model_config = examples_of(examples.IMPORT_ACCEPTED)

    results: list[ImportItemOut]


class ImportDuplicate(BaseModel):
    model_config = examples_of(examples.IMPORT_DUPLICATE)

    detail: str
    id: UUID


class ArchiveImportOut(BaseModel):
    model_config = examples_of(examples.ARCHIVE_IMPORT)

    results: list[ImportItemOut]


class ImportRefused(BaseModel):
    """A file that cannot be read (`detail` says why), or a form the schema refuses
    (`detail` lists the fields, as every other 422)."""

    model_config = examples_of(examples.IMPORT_REFUSED)

    detail: str | list[dict[str, Any]]


class EntryOut(BaseModel):
    rank: int
    user_id: UUID
    display_name: str
    score: int


class BoardOut(BaseModel):
    model_config = examples_of(examples.BOARD)

    metric: Metric
    period: Period
    period_key: str
    scope: str
    starts_at: datetime | None
    ends_at: datetime | None
    total: int
    entries: list[EntryOut]
    next_cursor: str | None


class MyStandingOut(BaseModel):
    model_config = examples_of(examples.MY_STANDING)

    rank: int | None
    score: int | None
    total: int
    neighbors: list[EntryOut]


class ErrorOut(BaseModel):
    """Every refusal but a validation error (422): what went wrong, for a person to act on."""

    detail: str


class FieldErrorOut(BaseModel):
    """One refused field: where it is, and what is wrong with it (the input itself is
    never echoed)."""

    loc: list[str | int] = Field(
        description='Where: "path", "query" or "body" first, then the field (and, inside a '
        'body, the path to it: ["body", "workouts", 0]).',
        min_length=1,
    )
    msg: str
    type: str = Field(description="A machine-readable kind, such as missing or value_error.")


class ValidationErrorOut(BaseModel):
    """A request the schema or the domain's rules refuse (422), every refused field named."""

    model_config = examples_of(
        {
            "detail": [
                {
                    "loc": ["body", "duration_s"],
                    "msg": "the workout would end in the future",
                    "type": "value_error",
                },
            ]
        },
        {
            "detail": [
                {
                    "loc": ["query", "scope"],
                    "msg": "'team:1' is not a scope; use global, "
                    "activity:<activity> or group:<group_id>",
                    "type": "value_error",
                },
            ]
        },
    )

    detail: list[FieldErrorOut]


class ReadyOut(BaseModel):
    model_config = examples_of(examples.READY, examples.NOT_READY)

    status: Literal["ready", "not ready"]
    checks: dict[str, str]


class AchievementOut(BaseModel):
    model_config = examples_of(examples.ACHIEVEMENT)

    id: str
    name: str
    description: str
    kind: Literal["workout", "total", "streak", "record", "time_of_day", "placement"]
    progress: float | None = None
    held: bool


class AccountDeletedOut(BaseModel):
    model_config = examples_of(examples.ACCOUNT_DELETED)

    id: UUID
    status: Literal["deleted"] = "deleted"


class ExportedGroup(BaseModel):
    id: UUID
    name: str
    owner: bool
    joined_at: datetime


class ExportedAward(BaseModel):
    achievement_id: str
    period_key: str
    awarded_at: datetime
    workout_id: UUID | None
    value: float | None


class ExportedReport(BaseModel):
    month: str
    report: dict[str, Any] = Field(description="As GET /v1/me/reports/{month} shows it")
    final_rank: int | None


class AccountExportOut(BaseModel):
    """Everything fitboard keeps of the athlete (docs/accounts.md). Workouts come last,
    newest first, and are streamed."""

    model_config = examples_of(examples.ACCOUNT_EXPORT)

    format: Literal["fitboard-export/1"] = "fitboard-export/1"
    exported_at: datetime
    profile: UserOut
    groups: list[ExportedGroup]
    awards: list[ExportedAward]
    reports: list[ExportedReport]
    workouts: list[WorkoutOut]


class HeldAchievementOut(BaseModel):
    model_config = examples_of(examples.HELD_ACHIEVEMENT)

    id: str
    name: str
    awarded_at: datetime
    workout_id: UUID | None = None
    period_key: str | None = None
    value: float | None = None


class ChallengeIn(StrictBody):
    model_config = examples_of(examples.CHALLENGE_IN)

    name: Text = Field(min_length=1, max_length=80)
    metric: Metric
    starts_at: Timestamp
    ends_at: Timestamp
    scope: ScopeText = "global"
    goal: Integer | None = Field(default=None, gt=0)


class ChallengeOut(BaseModel):
    model_config = examples_of(examples.CHALLENGE)

    id: UUID
    name: str
    metric: Metric
    scope: Annotated[str, WithJsonSchema({"type": "string", **SCOPE_SCHEMA})]
    starts_at: datetime
    ends_at: datetime
    goal: int | None
    created_by: UUID


class ChallengeBoardOut(BaseModel):
    model_config = examples_of(examples.CHALLENGE_BOARD)

    challenge: ChallengeOut
    metric: Metric
    period: Literal["challenge"] = "challenge"
    period_key: str
    scope: str
    starts_at: datetime
    ends_at: datetime
    total: int
    entries: list[EntryOut]
    next_cursor: str | None


class GroupIn(StrictBody):
    model_config = examples_of(examples.GROUP_IN)

    name: Text = Field(min_length=1, max_length=80)


class JoinIn(StrictBody):
    model_config = examples_of(examples.JOIN_IN)

    # Codes are made by secrets.token_urlsafe (groups.create_group): nothing else can match.
    invite_code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class GroupOut(BaseModel):
    model_config = examples_of(examples.GROUP)

    id: UUID
    name: str
    invite_code: str


class MyGroupOut(GroupOut):
    """One of the caller's groups (`GET /v1/groups`)."""

    model_config = examples_of(examples.MY_GROUP)

    owner_id: UUID
    member_count: int
