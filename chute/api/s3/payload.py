"""Upload bodies as S3 clients send them: plain (with a signed SHA-256 or
``UNSIGNED-PAYLOAD``) or ``aws-chunked`` (signed chunks, or unsigned with a trailing
checksum), with the size and checksums the service checks before recording anything."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from chute.api.http.body import BLOCK, BodyStream, content_length, read_small_body
from chute.api.s3.chunked import decode
from chute.api.s3.headers import expected_checksum
from chute.api.s3.request import S3Request
from chute.api.s3.services import services_of
from chute.blobs.checksums import ExpectedChecksum
from chute.errors import EntityTooLarge, InvalidArgument, InvalidRequest, MissingContentLength

UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING = "STREAMING-"


@dataclass(slots=True)
class Upload:
    """An upload's body and what it must turn out to be."""

    body: Iterable[bytes]
    #: The size of the object (after aws-chunked decoding); ``None``: not declared.
    size: int | None
    #: The hex SHA-256 the client signed, to check the bytes against.
    sha256: str | None
    checksum: ExpectedChecksum | None


def is_aws_chunked(request: S3Request) -> bool:
    payload = request.payload_hash or ""
    encoding = request.headers.get("content-encoding", "")
    return payload.startswith(STREAMING) or "aws-chunked" in encoding


def declared_size(request: S3Request) -> int | None:
    """The object's size as declared: ``x-amz-decoded-content-length`` for an
    aws-chunked body, else Content-Length (``None`` for a chunked transfer)."""
    if is_aws_chunked(request):
        value = request.headers.get("x-amz-decoded-content-length")
        if value is None:
            raise MissingContentLength("an aws-chunked body needs x-amz-decoded-content-length")
        if not value.isdigit():
            raise InvalidArgument("x-amz-decoded-content-length must be an integer")
        return int(value)
    return content_length(request.http)


@asynccontextmanager
async def upload_body(request: S3Request, max_size: int) -> AsyncIterator[Upload]:
    """The body of an upload of at most ``max_size`` bytes, streamed (read ahead in the
    event loop while a worker thread stores it) unless it is small."""
    size = declared_size(request)
    if size is not None and size > max_size:
        raise EntityTooLarge(f"{size} bytes exceed the maximum of {max_size}")
    checksum = expected_checksum(request.headers)
    sha256 = _signed_sha256(request.payload_hash)
    timeout = services_of(request).body_timeout_seconds
    raw_length = request.headers.get("content-length")
    if raw_length is not None and raw_length.isdigit() and int(raw_length) <= BLOCK:
        raw: Iterable[bytes] = [await read_small_body(request.http, timeout, BLOCK)]
        yield _decoded(request, raw, size, sha256, checksum)
        return
    stream = BodyStream(request.http, timeout)
    try:
        yield _decoded(request, stream, size, sha256, checksum)
    finally:
        await stream.close()


def _decoded(
    request: S3Request,
    raw: Iterable[bytes],
    size: int | None,
    sha256: str | None,
    checksum: ExpectedChecksum | None,
) -> Upload:
    if not is_aws_chunked(request):
        return Upload(raw, size, sha256, checksum)
    return Upload(decode(request, raw, size, checksum), size, None, checksum)


def _signed_sha256(payload_hash: str | None) -> str | None:
    """The hex SHA-256 a signed request promised for its body, if it did."""
    if payload_hash is None or payload_hash == UNSIGNED or payload_hash.startswith(STREAMING):
        return None
    value = payload_hash.lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidRequest("x-amz-content-sha256 must be a hex SHA-256 or a payload kind")
    return value
