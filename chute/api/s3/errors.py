"""Errors as S3 writes them: an ``<Error>`` document with Code, Message, the resource,
RequestId and HostId, and the HTTP status the error class names."""

from __future__ import annotations

import logging
import os

from starlette.responses import Response

from chute.api.http.logs import RateLimitedWarnings, cause, printable
from chute.api.s3.xml import XML_TYPE, element, leaf, render
from chute.errors import (
    BodyTimeout,
    BucketAlreadyExists,
    ChuteError,
    InvalidRange,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
    NotModified,
)

log = logging.getLogger(__name__)
_outages = RateLimitedWarnings(log)

#: Where requests were answered, as S3's ``x-amz-id-2``: one per server process.
HOST_ID = os.urandom(24).hex()


def request_headers(request_id: str) -> dict[str, str]:
    """The headers S3 puts on every answer."""
    return {"x-amz-request-id": request_id, "x-amz-id-2": HOST_ID, "server": "Chute"}


def error_response(
    error: ChuteError,
    request_id: str,
    *,
    method: str,
    bucket: str | None,
    key: str | None,
    resource: str,
) -> Response:
    """The answer to a request that failed with ``error``. A failing dependency (5xx)
    is logged with its cause, at most once per kind every few seconds."""
    headers = request_headers(request_id)
    if error.status >= 500:
        _outages.warn(
            error.code, "S3 %s %s answered %d: %s", method, printable(resource), error.status,
            cause(error),
        )  # fmt: skip
    if isinstance(error, NotModified):
        return Response(status_code=304, headers=headers)
    status, code = _status_and_code(error)
    if isinstance(error, NoSuchKey) and error.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    marker_version = getattr(error, "delete_marker_version", None)
    if marker_version is not None:
        headers["x-amz-delete-marker"] = "true"
        headers["x-amz-version-id"] = marker_version
    if isinstance(error, InvalidRange):
        headers["content-range"] = f"bytes */{error.size}"
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["retry-after"] = str(int(retry_after))
    if method == "HEAD":  # no body; SDKs read the status only
        return Response(status_code=status, headers=headers)
    fields = [leaf("Code", code), leaf("Message", error.message)]
    if isinstance(error, NoSuchBucket | BucketAlreadyExists) and bucket is not None:
        fields.append(leaf("BucketName", bucket))
    if isinstance(error, NoSuchKey | NoSuchVersion) and key is not None:
        fields.append(leaf("Key", key))
    for name, value in getattr(error, "details", {}).items():
        fields.append(leaf(name, value))
    fields += [leaf("Resource", resource), leaf("RequestId", request_id), leaf("HostId", HOST_ID)]
    body = render(element("Error", *fields)).replace(f' xmlns="{_NS}"'.encode(), b"", 1)
    return Response(body, status_code=status, headers=headers, media_type=XML_TYPE)


_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def _status_and_code(error: ChuteError) -> tuple[int, str]:
    if isinstance(error, BodyTimeout):
        return 400, "RequestTimeout"  # S3 answers a stalled upload with 400
    return error.status, error.code


def internal_error(exc: BaseException, request_id: str, method: str, resource: str) -> Response:
    """The answer to a bug: logged with its traceback, told to the client without it."""
    log.error("S3 request %s on %r failed", request_id, resource, exc_info=exc)
    return error_response(
        ChuteError("We encountered an internal error. Please try again."),
        request_id,
        method=method,
        bucket=None,
        key=None,
        resource=resource,
    )
