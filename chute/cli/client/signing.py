"""Signing the client's requests with an access key: AWS Signature Version 4, scoped to
service ``s3``, as the server checks it (:mod:`chute.security.sigv4`, whose canonical
forms this reuses, so what is signed is what the server reads).

Bodies the client holds whole (JSON, small uploads) are signed by their SHA-256; streamed
uploads are sent ``UNSIGNED-PAYLOAD`` (the signature covers the headers only; the server
still checks Content-MD5 when given), so a big file is never read twice.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from chute.clock import Clock
from chute.security.sigv4 import (
    ALGORITHM,
    UNSIGNED_PAYLOAD,
    Authorization,
    SignedRequest,
    canonical_request,
    derive_key,
)

SERVICE = "s3"
#: Headers signed besides ``host`` and every ``x-amz-*`` and ``x-chute-*`` header.
SIGNED = frozenset({"host", "content-type", "content-md5"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AccessKey:
    """An access key id and its secret, and where the client found them."""

    access_key: str
    secret_key: str = field(repr=False)
    #: For messages: ``--access-key``, ``CHUTE_ACCESS_KEY``, a profile, a file.
    source: str = ""


class SigV4Signer(httpx.Auth):
    """httpx authentication that signs every request with ``key`` for ``region``."""

    def __init__(self, key: AccessKey, region: str, clock: Clock = _utc_now) -> None:
        self.key = key
        self.region = region
        self.clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sign(request, self.key, self.region, self.clock())
        yield request


def sign(request: httpx.Request, key: AccessKey, region: str, now: datetime) -> None:
    """Add ``x-amz-date``, ``x-amz-content-sha256`` and the ``Authorization`` header."""
    now = now.astimezone(UTC).replace(microsecond=0)
    request.headers["x-amz-date"] = now.strftime("%Y%m%dT%H%M%SZ")
    request.headers["x-amz-content-sha256"] = _payload_hash(request)
    names = tuple(sorted({name.lower() for name in request.headers if _signed(name.lower())}))
    raw_path, _, _ = request.url.raw_path.partition(b"?")
    headers = [(name.lower(), value) for name, value in request.headers.items()]
    wire = SignedRequest(request.method, raw_path, request.url.query, headers)
    auth = Authorization(
        access_key=key.access_key,
        date=now.strftime("%Y%m%d"),
        region=region,
        service=SERVICE,
        signed_headers=names,
        signature="",
        amz_date=now,
        payload_hash=request.headers["x-amz-content-sha256"],
        presigned=False,
    )
    canonical = canonical_request(wire, auth, auth.payload_hash or "", double_encode=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    string_to_sign = "\n".join([ALGORITHM, auth.timestamp, auth.scope, digest])
    signing_key = derive_key(key.secret_key, auth.date, region, SERVICE)
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    request.headers["authorization"] = (
        f"{ALGORITHM} Credential={key.access_key}/{auth.scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )


def _payload_hash(request: httpx.Request) -> str:
    try:
        body = request.content
    except httpx.RequestNotRead:
        return UNSIGNED_PAYLOAD  # a stream: not read here, not buffered
    return hashlib.sha256(body).hexdigest()


def _signed(name: str) -> bool:
    return name in SIGNED or name.startswith(("x-amz-", "x-chute-"))
