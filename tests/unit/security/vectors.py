"""The worked examples of AWS's SigV4 documentation for S3 ("Signature Calculations for
the Authorization Header", "Authenticating Requests: Using Query Parameters", and the
chunked upload pages) as test vectors, and the checks the security tests share."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from chute.security.sigv4 import Authorization, SignedRequest, SigningKey, derive_key, parse, verify

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
TIMESTAMP = "20130524T000000Z"
TIME = datetime(2013, 5, 24, tzinfo=UTC)
SCOPE = "20130524/us-east-1/s3/aws4_request"
CREDENTIAL = f"{ACCESS_KEY}/{SCOPE}"
HOST = "examplebucket.s3.amazonaws.com"

#: "Transferring Payload in Multiple Chunks": 64 KiB then 1 KiB of "a", then the end.
CHUNKED_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNKED_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
#: "Including Trailing Headers": the same data with a CRC32C trailer.
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_CHUNK_SIGNATURES = (
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
)
TRAILER_CRC32C = "sOO8/Q=="
TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
CHUNK_SIZES = (65536, 1024)


def example_key(seed: str) -> SigningKey:
    """The signing key of the examples, chained from ``seed``."""
    key = derive_key(SECRET_KEY, "20130524", REGION, "s3")
    return SigningKey(key, TIMESTAMP, SCOPE, seed)


def example_body(signatures: tuple[str, ...], trailer: bytes = b"") -> bytes:
    """The chunked example body on the wire: signed chunks, the final one, ``trailer``."""
    parts = []
    for size, signature in zip((*CHUNK_SIZES, 0), signatures, strict=True):
        parts.append(f"{size:x};chunk-signature={signature}\r\n".encode())
        if size:
            parts.append(b"a" * size + b"\r\n")
    return b"".join(parts) + (trailer or b"\r\n")


def parsed(request: SignedRequest, now: datetime = TIME) -> Authorization:
    """The credentials of a request that carries some."""
    auth = parse(request, now)
    assert auth is not None
    return auth


def check(request: SignedRequest, now: datetime = TIME, **options: Any) -> SigningKey:
    """Parse and verify ``request`` with the example secret (for ``REGION`` unless told)."""
    region = options.pop("region", REGION)
    return verify(request, parsed(request, now), SECRET_KEY, region=region, **options)


def replace_header(request: SignedRequest, name: str, value: str) -> SignedRequest:
    """``request`` with header ``name`` set to ``value``."""
    headers = [(n, value if n == name else v) for n, v in request.headers]
    return dataclasses.replace(request, headers=headers)


def signed_body(key: SigningKey, chunks: Iterable[bytes]) -> bytes:
    """A ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body of ``chunks`` (and the final empty
    one), their signatures chained from ``key``'s seed."""
    previous, parts = key.seed_signature, []
    for data in (*chunks, b""):
        previous = key.chunk_signature(previous, hashlib.sha256(data).hexdigest())
        parts.append(f"{len(data):x};chunk-signature={previous}\r\n".encode() + data + b"\r\n")
    return b"".join(parts)
