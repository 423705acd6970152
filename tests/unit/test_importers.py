"""Reading activity files: real recordings against their manifest's independent figures,
files made here with known distance and duration, and every kind of bad file."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fit_tool.profile.profile_type import Sport
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitboard.adapters.importers.reader import read_upload
from fitboard.application.imports.importing import active_time
from fitboard.application.imports.ports import ImportLimits, ParsedActivity, UnreadableFile
from fitboard.domain.activities import Activity
from tests import activity_files as af

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "activities"
LIMITS = ImportLimits(
    max_file_bytes=4 * 1024 * 1024,
    max_archive_files=20,
    max_archive_bytes=16 << 20,
    max_read_cpu_s=60.0,
)
START = af.hours_ago(30)


def read_one(name: str, data: bytes, limits: ImportLimits = LIMITS) -> list[ParsedActivity]:
    upload = read_upload(name, data, limits)
    assert not upload.is_archive
    (only,) = upload.files
    return list(only.activities)


def refused(name: str, data: bytes, limits: ImportLimits = LIMITS) -> str:
    with pytest.raises(UnreadableFile) as caught:
        read_upload(name, data, limits)
    return str(caught.value)


# --------------------------------------------------------------- real recordings

# From ../shared/reference/activities/MANIFEST.md: elapsed seconds, the distance to expect
# (the device's total where the file has one, else the manifest's haversine sum), the
# plain mean heart rate, and the sport the file states.
MANIFEST = [
    ("run_garmin-connect.gpx", 948, 3098.5, 190, None),
    ("run_strava.gpx", 1256, 3568.3, 169, None),
    ("ride_garmin-connect.gpx", 2469, 5768.8, 142, Activity.CYCLE),
    ("walk_android_ns-prefixed.gpx", 9439, 13598.0, None, None),
    ("run_forerunner410.tcx", 1992, 4689.2, 157, Activity.RUN),
    ("ride_mapmyride.tcx", 3111, 15350.4, None, Activity.CYCLE),
    ("walk_vivoactive-hr.tcx", 4495, 3988.8, 88, None),
    ("run_fenix5x_stryd.fit", 1680, 5383.2, 158, Activity.RUN),
    ("ride_edge810_power.fit", 4699, 41339.4, 154, Activity.CYCLE),
    ("ride_wahoo-elemnt.fit", 23591, 78940.6, 124, Activity.CYCLE),
]
# The device's own timer time, where the manifest gives it: the Wahoo ride's records stop
# while its timer is paused at long stops, so its moving time is about that, not elapsed.
TIMER_S = {"ride_wahoo-elemnt.fit": 13471}


def reference(name: str) -> bytes:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"the reference recordings are not at {REFERENCE}")
    return path.read_bytes()


@pytest.mark.parametrize(("name", "elapsed_s", "distance_m", "heart_rate", "sport"), MANIFEST)
def test_a_real_recording_gives_the_manifests_figures(
    name: str, elapsed_s: int, distance_m: float, heart_rate: int | None, sport: Activity | None
) -> None:
    (activity,) = read_one(name, reference(name))
    assert activity.duration_s == elapsed_s
    assert activity.distance_m == pytest.approx(distance_m, rel=0.01)
    assert activity.avg_heart_rate == heart_rate
    assert activity.activity is sport
    if name in TIMER_S:
        assert activity.moving_time_s == pytest.approx(TIMER_S[name], rel=0.03)


def test_a_triathlon_is_one_workout_per_leg_without_the_transitions() -> None:
    legs = read_one("tri.fit", reference("triathlon_fr920xt_chained.fit"))
    assert [leg.activity for leg in legs] == [Activity.SWIM, Activity.CYCLE, Activity.RUN]
    assert [round(leg.distance_m or 0, 1) for leg in legs] == [1644.7, 40909.4, 9805.9]
    assert len({leg.file_identity for leg in legs}) == 3


def test_a_device_total_wins_over_a_jittery_track() -> None:
    (ride,) = read_one("ride.tcx", reference("ride_mapmyride.tcx"))
    # The manifest's haversine sum is 16960.6 m, 10.5 % above what the app recorded.
    assert ride.distance_m == pytest.approx(15350.4, abs=0.1)
    assert ride.device_calories == pytest.approx(458, abs=0.01)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("edge_truncated_sigma-ride.fit", "is truncated"),
        ("edge_truncated_basecamp.gpx", "is not well-formed XML"),
        ("edge_empty-track_osmand.gpx", "has no track points"),
    ],
)
def test_a_broken_real_file_is_refused_saying_why(name: str, reason: str) -> None:
    assert reason in refused(name, reference(name))


# --------------------------------------------------------------- files made here


@pytest.mark.parametrize("kind", ["gpx", "tcx", "fit"])
def test_a_generated_file_gives_its_exact_duration_and_distance(kind: str) -> None:
    track = af.Track(START, 1200, speed_m_s=2.75, heart_rate=144)
    writers: dict[str, Callable[[af.Track], bytes]] = {"gpx": af.gpx, "tcx": af.tcx, "fit": af.fit}
    data = writers[kind](track)
    (activity,) = read_one(f"run.{kind}", data)
    assert activity.started_at == track.start
    assert activity.duration_s == 1200
    assert activity.distance_m == pytest.approx(track.distance_m, rel=1e-4)
    assert activity.avg_heart_rate == 144
    assert activity.activity is Activity.RUN
    assert activity.moving_time_s == 1200


def cafe_ride() -> tuple[af.Track, af.Track, af.Track]:
    """Three hours: an hour's ride at 6 m/s (150 bpm), an hour at a cafe table with the
    device recording (90 bpm), and another hour's ride."""
    ride = af.Track(START, 3600, speed_m_s=6.0, heart_rate=150)
    cafe = af.Track(ride.end, 3600, speed_m_s=0.0, heart_rate=90, lat0=ride.end_lat)
    return ride, cafe, af.Track(cafe.end, 3600, speed_m_s=6.0, heart_rate=150, lat0=ride.end_lat)


def test_a_long_stop_is_elapsed_but_not_moving_time() -> None:
    (activity,) = read_one("cafe.gpx", af.gpx(cafe_ride(), kind="cycling"))
    assert (activity.duration_s, activity.moving_time_s) == (3 * 3600, 2 * 3600)
    assert activity.distance_m == pytest.approx(2 * 3600 * 6.0, rel=1e-4)
    # 7201 samples at 150 bpm and 3600 at 90; the 7200 taken while moving are all 150.
    assert activity.avg_heart_rate == round((7201 * 150 + 3600 * 90) / 10801)
    assert activity.moving_avg_heart_rate == 150


def test_an_imported_ride_lasts_its_moving_time_and_a_yoga_session_its_whole_time() -> None:
    (activity,) = read_one("cafe.gpx", af.gpx(cafe_ride(), kind="cycling"))
    assert active_time(activity, Activity.CYCLE) == (7200, 150)
    assert active_time(activity, Activity.YOGA) == (10800, 130)
    # Without a moving time (no track), or with none at all, the whole recording counts.
    assert active_time(replace(activity, moving_time_s=None), Activity.CYCLE) == (10800, 130)
    assert active_time(replace(activity, moving_time_s=0), Activity.CYCLE) == (10800, 130)


def test_the_format_is_told_by_the_content_not_the_name() -> None:
    (activity,) = read_one("export.dat", af.fit(af.Track(START, 60)))
    assert activity.file_format.value == "fit"


def test_a_gzipped_file_is_read() -> None:
    import gzip

    (activity,) = read_one("run.gpx.gz", gzip.compress(af.gpx(af.Track(START, 60))))
    assert activity.duration_s == 60


def test_a_gpx_has_its_bytes_for_identity_and_a_fit_its_device_serial() -> None:
    track = af.Track(START, 60)
    (gpx,) = read_one("a.gpx", af.gpx(track))
    (fit,) = read_one("a.fit", af.fit(track, serial=42))
    assert gpx.file_identity.startswith("sha256:")
    assert fit.file_identity.startswith("fit:development:42:")


def test_a_multisport_file_made_here_is_one_workout_per_leg() -> None:
    swim = af.Track(START, 600, speed_m_s=1.0)
    ride = af.Track(swim.end + timedelta(seconds=120), 1800, speed_m_s=8.0)
    legs = read_one(
        "tri.fit",
        af.fit(
            [
                (Sport.SWIMMING, swim),
                (Sport.TRANSITION, af.Track(swim.end, 119)),
                (Sport.CYCLING, ride),
            ]
        ),
    )
    assert [(leg.activity, leg.duration_s) for leg in legs] == [
        (Activity.SWIM, 600),
        (Activity.CYCLE, 1800),
    ]
    assert legs[1].distance_m == pytest.approx(ride.distance_m)


def test_an_archive_reads_each_file_on_its_own() -> None:
    data = af.zipped(
        {
            "a/run.gpx": af.gpx(af.Track(START, 60)),
            "notes.txt": b"hello",
            "__MACOSX/._run.gpx": b"junk",
            "b/ride.fit": af.fit(af.Track(START, 120), sport=Sport.CYCLING),
        }
    )
    upload = read_upload("export.zip", data, LIMITS)
    assert upload.is_archive
    assert [(f.name, len(f.activities), f.error is None) for f in upload.files] == [
        ("a/run.gpx", 1, True),
        ("notes.txt", 0, False),
        ("b/ride.fit", 1, True),
    ]


# --------------------------------------------------------------- bad files

XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<gpx><trk><name>&d;</name></trk></gpx>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE gpx [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<gpx><trk><name>&secret;</name></trk></gpx>"""


def _gpx_points(*times: str) -> bytes:
    points = "".join(
        f'<trkpt lat="52.0" lon="{5 + i / 1000}">' + (f"<time>{t}</time>" if t else "") + "</trkpt>"
        for i, t in enumerate(times)
    )
    return f'<gpx xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>{points}</trkseg></trk></gpx>'.encode()


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.gpx", b"\0" * (8 * 1024 * 1024))
    return buffer.getvalue()


def _zip_with(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name), af.gpx(af.Track(START, 60)))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.gpx", b"", "is empty"),
        ("blank.fit", b"   \n", "is empty"),
        ("photo.jpg", b"\xff\xd8\xff\xe0 not an activity", "is not a GPX, TCX or FIT"),
        ("page.gpx", b"<html><body>hi</body></html>", "neither GPX nor TCX"),
        ("cut.gpx", af.gpx(af.Track(START, 60))[:-200], "is not well-formed XML"),
        ("cut.fit", af.fit(af.Track(START, 60))[:-40], "is truncated"),
        ("crc.fit", af.fit(af.Track(START, 60))[:-2] + b"\0\0", "checksum does not match"),
        ("no-times.gpx", _gpx_points("", "", ""), "no timestamps"),
        (
            "backwards.gpx",
            _gpx_points("2026-01-01T10:00:05Z", "2026-01-01T10:00:00Z"),
            "go backwards",
        ),
        (
            "bad-time.gpx",
            _gpx_points("yesterday", "2026-01-01T10:00:00Z"),
            "is not an ISO 8601 time",
        ),
        (
            "no-track.gpx",
            b'<gpx xmlns="http://www.topografix.com/GPX/1/1"></gpx>',
            "no track points",
        ),
        ("bomb.gpx", XML_BOMB, "document type or entities"),
        ("xxe.gpx", XXE, "document type or entities"),
        (
            "course.tcx",
            b"<TrainingCenterDatabase><Courses/></TrainingCenterDatabase>",
            "no <Activity>",
        ),
        ("bomb.zip", _zip_bomb(), "zip bomb"),
        ("escape.zip", _zip_with("../../etc/run.gpx"), "unsafe path"),
        ("absolute.zip", _zip_with("/etc/run.gpx"), "unsafe path"),
        ("cut.zip", af.zipped({"a.gpx": af.gpx(af.Track(START, 60))})[:-30], "not a readable zip"),
        ("empty.zip", af.zipped({}), "empty archive"),
    ],
)
def test_a_bad_file_is_refused_with_a_reason_a_person_can_act_on(
    name: str, data: bytes, reason: str
) -> None:
    assert reason in refused(name, data)


def test_a_file_over_the_limit_is_refused() -> None:
    small = replace(LIMITS, max_file_bytes=2048, max_archive_files=2, max_archive_bytes=4096)
    assert "larger than 2048 bytes" in refused("big.gpx", af.gpx(af.Track(START, 600)), small)


def test_an_archive_with_too_many_files_is_refused() -> None:
    files = {f"{i}.gpx": af.gpx(af.Track(START, 10)) for i in range(3)}
    small = replace(LIMITS, max_file_bytes=1 << 20, max_archive_files=2, max_archive_bytes=1 << 22)
    assert "holds 3 files" in refused("many.zip", af.zipped(files), small)


def test_an_archive_in_an_archive_is_one_invalid_member() -> None:
    inner = af.zipped({"a.gpx": af.gpx(af.Track(START, 60))})
    upload = read_upload("outer.zip", af.zipped({"inner.zip": inner}), LIMITS)
    (member,) = upload.files
    assert member.error is not None
    assert "archive inside an archive" in member.error


# --------------------------------------------------------------- fuzzing


def _seeds() -> list[tuple[str, bytes]]:
    track = af.Track(START, 30)
    seeds = [
        ("run.gpx", af.gpx(track)),
        ("run.tcx", af.tcx(track)),
        ("run.fit", af.fit(track)),
        ("runs.zip", af.zipped({"a.gpx": af.gpx(track), "b.fit": af.fit(track)})),
    ]
    # Real files too when present (small ones: each example parses the whole file).
    for name in ("run_garmin-connect.gpx", "run_fenix5x_stryd.fit"):
        if (REFERENCE / name).exists():
            seeds.append((name, (REFERENCE / name).read_bytes()))
    return seeds


SEEDS = _seeds()


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[str, bytes]:
    name, data = draw(st.sampled_from(SEEDS))
    buffer = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(min_value=0, max_value=max(0, len(buffer) - 1)))
        if kind == "flip" and buffer:
            buffer[at] = draw(st.integers(min_value=0, max_value=255))
        elif kind == "cut":
            del buffer[at:]
        elif kind == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif buffer:
            del buffer[at : at + draw(st.integers(min_value=1, max_value=64))]
    return name, bytes(buffer)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files())
def test_a_mutated_file_is_read_or_refused_and_never_crashes_the_reader(
    upload: tuple[str, bytes],
) -> None:
    name, data = upload
    try:
        result = read_upload(name, data, LIMITS)
    except UnreadableFile as exc:
        reason = str(exc)
    else:
        reason = ""
        for read in result.files:
            assert read.error or read.activities
            assert all(a.duration_s >= 0 for a in read.activities)
    assert reason or result.files
