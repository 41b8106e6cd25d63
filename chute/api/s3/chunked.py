"""aws-chunked upload bodies: decoded (and their chunk signatures and trailers checked)
by :mod:`chute.security.chunked`, fed by the request's raw body."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from chute.api.s3.request import S3Request
from chute.blobs.checksums import ExpectedChecksum
from chute.errors import NotImplementedFeature


def decode(
    request: S3Request,
    raw: Iterable[bytes],
    size: int | None,
    checksum: ExpectedChecksum | None,
) -> Iterator[bytes]:
    """The payload of an aws-chunked body."""
    raise NotImplementedFeature("aws-chunked bodies are not decoded yet")
