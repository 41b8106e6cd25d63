"""Who sent an S3 request: the seam between the S3 front end and authentication.

The front end calls an :data:`Authenticate` function with the request's scope before it
routes the request anywhere; it answers with the request's context (principal and
permissions) and what the body's checks need (the signed payload hash, the signer of
aws-chunked chunks), or raises the S3 error that refuses the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Scope

from chute.api.http.observe import unguarded_context
from chute.context import RequestContext


@dataclass(frozen=True, slots=True)
class Authentication:
    """What authenticating a request established."""

    context: RequestContext
    #: ``x-amz-content-sha256`` as signed (``None`` when the request was not signed).
    payload_hash: str | None = None
    #: Verifies chunk signatures of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body.
    chunk_signer: object | None = None


Authenticate = Callable[[Scope], Authentication]


def unguarded(scope: Scope) -> Authentication:
    """Authentication turned off: every request may do anything. The payload hash is
    still taken, so a body that does not match what the client hashed is refused."""
    payload_hash = None
    for name, value in scope["headers"]:
        if name == b"x-amz-content-sha256":
            payload_hash = value.decode("latin-1")
    return Authentication(unguarded_context(scope), payload_hash)
