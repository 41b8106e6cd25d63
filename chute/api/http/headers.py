"""Object headers: user metadata in requests; ETag, Last-Modified and the rest in answers;
conditional requests (``If-Match``, ``If-None-Match``)."""

from __future__ import annotations

from email.utils import format_datetime
from typing import Final

from starlette.requests import Request

from chute.catalog import ObjectVersion
from chute.errors import NotModified, PreconditionFailed

METADATA_PREFIX: Final = "x-chute-meta-"


def user_metadata(request: Request) -> dict[str, str]:
    """``x-chute-meta-*`` request headers, names lower-cased, without the prefix."""
    return {
        name[len(METADATA_PREFIX) :]: value
        for name, value in request.headers.items()
        if name.startswith(METADATA_PREFIX)
    }


def quoted_etag(version: ObjectVersion) -> str:
    return f'"{version.etag}"'


def object_headers(version: ObjectVersion) -> dict[str, str]:
    """Headers describing an object version on GET and HEAD."""
    headers = {
        "etag": quoted_etag(version),
        "last-modified": format_datetime(version.created_at, usegmt=True),
        "content-type": version.content_type,
        "accept-ranges": "bytes",
        "x-chute-version-id": version.version_id,
        "x-chute-sha256": version.sha256,
    }
    for name, value in version.user_metadata.items():
        headers[METADATA_PREFIX + name] = value
    return headers


def check_conditions(request: Request, version: ObjectVersion) -> None:
    """Apply ``If-Match`` (412 on mismatch) and ``If-None-Match`` (304 on a match)."""
    etag = quoted_etag(version)
    if_match = request.headers.get("if-match")
    if if_match is not None and not _etag_matches(if_match, etag):
        raise PreconditionFailed()
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, etag):
        raise NotModified()


def _etag_matches(header: str, etag: str) -> bool:
    candidates = {item.strip().removeprefix("W/") for item in header.split(",")}
    return "*" in candidates or etag in candidates
