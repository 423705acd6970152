"""Zip archives of activity files (a device's or another service's export), opened with
bounds: nothing is extracted to disk, and no member is read past the size limits.

A zip bomb, or a member whose path climbs out of the archive (`../`, an absolute path),
refuses the whole archive: such an archive was built to attack, not exported by a
service. A member that is merely not an activity file is reported on its own."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from fitboard.application.imports.ports import ImportLimits, UnreadableFile

# A zip member may be this many times smaller than what it expands to. Real activity
# files compress about 5-15 times; a bomb compresses by thousands.
MAX_COMPRESSION_RATIO = 200
_METADATA_DIRS = ("__MACOSX",)


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes | None
    error: str | None = None


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def _skipped(info: zipfile.ZipInfo) -> bool:
    parts = PurePosixPath(info.filename).parts
    hidden = parts and parts[-1].startswith(".")
    return info.is_dir() or bool(hidden) or bool(parts and parts[0] in _METADATA_DIRS)


def is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def members(data: bytes, limits: ImportLimits, what: str) -> Iterator[Member]:
    """Each member's bytes (or why it cannot be read), after checking the whole archive's
    listing against the limits, so a bad archive is refused before anything is read."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [info for info in archive.infolist() if not _skipped(info)]
    except Exception as exc:
        # A damaged central directory fails in zipfile or struct, with many error types.
        raise UnreadableFile(f"{what} is not a readable zip archive ({exc})") from None
    if not infos:
        raise UnreadableFile(f"{what} is an empty archive: it holds no files")
    if len(infos) > limits.max_archive_files:
        raise UnreadableFile(
            f"{what} holds {len(infos)} files, more than the {limits.max_archive_files} one "
            "upload may hold; split it into smaller archives"
        )
    for info in infos:
        if _unsafe(info.filename):
            raise UnreadableFile(
                f"{what} holds a file with an unsafe path ({info.filename[:80]!r}): paths that "
                "climb out of the archive are refused; nothing was imported"
            )
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_archive_bytes:
        raise UnreadableFile(
            f"{what} expands to {declared} bytes, more than the {limits.max_archive_bytes} "
            "one upload may; split it into smaller archives"
        )
    with archive:
        for info in infos:
            yield _member(archive, info, limits)


def _bomb(info: zipfile.ZipInfo, limit: int) -> UnreadableFile:
    return UnreadableFile(
        f"the archive's file {info.filename[:80]!r} expands far past its packed size (to "
        f"more than {limit} bytes): a zip bomb, refused; nothing was imported"
    )


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ImportLimits) -> Member:
    name = info.filename
    if info.flag_bits & 0x1:
        return Member(name, None, "the file is encrypted; export the archive without a password")
    if info.compress_size and info.file_size > MAX_COMPRESSION_RATIO * info.compress_size:
        raise _bomb(info, info.file_size)
    if info.file_size > limits.max_file_bytes:
        return Member(
            name, None, f"the file is {info.file_size} bytes, more than {limits.max_file_bytes}"
        )
    try:
        with archive.open(info) as stream:
            # The listing's sizes can lie: never read more than it promised (zipfile also
            # stops there and checks the CRC, so a lie ends as a damaged member).
            content = stream.read(info.file_size + 1)
    except Exception as exc:
        # A damaged member fails in zipfile, zlib, bz2 or lzma, each with its own errors;
        # whichever it is, it is that member's refusal.
        return Member(name, None, f"the file could not be unpacked ({type(exc).__name__}: {exc})")
    if len(content) > info.file_size:
        raise _bomb(info, info.file_size)
    return Member(name, content)
