"""FIT activity files (Garmin, Wahoo, Coros, Suunto...), read with fitdecode.

A file whose CRC does not match or that ends inside a message is refused as a whole: a
recording the device never closed has no summary to check its totals against, and
guessing at a damaged one could rank a figure nobody recorded. A multi-sport file (a
triathlon) becomes one workout per leg; transitions are not workouts (fitboard has no such
activity) and their minutes are counted in no leg."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import fitdecode

from fitboard.adapters.importers.track import DeviceTotals, TrackPoint, finite, summarize
from fitboard.application.imports.ports import ParsedActivity, UnreadableFile
from fitboard.domain.activities import Activity
from fitboard.domain.recordings import FileFormat

_SEMICIRCLE_DEGREES = 180 / 2**31

# FIT `sport`, and for a few sports the `sub_sport`, in fitboard's activities. A sport the
# profile names but fitboard has no activity for is "other"; "generic" says nothing.
_SPORTS = {
    "running": Activity.RUN,
    "cycling": Activity.CYCLE,
    "e_biking": Activity.CYCLE,
    "walking": Activity.WALK,
    "hiking": Activity.HIKE,
    "swimming": Activity.SWIM,
    "rowing": Activity.ROW,
    "hiit": Activity.HIIT,
}
_SUB_SPORTS = {
    "treadmill": Activity.RUN,
    "indoor_running": Activity.RUN,
    "indoor_cycling": Activity.CYCLE,
    "spin": Activity.CYCLE,
    "indoor_rowing": Activity.ROW,
    "strength_training": Activity.STRENGTH,
    "yoga": Activity.YOGA,
    "pilates": Activity.YOGA,
    "hiit": Activity.HIIT,
}
TRANSITION = "transition"


def fit_activity(sport: object, sub_sport: object) -> Activity | None:
    if isinstance(sub_sport, str) and sub_sport in _SUB_SPORTS:
        return _SUB_SPORTS[sub_sport]
    if not isinstance(sport, str) or sport in ("generic", "all"):
        return None
    return _SPORTS.get(sport, Activity.OTHER)


@dataclass
class _Session:
    sport: object
    sub_sport: object
    start: datetime | None
    elapsed_s: float | None
    totals: DeviceTotals


@dataclass
class _Decoded:
    identity: str | None = None
    file_type: object = None
    sport: object = None
    sub_sport: object = None
    records: list[TrackPoint] = field(default_factory=list)
    sessions: list[_Session] = field(default_factory=list)


def _number(message: fitdecode.FitDataMessage, *names: str) -> float | None:
    for name in names:
        value = message.get_value(name, fallback=None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return finite(float(value))
    return None


def _record(message: fitdecode.FitDataMessage) -> TrackPoint | None:
    moment = message.get_value("timestamp", fallback=None)
    if not isinstance(moment, datetime):
        return None
    lat = _number(message, "position_lat")
    lon = _number(message, "position_long")
    if lat is not None and lon is not None:
        lat, lon = lat * _SEMICIRCLE_DEGREES, lon * _SEMICIRCLE_DEGREES
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    hr = _number(message, "heart_rate")
    return TrackPoint(
        time=moment,
        lat=lat,
        lon=lon,
        elevation_m=_number(message, "enhanced_altitude", "altitude"),
        heart_rate=None if hr is None or hr <= 0 else round(hr),
        power_w=_number(message, "power"),
        cadence=_number(message, "cadence"),
        distance_m=_number(message, "distance"),
    )


def _session(message: fitdecode.FitDataMessage) -> _Session:
    start = message.get_value("start_time", fallback=None)
    return _Session(
        sport=message.get_value("sport", fallback=None),
        sub_sport=message.get_value("sub_sport", fallback=None),
        start=start if isinstance(start, datetime) else None,
        elapsed_s=_number(message, "total_elapsed_time"),
        totals=DeviceTotals(
            distance_m=_number(message, "total_distance"),
            calories=_number(message, "total_calories"),
            ascent_m=_number(message, "total_ascent"),
            avg_heart_rate=_number(message, "avg_heart_rate"),
            max_heart_rate=_number(message, "max_heart_rate"),
            avg_power_w=_number(message, "avg_power"),
            avg_cadence=_number(message, "avg_cadence"),
        ),
    )


def _file_identity(message: fitdecode.FitDataMessage) -> str | None:
    """The device's own name for the activity: its maker, serial number and the moment
    it created the file. Two exports of one recording keep it; two recordings never share it."""
    serial = message.get_value("serial_number", fallback=None)
    created = message.get_value("time_created", fallback=None)
    if serial is None or not isinstance(created, datetime):
        return None
    maker = message.get_value("manufacturer", fallback=None)
    return f"fit:{maker}:{serial}:{created.isoformat()}"


def _decode(data: bytes, what: str) -> _Decoded:
    decoded = _Decoded()
    reader = fitdecode.FitReader(
        io.BytesIO(data),
        check_crc=fitdecode.CrcCheck.ENABLED,
        error_handling=fitdecode.ErrorHandling.RAISE,
    )
    try:
        with reader:
            for frame in reader:
                if not isinstance(frame, fitdecode.FitDataMessage):
                    continue
                if frame.name == "file_id" and decoded.file_type is None:
                    decoded.file_type = frame.get_value("type", fallback=None)
                    decoded.identity = _file_identity(frame)
                elif frame.name == "record":
                    point = _record(frame)
                    if point is not None:
                        decoded.records.append(point)
                elif frame.name == "session":
                    decoded.sessions.append(_session(frame))
                elif frame.name == "sport" and decoded.sport is None:
                    decoded.sport = frame.get_value("sport", fallback=None)
                    decoded.sub_sport = frame.get_value("sub_sport", fallback=None)
    except fitdecode.FitHeaderError as exc:
        raise UnreadableFile(f"{what} is not a FIT file ({exc})") from None
    except fitdecode.FitCRCError:
        raise UnreadableFile(
            f"{what} is damaged: its checksum does not match its contents (a copy cut short, "
            "or a recording the device never finished); export it again from the device"
        ) from None
    except fitdecode.FitEOFError:
        raise UnreadableFile(
            f"{what} is truncated: it ends in the middle of a message (a recording the device "
            "never finished, or an upload cut short); export it again from the device"
        ) from None
    except fitdecode.FitError as exc:
        raise UnreadableFile(f"{what} is not a readable FIT file ({exc})") from None
    return decoded


def _leg(decoded: _Decoded, session: _Session, identity: str, what: str) -> ParsedActivity:
    records = decoded.records
    if session.start is not None and session.elapsed_s is not None:
        end = session.start + timedelta(seconds=session.elapsed_s)
        records = [r for r in records if r.time is not None and session.start <= r.time <= end]
        if len(records) < 2:
            # A leg without records of its own (a pool swim logs lengths, not records).
            records = [TrackPoint(time=session.start), TrackPoint(time=end)]
    return summarize(
        [records],
        file_format=FileFormat.FIT,
        file_identity=identity,
        activity=fit_activity(session.sport, session.sub_sport)
        or fit_activity(decoded.sport, decoded.sub_sport),
        device=session.totals,
        what=what,
    )


def read_fit(data: bytes, content_identity: str, what: str) -> list[ParsedActivity]:
    decoded = _decode(data, what)
    if decoded.file_type is not None and decoded.file_type != "activity":
        raise UnreadableFile(f"{what} is a FIT {decoded.file_type} file, not a recorded activity")
    identity = decoded.identity or content_identity
    if not decoded.sessions:
        # No summary: the track alone says what happened.
        last = [r.distance_m for r in decoded.records if r.distance_m is not None]
        return [
            summarize(
                [decoded.records],
                file_format=FileFormat.FIT,
                file_identity=identity,
                activity=fit_activity(decoded.sport, decoded.sub_sport),
                device=DeviceTotals(distance_m=max(last) if last else None),
                what=what,
            )
        ]
    if len(decoded.sessions) == 1:
        return [_leg(decoded, decoded.sessions[0], identity, what)]
    legs = [
        _leg(decoded, session, f"{identity}#{index}", f"{what}, leg {index + 1}")
        for index, session in enumerate(decoded.sessions)
        if session.sport != TRANSITION
    ]
    if not legs:
        raise UnreadableFile(f"{what} holds only transitions, no activity")
    return legs
