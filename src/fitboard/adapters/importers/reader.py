"""One uploaded file to activities: the entry point the reader processes run.

The format is told by the content, not the name (an export may call a FIT file
`.dat`, or gzip a GPX): FIT has ".FIT" at byte 8 of its header, a zip starts "PK", gzip
starts 1f 8b, and GPX and TCX are told by their XML root element."""

from __future__ import annotations

import hashlib
import logging
import zlib

from fitboard.adapters.importers import archive, xml_safe
from fitboard.adapters.importers.fit import read_fit
from fitboard.adapters.importers.gpx import read_gpx
from fitboard.adapters.importers.tcx import read_tcx
from fitboard.application.imports.ports import (
    ImportLimits,
    ParsedActivity,
    ReadFile,
    UnreadableFile,
    Upload,
)

log = logging.getLogger(__name__)

_KINDS = "a GPX, TCX or FIT activity file, or a .zip of them"


def _is_fit(data: bytes) -> bool:
    return len(data) >= 12 and data[8:12] == b".FIT"


def _gunzip(data: bytes, limits: ImportLimits, what: str) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        content = decompressor.decompress(data, limits.max_file_bytes + 1)
    except zlib.error as exc:
        raise UnreadableFile(f"{what} is not a readable gzip file ({exc})") from None
    if len(content) > limits.max_file_bytes:
        raise UnreadableFile(
            f"{what} expands to more than {limits.max_file_bytes} bytes, more than one "
            "activity file may be"
        )
    if not decompressor.eof:
        raise UnreadableFile(f"{what} is a truncated gzip file; upload it again")
    return content


def read_activity_file(data: bytes, limits: ImportLimits, what: str) -> list[ParsedActivity]:
    """The activities in one file; UnreadableFile, saying why, for anything else."""
    if not data.strip():
        raise UnreadableFile(f"{what} is empty")
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, limits, what)
        if data[:2] == b"\x1f\x8b":
            raise UnreadableFile(f"{what} is compressed twice; upload it compressed once")
        return read_activity_file(data, limits, what)
    if archive.is_zip(data):
        raise UnreadableFile(f"{what} is an archive inside an archive; upload it on its own")
    content_identity = "sha256:" + hashlib.sha256(data).hexdigest()
    try:
        if _is_fit(data):
            return read_fit(data, content_identity, what)
        if data.lstrip()[:1] != b"<" and data[:3] != b"\xef\xbb\xbf":
            raise UnreadableFile(f"{what} is not {_KINDS}")
        root = xml_safe.parse(data, what)
        if xml_safe.local(root) == "TrainingCenterDatabase":
            return read_tcx(root, content_identity, what)
        if xml_safe.local(root) == "gpx":
            return read_gpx(root, content_identity, what)
        raise UnreadableFile(f"{what} is XML but neither GPX nor TCX")
    except UnreadableFile:
        raise
    except (RecursionError, MemoryError):
        raise UnreadableFile(f"{what} is too deeply nested or too large to read") from None
    except Exception as exc:
        # A file is the uploader's data, whatever a parser makes of it: a bug met on a
        # strange file is that file's refusal (logged for us), never the server's 500.
        log.warning("activity file %s could not be read", what, exc_info=True)
        raise UnreadableFile(f"{what} could not be read ({type(exc).__name__}: {exc})") from None


def _read_member(member: archive.Member, limits: ImportLimits) -> ReadFile:
    if member.data is None:
        return ReadFile(member.name, error=member.error)
    try:
        found = read_activity_file(member.data, limits, repr(member.name))
    except UnreadableFile as exc:
        return ReadFile(member.name, error=str(exc))
    return ReadFile(member.name, activities=tuple(found))


def read_upload(name: str, data: bytes, limits: ImportLimits) -> Upload:
    """What an upload holds. Runs in a reader process: pure function of its
    arguments, returning only picklable values."""
    what = repr(name) if name else "the file"
    if len(data) > limits.max_file_bytes and not archive.is_zip(data):
        raise UnreadableFile(f"{what} is larger than {limits.max_file_bytes} bytes")
    if archive.is_zip(data):
        files = tuple(_read_member(m, limits) for m in archive.members(data, limits, what))
        return Upload(is_archive=True, files=files)
    return Upload(
        is_archive=False, files=(ReadFile(name, tuple(read_activity_file(data, limits, what))),)
    )
