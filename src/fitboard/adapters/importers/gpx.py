"""GPX 1.0 and 1.1: every track point of every track and segment is one activity.

GPX has no device totals: distance is the geodesic sum within each segment, and the file
has no identity of its own, so the caller identifies it by a hash of its bytes."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from fitboard.adapters.importers import xml_safe
from fitboard.adapters.importers.track import DeviceTotals, TrackPoint, summarize
from fitboard.application.imports.ports import ParsedActivity, UnreadableFile
from fitboard.domain.activities import Activity
from fitboard.domain.recordings import FileFormat

# GPX `<type>` is free text: what Garmin Connect, Strava and others write, lower-cased.
_TYPES: dict[str, Activity] = {
    "running": Activity.RUN,
    "run": Activity.RUN,
    "trail_running": Activity.RUN,
    "street_running": Activity.RUN,
    "treadmill_running": Activity.RUN,
    "cycling": Activity.CYCLE,
    "biking": Activity.CYCLE,
    "ride": Activity.CYCLE,
    "road_biking": Activity.CYCLE,
    "mountain_biking": Activity.CYCLE,
    "gravel_cycling": Activity.CYCLE,
    "walking": Activity.WALK,
    "walk": Activity.WALK,
    "hiking": Activity.HIKE,
    "hike": Activity.HIKE,
    "swimming": Activity.SWIM,
    "open_water_swimming": Activity.SWIM,
    "swim": Activity.SWIM,
    "rowing": Activity.ROW,
    "row": Activity.ROW,
}


def gpx_activity(kind: str | None) -> Activity | None:
    if kind is None:
        return None
    return _TYPES.get(kind.strip().lower().replace(" ", "_").replace("-", "_"))


def _point(element: Element, what: str) -> TrackPoint:
    lat = xml_safe.number(element.get("lat"))
    lon = xml_safe.number(element.get("lon"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    hr = xml_safe.number(xml_safe.text_of(next(xml_safe.descendants(element, "hr"), None)))
    cadence = xml_safe.number(xml_safe.text_of(next(xml_safe.descendants(element, "cad"), None)))
    power = xml_safe.number(xml_safe.text_of(next(xml_safe.descendants(element, "power"), None)))
    return TrackPoint(
        time=xml_safe.time(xml_safe.text_of(xml_safe.child(element, "time")), what),
        lat=lat,
        lon=lon,
        elevation_m=xml_safe.number(xml_safe.text_of(xml_safe.child(element, "ele"))),
        heart_rate=None if hr is None or hr <= 0 else round(hr),
        power_w=power,
        cadence=cadence,
    )


def read_gpx(root: Element, file_identity: str, what: str) -> list[ParsedActivity]:
    if xml_safe.local(root) != "gpx":
        raise UnreadableFile(f"{what} is XML but not GPX (its root is <{xml_safe.local(root)}>)")
    tracks = list(xml_safe.children(root, "trk"))
    segments = [
        [_point(p, what) for p in xml_safe.children(segment, "trkpt")]
        for track in tracks
        for segment in xml_safe.children(track, "trkseg")
    ]
    if not any(segments):
        routes = "routes or waypoints only, " if len(root) else ""
        raise UnreadableFile(
            f"{what} has no track points ({routes}no recorded track): there is no activity "
            "to import"
        )
    kinds = [xml_safe.text_of(xml_safe.child(t, "type")) for t in tracks]
    activity = next((a for a in map(gpx_activity, kinds) if a is not None), None)
    return [
        summarize(
            segments,
            file_format=FileFormat.GPX,
            file_identity=file_identity,
            activity=activity,
            device=DeviceTotals(),
            what=what,
        )
    ]
