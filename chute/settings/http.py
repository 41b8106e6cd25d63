"""The shape of ``[http]`` in chute.toml: what the server accepts from a connection."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

KiB = 1024
MiB = 1024 * KiB


class HttpSettings(BaseModel):
    """``[http]``: limits every connection meets before any handler sees a request, so
    no client can make the server buffer without bound or hold its file descriptors.

    They apply to every front end on the port (the JSON API and the S3 API alike)."""

    model_config = ConfigDict(extra="forbid")

    #: Largest request head (request line and headers), in bytes; 431 beyond it. S3
    #: allows 8 KiB of headers on a PUT, but SigV4 headers and presigned URLs run long.
    max_header_bytes: int = Field(default=64 * KiB, ge=1 * KiB, le=1 * MiB)
    #: Most header fields in one request; 431 beyond it.
    max_headers: int = Field(default=100, ge=8, le=10_000)
    #: Longest request target (path and query), in bytes; 414 beyond it.
    max_url_bytes: int = Field(default=16 * KiB, ge=256, le=1 * MiB)
    #: Largest body of a request that is not an object's bytes (a JSON document, later
    #: S3's XML), read whole into memory; 400 ``MaxMessageLengthExceeded`` beyond it.
    max_small_body_bytes: int = Field(default=1 * MiB, ge=1 * KiB, le=64 * MiB)
    #: A connection must deliver a request's whole head this many seconds after it
    #: opened, or after the request's first byte; otherwise it is closed (slowloris).
    header_timeout_seconds: float = Field(default=15.0, gt=0)
    #: An idle connection between two requests is closed after this many seconds.
    keep_alive_seconds: float = Field(default=5.0, gt=0)
    #: Most connections open at once. Further ones are answered 503 ``SlowDown`` and
    #: closed; the cap is lowered at start if the process may not open enough files.
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)
    #: When the server closes a connection whose request it has not read to the end (a
    #: refused upload, a head too large), it reads and drops what still arrives for up to
    #: this many seconds first, so the client gets the answer rather than a reset.
    linger_seconds: float = Field(default=5.0, ge=0)
