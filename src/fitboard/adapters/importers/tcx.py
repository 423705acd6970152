"""TCX (Garmin Training Center v2): each `<Activity>` is one activity.

The device's totals are the sums over its laps (distance, calories); the activity's
identity is the device's unit id with the activity's `<Id>` (its start time)."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from fitboard.adapters.importers import xml_safe
from fitboard.adapters.importers.track import DeviceTotals, TrackPoint, summarize
from fitboard.application.imports.ports import ParsedActivity, UnreadableFile
from fitboard.domain.activities import Activity
from fitboard.domain.recordings import FileFormat

# TCX's Sport is Running, Biking or Other; "Other" says nothing.
_SPORTS = {"running": Activity.RUN, "biking": Activity.CYCLE}


def _value(element: Element, *path: str) -> float | None:
    node: Element | None = element
    for name in path:
        node = None if node is None else xml_safe.child(node, name)
    return xml_safe.number(xml_safe.text_of(node))


def _point(element: Element, what: str) -> TrackPoint:
    position = xml_safe.child(element, "Position")
    lat = None if position is None else _value(position, "LatitudeDegrees")
    lon = None if position is None else _value(position, "LongitudeDegrees")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    hr = _value(element, "HeartRateBpm", "Value")
    watts = next(xml_safe.descendants(element, "Watts"), None)
    return TrackPoint(
        time=xml_safe.time(xml_safe.text_of(xml_safe.child(element, "Time")), what),
        lat=lat,
        lon=lon,
        elevation_m=_value(element, "AltitudeMeters"),
        heart_rate=None if hr is None or hr <= 0 else round(hr),
        power_w=xml_safe.number(xml_safe.text_of(watts)),
        cadence=_value(element, "Cadence"),
        distance_m=_value(element, "DistanceMeters"),
    )


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _activity(element: Element, identity: str, what: str) -> ParsedActivity:
    laps = list(xml_safe.children(element, "Lap"))
    segments = [
        [_point(p, what) for p in xml_safe.children(track, "Trackpoint")]
        for lap in laps
        for track in xml_safe.children(lap, "Track")
    ]
    return summarize(
        segments,
        file_format=FileFormat.TCX,
        file_identity=identity,
        activity=_SPORTS.get((element.get("Sport") or "").strip().lower()),
        device=DeviceTotals(
            distance_m=_sum([_value(lap, "DistanceMeters") for lap in laps]),
            calories=_sum([_value(lap, "Calories") for lap in laps]),
        ),
        what=what,
    )


def _identity(element: Element, content_identity: str, index: int) -> str:
    """The device's unit id and the activity's <Id> (its start time). Without a unit id
    the <Id> still identifies an activity for one athlete; without an <Id> only the
    file's bytes (and the activity's place in the file) do."""
    started = xml_safe.text_of(xml_safe.child(element, "Id"))
    if started is None:
        return f"{content_identity}#{index}"
    unit = xml_safe.text_of(next(xml_safe.descendants(element, "UnitId"), None))
    return f"tcx:{unit or ''}:{started}"


def read_tcx(root: Element, content_identity: str, what: str) -> list[ParsedActivity]:
    if xml_safe.local(root) != "TrainingCenterDatabase":
        raise UnreadableFile(f"{what} is XML but not TCX (its root is <{xml_safe.local(root)}>)")
    activities = [
        activity
        for holder in xml_safe.children(root, "Activities")
        for activity in xml_safe.children(holder, "Activity")
    ]
    if not activities:
        raise UnreadableFile(f"{what} holds no <Activity> (a course or a workout plan?)")
    return [
        _activity(element, _identity(element, content_identity, index), what)
        for index, element in enumerate(activities)
    ]
