"""XML as activity files need it: parsed safely, matched by local name.

defusedxml refuses a document type declaration outright, so no entity can expand (the
"billion laughs" bomb) and no external entity or DTD is fetched (XXE). Elements are
matched by local name, whatever prefix the file binds to the namespace: real exports
write `ns3:hr` for Garmin's `gpxtpx:hr`, or prefix every GPX element with `ns2:`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from fitboard.adapters.importers.track import as_utc, finite
from fitboard.application.imports.ports import UnreadableFile


def parse(data: bytes, what: str) -> Element:
    try:
        root: Element = fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
        return root
    except DefusedXmlException as exc:
        raise UnreadableFile(
            f"{what} declares a document type or entities ({type(exc).__name__}), which "
            "activity files never need and this server does not read"
        ) from None
    except ParseError as exc:
        raise UnreadableFile(
            f"{what} is not well-formed XML ({exc}); the file is incomplete or damaged"
        ) from None


def local(element: Element) -> str:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def children(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element if local(child) == name)


def child(element: Element, name: str) -> Element | None:
    return next(children(element, name), None)


def descendants(element: Element, name: str) -> Iterator[Element]:
    return (node for node in element.iter() if local(node) == name)


def text_of(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return finite(float(text))
    except ValueError:
        return None


def time(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise UnreadableFile(f"{what}: {text[:40]!r} is not an ISO 8601 time") from None
