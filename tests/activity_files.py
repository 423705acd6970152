"""Activity files the tests make themselves, with a distance and duration known exactly:
a straight line due north at constant speed, one point a second. Along a meridian the
haversine distance is exactly R x the change of latitude, so the expected figure does not
depend on the code under test.

FIT files are written with fit-tool (a maintained FIT encoder on PyPI; fitdecode only
reads)."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fit_tool.fit_file_builder import FitFileBuilder
from fit_tool.profile.messages.file_id_message import FileIdMessage
from fit_tool.profile.messages.record_message import RecordMessage
from fit_tool.profile.messages.session_message import SessionMessage
from fit_tool.profile.profile_type import FileType, Manufacturer, Sport

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Track:
    start: datetime
    seconds: int
    speed_m_s: float = 3.0
    heart_rate: int | None = 150
    lat0: float = 52.0
    lon0: float = 5.0

    @property
    def distance_m(self) -> float:
        return self.speed_m_s * self.seconds

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    @property
    def end_lat(self) -> float:
        return self.lat0 + self.seconds * math.degrees(self.speed_m_s / EARTH_RADIUS_M)

    def points(self) -> list[tuple[datetime, float, float]]:
        step = math.degrees(self.speed_m_s / EARTH_RADIUS_M)
        return [
            (self.start + timedelta(seconds=i), self.lat0 + i * step, self.lon0)
            for i in range(self.seconds + 1)
        ]


def hours_ago(hours: float) -> datetime:
    return (datetime.now(UTC) - timedelta(hours=hours)).replace(microsecond=0)


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gpx(track: Track | Sequence[Track], kind: str | None = "running") -> bytes:
    """One track segment; several tracks are recorded one after the other (each starting
    where and when the one before ended, e.g. a ride, a stop, a ride)."""
    stretches = [track] if isinstance(track, Track) else list(track)
    points = "".join(
        f'<trkpt lat="{lat:.9f}" lon="{lon:.9f}"><ele>10</ele><time>{_z(t)}</time>'
        + (
            f"<extensions><gpxtpx:TrackPointExtension><gpxtpx:hr>{stretch.heart_rate}"
            "</gpxtpx:hr></gpxtpx:TrackPointExtension></extensions>"
            if stretch.heart_rate
            else ""
        )
        + "</trkpt>"
        for index, stretch in enumerate(stretches)
        for t, lat, lon in stretch.points()[1 if index else 0 :]
    )
    kind_xml = f"<type>{kind}</type>" if kind else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="fitboard tests" xmlns="http://www.topografix.com/GPX/1/1" '
        'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">'
        f"<trk><name>test</name>{kind_xml}<trkseg>{points}</trkseg></trk></gpx>"
    ).encode()


def tcx(track: Track, sport: str = "Running", unit_id: int = 1234567) -> bytes:
    distance = 0.0
    points = []
    for t, lat, lon in track.points():
        points.append(
            f"<Trackpoint><Time>{_z(t)}</Time><Position><LatitudeDegrees>{lat:.9f}"
            f"</LatitudeDegrees><LongitudeDegrees>{lon:.9f}</LongitudeDegrees></Position>"
            f"<DistanceMeters>{distance:.3f}</DistanceMeters>"
            f"<HeartRateBpm><Value>{track.heart_rate}</Value></HeartRateBpm></Trackpoint>"
        )
        distance += track.speed_m_s
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/'
        'TrainingCenterDatabase/v2"><Activities>'
        f'<Activity Sport="{sport}"><Id>{_z(track.start)}</Id>'
        f'<Lap StartTime="{_z(track.start)}"><TotalTimeSeconds>{track.seconds}'
        f"</TotalTimeSeconds><DistanceMeters>{track.distance_m}</DistanceMeters>"
        f"<Calories>321</Calories><Track>{''.join(points)}</Track></Lap>"
        f"<Creator><UnitId>{unit_id}</UnitId></Creator></Activity></Activities>"
        "</TrainingCenterDatabase>"
    ).encode()


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def fit(
    legs: list[tuple[Sport, Track]] | Track,
    *,
    sport: Sport = Sport.RUNNING,
    serial: int = 0x1234_5678,
    calories: int = 400,
) -> bytes:
    """A FIT activity: one session per leg (a multi-sport file when several)."""
    if isinstance(legs, Track):
        legs = [(sport, legs)]
    builder = FitFileBuilder(auto_define=True, min_string_size=50)
    file_id = FileIdMessage()
    file_id.type = FileType.ACTIVITY
    file_id.manufacturer = Manufacturer.DEVELOPMENT.value
    file_id.product = 1
    file_id.serial_number = serial
    file_id.time_created = _ms(legs[0][1].start)
    builder.add(file_id)
    sessions = []
    for leg_sport, track in legs:
        for index, (t, lat, lon) in enumerate(track.points()):
            record = RecordMessage()
            record.timestamp = _ms(t)
            record.position_lat = lat
            record.position_long = lon
            record.distance = index * track.speed_m_s
            if track.heart_rate:
                record.heart_rate = track.heart_rate
            builder.add(record)
        session = SessionMessage()
        session.timestamp = _ms(track.end)
        session.start_time = _ms(track.start)
        session.total_elapsed_time = float(track.seconds)
        session.total_timer_time = float(track.seconds)
        session.total_distance = track.distance_m
        session.total_calories = calories
        session.sport = leg_sport
        sessions.append(session)
    builder.add_all(sessions)
    data: bytes = builder.build().to_bytes()
    return data


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()
