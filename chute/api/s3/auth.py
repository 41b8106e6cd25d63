"""Who sent an S3 request: the seam between the S3 front end and authentication.

The front end calls an :data:`Authenticate` function with the request's scope before it
routes the request anywhere; it answers with the request's context (principal and
permissions) and what the body's checks need (the signed payload hash, the signer of
aws-chunked chunks), or raises the S3 error that refuses the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from starlette.types import Scope

from chute.access import Permissions
from chute.api.http.observe import CONTEXT_STATE, unguarded_context
from chute.clock import Clock
from chute.context import RequestContext
from chute.functions.lineage import chain_of
from chute.security.authenticate import Authenticator
from chute.security.keys import KeyService


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
    context = unguarded_context(scope)
    chain = _chain(scope)
    return Authentication(replace(context, chain=chain) if chain else context, payload_hash)


def signed_by(authenticator: Authenticator) -> Authenticate:
    """Authentication by access keys: SigV4 (header or presigned URL) or the bearer
    form; a request with no credentials is anonymous, and may only read public-read
    buckets. Lookups of a key are cached by the key service, so this runs in the event
    loop without a thread hop."""

    def authenticate(scope: Scope) -> Authentication:
        identity = authenticator.authenticate(scope)
        first: RequestContext = scope["state"][CONTEXT_STATE]
        context = identity.context(first.source_ip, first.request_id)
        chain = _chain(scope)
        if chain:
            context = replace(context, chain=chain)
        payload_hash = None
        if identity.authorization is not None:
            payload_hash = identity.authorization.payload_hash
        return Authentication(context, payload_hash, identity.signing_key)

    return authenticate


def key_secrets(keys: KeyService, clock: Clock) -> SecretLookup:
    """The secrets of usable keys, for POST policies."""

    def lookup(access_key: str, /) -> tuple[str, Permissions] | None:
        found = keys.credentials(access_key)
        if found is None or not found.enabled or found.expired(clock()):
            return None
        return found.secret, found.permissions

    return lookup


def _chain(scope: Scope) -> int:
    """How deep in a chain of function invocations the request was made, from the
    ``Lineage`` boto3 copies into ``X-Amzn-Trace-Id`` inside a function."""
    for name, value in scope["headers"]:
        if name == b"x-amzn-trace-id":
            return chain_of(value.decode("latin-1"))
    return 0
