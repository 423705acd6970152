"""The port through which the import use case reads activity files, and what it answers.

Everything here crosses a process boundary (the readers run in processes of their own),
so it is plain, picklable data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fitboard.application.ports import DependencyUnavailable
from fitboard.domain.activities import Activity
from fitboard.domain.errors import DomainError
from fitboard.domain.recordings import FileFormat


class UnreadableFile(DomainError):
    """A file (or archive) that cannot be read as an activity; the message says why and
    what to do, for the athlete who uploaded it."""


class ReadersBusy(DependencyUnavailable):
    """The server cannot read the upload now (every reader busy and the line of uploads
    waiting for one full, a reader too starved of processor time to finish, or a reader
    that stopped); nothing was saved. The message says which; retry after
    `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ImportLimits:
    """Bounds on what one upload may make the reader hold, against archive bombs."""

    # The largest single activity file, compressed or as it comes out of an archive.
    max_file_bytes: int
    max_archive_files: int
    # The most an archive may expand to, all its files together.
    max_archive_bytes: int
    # The most processor time reading one upload (a file, or a whole archive) may take.
    max_read_cpu_s: float


@dataclass(frozen=True)
class ParsedActivity:
    """One activity as a file records it (one leg of a multi-sport file)."""

    file_format: FileFormat
    # The activity's own identity in the file; see Recording.file_identity.
    file_identity: str
    # None when the file does not say (or says "generic"); the upload's `activity` decides.
    activity: Activity | None
    started_at: datetime
    # First to last timestamp, whole seconds: the time the activity took, pauses included.
    duration_s: int
    # The time spent moving (see track.MOVING_SPEED_M_S); None without a track or distances.
    moving_time_s: int | None
    # The device's own total where the file has one, else the geodesic sum of the track.
    distance_m: float | None
    device_distance_m: float | None
    elevation_gain_m: float | None
    # The mean of the heart rates recorded, over the whole activity and while moving (the
    # whole activity's where no rate was recorded while moving).
    avg_heart_rate: int | None
    moving_avg_heart_rate: int | None
    max_heart_rate: int | None
    avg_power_w: float | None
    avg_cadence: float | None
    device_calories: float | None


@dataclass(frozen=True)
class ReadFile:
    """What one file holds: its activities, or why it could not be read."""

    name: str
    activities: tuple[ParsedActivity, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Upload:
    """What one uploaded file (an activity file, or an archive of them) turned out to be."""

    is_archive: bool
    files: tuple[ReadFile, ...]


class ActivityFiles(Protocol):
    async def read(self, name: str, data: bytes, limits: ImportLimits) -> Upload:
        """Read an uploaded file. An activity file that cannot be read, or an archive that
        must not be opened at all (a bomb, an unsafe path), raises UnreadableFile; a bad
        file inside a good archive is a ReadFile with an error."""
        ...
