"""An S3 request as the handlers see it: bucket, key and query, parsed once.

The bucket comes from the path (``/bucket/key``) or, when ``s3.domain`` is set, from the
host (``bucket.s3.example.test``). The key is decoded from the raw path, so ``%2F`` and
invalid UTF-8 are what the client sent, not what a router made of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.requests import Request
from starlette.types import Scope

from chute.context import RequestContext
from chute.names import bucket_of_host, decode_key


@dataclass(frozen=True, slots=True)
class Target:
    """What a request is about: the service (no bucket), a bucket, or an object."""

    bucket: str | None
    key: str | None


def target_of(scope: Scope, domain: str | None) -> Target:
    """The bucket and key a request names, path-style or virtual-host style."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    raw_path = raw_path.split(b"?", 1)[0]
    bucket = bucket_in_host(scope, domain)
    if bucket is not None:
        key = raw_path[1:] if raw_path.startswith(b"/") else raw_path
        return Target(bucket, decode_key(unquote_to_bytes(key)) if key else None)
    path = raw_path[1:] if raw_path.startswith(b"/") else raw_path
    if not path:
        return Target(None, None)
    name, slash, key = path.partition(b"/")
    decoded = unquote_to_bytes(name).decode("utf-8", "replace")
    if not slash or not key:
        return Target(decoded, None)
    return Target(decoded, decode_key(unquote_to_bytes(key)))


def bucket_in_host(scope: Scope, domain: str | None) -> str | None:
    """The bucket a virtual-host style request names in its Host header, if any."""
    for name, value in scope["headers"]:
        if name == b"host":
            return bucket_of_host(value.decode("latin-1"), domain)
    return None


def query_of(scope: Scope) -> dict[str, str]:
    """The query parameters (the first value of each), empty values kept:
    ``?uploads`` is ``{"uploads": ""}``."""
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return {}
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        query.setdefault(name, value)
    return query


@dataclass(slots=True)
class S3Request:
    """One request: the HTTP request, what it names, who sent it."""

    http: Request
    target: Target
    query: dict[str, str]
    context: RequestContext
    #: The request's ``x-amz-content-sha256`` as authentication left it (``None``:
    #: not sent, or not authenticated).
    payload_hash: str | None = None
    #: Verifies aws-chunked chunk signatures, when the body is signed chunk by chunk.
    chunk_signer: object | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def bucket(self) -> str:
        assert self.target.bucket is not None
        return self.target.bucket

    @property
    def key(self) -> str:
        assert self.target.key is not None
        return self.target.key

    @property
    def headers(self) -> dict[str, str]:
        """Request headers by lower-case name (the first of repeated ones)."""
        return self.http.headers  # type: ignore[return-value]

    @property
    def resource(self) -> str:
        """The resource named in error answers: ``/bucket/key``."""
        parts = [part for part in (self.target.bucket, self.target.key) if part is not None]
        return "/" + "/".join(parts)
