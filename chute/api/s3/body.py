"""Small request bodies of the S3 API (XML documents), read whole under a size cap."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Literal, overload

from starlette.requests import ClientDisconnect

from chute.api.s3.request import S3Request
from chute.api.s3.services import services_of
from chute.api.s3.xml import parse as parse_xml
from chute.errors import ClientDisconnected, MaxMessageLengthExceeded


@overload
async def read_xml(request: S3Request, *, parse: Literal[True] = True) -> ET.Element: ...


@overload
async def read_xml(request: S3Request, *, parse: Literal[False]) -> bytes: ...


async def read_xml(request: S3Request, *, parse: bool = True) -> ET.Element | bytes:
    """The request's XML document (or its raw bytes), refused past ``s3.max_xml_bytes``
    from its Content-Length before reading, or as soon as a chunked body passes it."""
    limit = services_of(request).max_xml_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise MaxMessageLengthExceeded(f"the XML body is over {limit} bytes")
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in request.http.stream():
            size += len(chunk)
            if size > limit:
                raise MaxMessageLengthExceeded(f"the XML body is over {limit} bytes")
            parts.append(chunk)
    except ClientDisconnect:
        raise ClientDisconnected() from None
    raw = b"".join(parts)
    return parse_xml(raw) if parse else raw
