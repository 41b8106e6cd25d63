"""Small request bodies of the S3 API (XML documents), read whole under a size cap, and
the integrity check some operations require of them."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Literal, overload

from chute.api.http.body import read_small_body
from chute.api.http.digests import content_md5
from chute.api.s3.headers import expected_checksum
from chute.api.s3.request import S3Request
from chute.api.s3.services import services_of
from chute.api.s3.xml import parse as parse_xml
from chute.errors import BadDigest, InvalidRequest


@overload
async def read_xml(request: S3Request, *, parse: Literal[True] = True) -> ET.Element: ...


@overload
async def read_xml(request: S3Request, *, parse: Literal[False]) -> bytes: ...


async def read_xml(request: S3Request, *, parse: bool = True) -> ET.Element | bytes:
    """The request's XML document (or its raw bytes), refused past ``s3.max_xml_bytes``
    from its Content-Length before reading, or as soon as a chunked body passes it; a
    client that stalls gets 408 (:func:`chute.api.http.read_small_body`)."""
    found = services_of(request)
    raw = await read_small_body(request.http, found.body_timeout_seconds, found.max_xml_bytes)
    return parse_xml(raw) if parse else raw


def check_integrity(request: S3Request, raw: bytes) -> None:
    """Operations that S3 requires a body digest of (DeleteObjects, bucket configuration
    such as PutBucketCors) must carry Content-MD5 or an ``x-amz-checksum-*`` header
    (current SDKs send a CRC32); either is checked against the body."""
    md5 = content_md5(request.headers.get("content-md5"))
    checksum = expected_checksum(request.headers)
    if md5 is None and checksum is None:
        raise InvalidRequest(
            "Missing required header for this request: Content-MD5 or x-amz-checksum-*"
        )
    if md5 is not None and hashlib.md5(raw, usedforsecurity=False).hexdigest() != md5:
        raise BadDigest()
    if checksum is not None:
        checksum.update(raw)
        checksum.check()
