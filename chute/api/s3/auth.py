"""Who sent an S3 request: the seam between the S3 front end and authentication.

The front end calls an :data:`Authenticate` function with the request's scope before it
routes the request anywhere; it answers with the request's context (principal and
permissions) and what the body's checks need (the signed payload hash, the signer of
aws-chunked chunks), or raises the S3 error that refuses the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from starlette.types import Scope

from chute.access import Permissions
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


class SecretLookup(Protocol):
    """Finds an access key's secret and rights, for what is signed outside a request's
    own headers: the POST policy of a browser upload (:mod:`chute.api.s3.post`)."""

    def __call__(self, access_key: str, /) -> tuple[str, Permissions] | None:
        """The key's secret and permissions; ``None`` when no key of that id may be
        used (none exists, or it is disabled or expired)."""


def unguarded(scope: Scope) -> Authentication:
    """Authentication turned off: every request may do anything. The payload hash is
    still taken, so a body that does not match what the client hashed is refused."""
    payload_hash = None
    for name, value in scope["headers"]:
        if name == b"x-amz-content-sha256":
            payload_hash = value.decode("latin-1")
    return Authentication(unguarded_context(scope), payload_hash)
