"""Object headers: user metadata in requests; ETag, Last-Modified and the rest in answers;
conditional requests (``If-Match``, ``If-None-Match``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Final

from starlette.requests import Request

from chute.catalog import ObjectVersion
from chute.errors import ChuteError, NotModified, PreconditionFailed

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


def check_conditions(
    headers: Mapping[str, str], version: ObjectVersion, *, prefix: str = ""
) -> None:
    """Apply the conditional headers of a read (RFC 9110, section 13.2.2, as S3 does):
    ``If-Match`` (412 on mismatch; when given, ``If-Unmodified-Since`` is not looked
    at), ``If-Unmodified-Since`` (412), ``If-None-Match`` (304 on a match; when given,
    ``If-Modified-Since`` is not looked at) and ``If-Modified-Since`` (304).

    With ``prefix`` (``x-amz-copy-source-``) they apply to a copy's source, and every
    failed condition is a 412, as S3 answers copies."""
    etag = quoted_etag(version)
    modified = version.created_at.replace(microsecond=0)
    not_modified: ChuteError = PreconditionFailed() if prefix else NotModified()
    if_match = headers.get(prefix + "if-match")
    if if_match is not None:
        if not _etag_matches(if_match, etag):
            raise PreconditionFailed()
    else:
        since = _http_date(headers.get(prefix + "if-unmodified-since"))
        if since is not None and modified > since:
            raise PreconditionFailed()
    if_none_match = headers.get(prefix + "if-none-match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, etag):
            raise not_modified
    else:
        since = _http_date(headers.get(prefix + "if-modified-since"))
        if since is not None and modified <= since:
            raise not_modified


def _http_date(value: str | None) -> datetime | None:
    """An HTTP date; ``None`` for none or one that does not parse (ignored, per RFC)."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = {item.strip().removeprefix("W/") for item in header.split(",")}
    return "*" in candidates or etag in candidates or etag.strip('"') in candidates
