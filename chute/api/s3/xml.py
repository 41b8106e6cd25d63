"""S3's XML: answers built with ElementTree, request bodies parsed by a hardened parser.

Request bodies go through ``defusedxml`` with DTDs forbidden, so entity expansion and
external entities are refused whatever the machine's expat; front ends read them under a
size cap (``s3.max_xml_bytes``) before they get here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from starlette.responses import Response

from chute.errors import MalformedXML

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_TYPE = "application/xml"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
#: Characters XML 1.0 cannot carry at all, even escaped (keys may hold them).
_FORBIDDEN = {c for c in range(32) if c not in (9, 10, 13)}


def element(tag: str, *children: ET.Element | None, **attributes: str) -> ET.Element:
    """An element holding ``children`` (``None`` entries are skipped)."""
    node = ET.Element(tag, attributes)
    node.extend(child for child in children if child is not None)
    return node


def leaf(tag: str, value: Any) -> ET.Element:
    """An element holding text: booleans as ``true``/``false``, times in ISO 8601."""
    node = ET.Element(tag)
    node.text = text(value)
    return node


def optional(tag: str, value: Any) -> ET.Element | None:
    """:func:`leaf`, or nothing when ``value`` is ``None``."""
    return None if value is None else leaf(tag, value)


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return timestamp(value)
    return _xml_safe(str(value))


def timestamp(moment: datetime) -> str:
    """S3's listing time format: ``2024-05-01T12:00:00.000Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _xml_safe(value: str) -> str:
    """``value`` with the characters XML 1.0 cannot hold written as S3 does
    (``&#x1;``-style references are not allowed either, so they become ``\\x01``)."""
    if not any(ord(c) in _FORBIDDEN for c in value):
        return value
    return "".join(f"\\x{ord(c):02x}" if ord(c) in _FORBIDDEN else c for c in value)


def url_encoded(value: str, encode: bool) -> str:
    """A key or prefix as a listing with ``encoding-type=url`` shows it."""
    return quote(value, safe="/") if encode else value


def render(root: ET.Element, *, namespace: bool = True) -> bytes:
    """The document, in S3's namespace (unless not ``namespace``: S3 writes some
    answers, such as a browser upload's, without one), with its XML declaration."""
    if namespace:
        root.set("xmlns", NAMESPACE)
    body = ET.tostring(root, encoding="unicode")
    # ElementTree leaves a carriage return as is, which any parser reads back as a
    # newline: keys may hold one.
    return _DECLARATION + body.replace("\r", "&#13;").encode("utf-8")


def xml_response(
    root: ET.Element, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(render(root), status_code=status, headers=headers, media_type=XML_TYPE)


def parse(body: bytes) -> ET.Element:
    """Parse a request body: ``MalformedXML`` for anything but one well-formed document
    without a DTD. Namespaces are dropped from tags, as clients differ in sending one."""
    if not body.strip():
        raise MalformedXML()
    try:
        root: ET.Element = SafeET.fromstring(body, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError):
        raise MalformedXML() from None
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.startswith("{"):
            node.tag = node.tag.split("}", 1)[1]
    return root


def children(node: ET.Element, tag: str) -> Iterable[ET.Element]:
    return node.findall(tag)


def child_text(node: ET.Element, tag: str, default: str | None = None) -> str | None:
    found = node.find(tag)
    if found is None:
        return default
    return found.text or ""
