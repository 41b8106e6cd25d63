"""aws-chunked upload bodies: decoded (and their chunk signatures and trailers checked)
by :mod:`chute.security.chunked`, fed by the request's raw body."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from chute.api.s3.request import S3Request
from chute.blobs.checksums import ExpectedChecksum
from chute.security.chunked import ChunkedDecoder
from chute.security.payload import payload_kind
from chute.security.sigv4 import SignedRequest, SigningKey


def decode(
    request: S3Request,
    raw: Iterable[bytes],
    size: int | None,
    checksum: ExpectedChecksum | None,
) -> Iterator[bytes]:
    """The payload of an aws-chunked body. A trailing checksum sets ``checksum``'s
    value as the body ends, so the object service checks it before recording."""
    kind = payload_kind(request.payload_hash or "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    key = request.chunk_signer if isinstance(request.chunk_signer, SigningKey) else None
    if not kind.signed_chunks:
        key = None  # nothing to check: only the headers were signed
    trailer = _trailer_of(request, checksum)
    decoder = ChunkedDecoder.for_request(
        SignedRequest.from_scope(request.http.scope),
        kind,
        signing_key=key,
        unchecked=key is None and kind.signed_chunks,
    )
    yield from decoder.decode(raw)
    if checksum is not None and trailer is not None:
        checksum.value = decoder.trailers.get(trailer)


def _trailer_of(request: S3Request, checksum: ExpectedChecksum | None) -> str | None:
    """The trailer carrying the body's checksum, if it comes in one."""
    if checksum is None or checksum.value is not None:
        return None
    return checksum.algorithm.header
