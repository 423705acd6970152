"""Importing workouts from activity files: read them (off the event loop), recognise what
the athlete already has, and hand the rest to the queue exactly like a typed-in workout.

Each workout's id is derived from the athlete and the activity's identity in its file, so
the same file uploaded twice, or retried after a 503, names the same workout: the worker
stores an id once whatever happens. The same activity from another file (a GPX and a FIT
export of one run, or a run typed in and then uploaded) is found by sport and
overlapping time; one that slips past this check (two uploads at once) is stored by the
worker as rejected, never counted twice (application/workouts/duplicates.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from fitboard.application.imports.ports import ActivityFiles, ImportLimits, ParsedActivity
from fitboard.application.ports import Store
from fitboard.application.workouts.duplicates import duplicate_of
from fitboard.application.workouts.ingest import Ingest, SubmitWorkout
from fitboard.application.workouts.ports import InFlightWorkouts, WorkoutsUnit
from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField
from fitboard.domain.recordings import Recording, same_activity
from fitboard.domain.workouts import WorkoutSubmission

# Imported workouts' ids: uuid5(IMPORT_NAMESPACE, "<athlete id>/<file identity>").
IMPORT_NAMESPACE = uuid.UUID("5f0c8d1e-3a8b-4c61-9d0e-7a52f1c0b9e4")


class ImportStatus(StrEnum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"
    INVALID = "invalid"


@dataclass(frozen=True)
class ImportFile:
    user_id: uuid.UUID
    file_name: str
    data: bytes
    # The sport of every workout in the upload, when the athlete says it; else each
    # file's own (FIT sport, TCX Sport, GPX type).
    activity: Activity | None = None


@dataclass(frozen=True)
class ImportedWorkout:
    """One workout of the upload (a file, or one leg of a multi-sport file)."""

    file: str
    status: ImportStatus
    id: uuid.UUID | None = None
    error: str | None = None


@dataclass(frozen=True)
class ImportOutcome:
    is_archive: bool
    workouts: list[ImportedWorkout]


# Sports whose workout is the moving: an imported one of these lasts its moving time.
MOVING_SPORTS = frozenset(
    {Activity.RUN, Activity.WALK, Activity.HIKE, Activity.CYCLE, Activity.SWIM, Activity.ROW}
)


def workout_id_for(user_id: uuid.UUID, file_identity: str) -> uuid.UUID:
    return uuid.uuid5(IMPORT_NAMESPACE, f"{user_id}/{file_identity}")


def active_time(parsed: ParsedActivity, activity: Activity) -> tuple[int, int | None]:
    """The workout's duration and average heart rate: over the moving time for a sport
    that is moving, else over the whole recording (docs/import.md, "Moving time").

    Everything fitboard derives from a workout's duration is per active time: the
    Compendium's METs (kcal = MET x mass x hours of the activity), the speed that picks the
    MET row, Keytel's kcal per minute of exercise at the heart rate, points, the duration
    boards, and the plausibility of a pace. A three-hour ride with an hour at a cafe earns
    two hours of riding. A yoga or strength session moves little and lasts its whole time,
    as does a recording without a moving time, or one with none (GPS that never moved)."""
    moving = parsed.moving_time_s
    if activity not in MOVING_SPORTS or not moving:
        return parsed.duration_s, parsed.avg_heart_rate
    return moving, parsed.moving_avg_heart_rate


def _command(
    parsed: ParsedActivity, file_name: str, user_id: uuid.UUID, activity: Activity
) -> SubmitWorkout:
    duration_s, avg_heart_rate = active_time(parsed, activity)
    return SubmitWorkout(
        id=workout_id_for(user_id, parsed.file_identity),
        user_id=user_id,
        activity=activity,
        started_at=parsed.started_at,
        duration_s=duration_s,
        distance_m=parsed.distance_m,
        elevation_gain_m=parsed.elevation_gain_m,
        avg_heart_rate=avg_heart_rate,
        calories=parsed.device_calories,
        source=parsed.file_format.value,
        recording=Recording(
            file_format=parsed.file_format,
            file_name=file_name,
            file_identity=parsed.file_identity,
            device_distance_m=parsed.device_distance_m,
            moving_time_s=parsed.moving_time_s,
            elapsed_time_s=parsed.duration_s,
            max_heart_rate=parsed.max_heart_rate,
            avg_power_w=parsed.avg_power_w,
            avg_cadence=parsed.avg_cadence,
        ),
    )


def _known_activities() -> str:
    return ", ".join(a.value for a in Activity)


class Imports:
    """Importing activity files: each new workout in them goes to the queue through the
    same ingest path as a typed-in one."""

    def __init__(
        self,
        ingest: Ingest,
        files: ActivityFiles,
        limits: ImportLimits,
        inflight: InFlightWorkouts,
        store: Store[WorkoutsUnit],
    ) -> None:
        self._ingest = ingest
        self._files = files
        self._limits = limits
        self._inflight = inflight
        self._store = store

    async def import_file(self, command: ImportFile) -> ImportOutcome:
        """Read the upload and queue each new workout in it. Raises UnreadableFile for a file
        (or archive) that cannot be read at all, and QueueUnavailable (nothing more queued)
        when the queue cannot store a workout; retrying the same upload is safe."""
        upload = await self._files.read(command.file_name, command.data, self._limits)
        outcomes: list[ImportedWorkout] = []
        accepted: list[WorkoutSubmission] = []
        for read in upload.files:
            if read.error is not None:
                outcomes.append(ImportedWorkout(read.name, ImportStatus.INVALID, error=read.error))
                continue
            for parsed in read.activities:
                activity = command.activity or parsed.activity
                if activity is None:
                    outcomes.append(
                        ImportedWorkout(
                            read.name,
                            ImportStatus.INVALID,
                            error="activity: the file does not say which sport it records; send "
                            f"the `activity` field with the upload (one of {_known_activities()})",
                        )
                    )
                    continue
                workout = _command(parsed, read.name, command.user_id, activity)
                try:
                    submission = self._ingest.validate(workout)
                except InvalidField as exc:
                    outcomes.append(
                        ImportedWorkout(read.name, ImportStatus.INVALID, error=str(exc))
                    )
                    continue
                existing = await self._existing(submission, accepted)
                if existing is not None:
                    outcomes.append(ImportedWorkout(read.name, ImportStatus.DUPLICATE, id=existing))
                    continue
                workout_id = await self._ingest.submit_workout(workout)
                accepted.append(submission)
                outcomes.append(ImportedWorkout(read.name, ImportStatus.QUEUED, id=workout_id))
        return ImportOutcome(upload.is_archive, outcomes)

    async def _existing(
        self, submission: WorkoutSubmission, accepted: Sequence[WorkoutSubmission]
    ) -> uuid.UUID | None:
        """The id of the workout this one repeats, if any: earlier in this upload, the same
        id in the record or in flight, or the same activity in the record."""
        for earlier in accepted:
            if earlier.id == submission.id or same_activity(
                submission.activity,
                submission.started_at,
                submission.duration_s,
                earlier.activity,
                earlier.started_at,
                earlier.duration_s,
            ):
                return earlier.id
        if await self._inflight.owner(submission.id) == submission.user_id:
            return submission.id
        async with self._store.unit_of_work(read_only=True) as uow:
            if await uow.workouts.get(submission.id) is not None:
                # The id embeds the athlete: a stored workout with it is theirs.
                return submission.id
            found = await duplicate_of(uow, submission)
        return None if found is None else found.id
