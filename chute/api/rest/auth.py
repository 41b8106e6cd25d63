"""Authentication of the JSON API: every request but the health probes must be signed
by an access key (SigV4, as S3 SDKs sign, with service ``s3``; a presigned URL; or the
bearer form ``Authorization: Bearer KEY_ID:SECRET``).

:class:`Authentication` is a dependency of every route. It asks the
:class:`~chute.security.authenticate.Authenticator` who signed the request, refuses
anonymous ones with 403 ``AccessDenied``, and puts the signer's context in the request's
state, so the services' permission checks and the hooks see who asked. When the client
signed the body's SHA-256, the body is checked against it: here for the small JSON
bodies, by the object service for uploads, which it streams.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from chute.api.http.observe import CONTEXT_STATE
from chute.api.rest.deps import request_context, services
from chute.errors import AccessDenied, EntityTooLarge, InvalidRequest, MissingContentLength
from chute.security.authenticate import Identity

#: Where the request's :class:`Identity` is kept in its state.
IDENTITY_STATE: Final = "chute_identity"
#: Routes whose handlers stream the body and check the signed SHA-256 themselves (keep
#: in step with ``objects.put_object``, which hands it to the object service).
STREAMED_BODIES: Final = frozenset({"put_object"})
#: The largest body checked here against a signed SHA-256 (JSON bodies are far smaller).
MAX_CHECKED_BODY: Final = 1024 * 1024


class Authentication:
    """The dependency that authenticates a request; routes in ``public`` (paths such as
    ``/_/api/v1/health``) are left alone."""

    def __init__(self, public: Iterable[str]) -> None:
        self.public = frozenset(public)

    async def __call__(self, request: Request) -> None:
        authenticator = services(request).authenticator
        if authenticator is None or request.scope["path"] in self.public:
            return
        identity = await run_in_threadpool(authenticator.authenticate, request.scope)
        if identity.anonymous:
            raise AccessDenied(
                "Access Denied: sign the request with an access key (SigV4), or send"
                " Authorization: Bearer KEY_ID:SECRET"
            )
        if identity.payload.chunked:
            raise InvalidRequest(
                "the JSON API takes x-amz-content-sha256 UNSIGNED-PAYLOAD or the body's"
                " SHA-256, not an aws-chunked body"
            )
        context = request_context(request)
        setattr(
            request.state, CONTEXT_STATE, identity.context(context.source_ip, context.request_id)
        )
        setattr(request.state, IDENTITY_STATE, identity)
        endpoint = request.scope.get("endpoint")
        streamed = getattr(endpoint, "__name__", None) in STREAMED_BODIES
        if identity.content_sha256 is not None and not streamed:
            await _check_body(request, identity)


def request_identity(request: Request) -> Identity | None:
    """Who signed the request (``None`` when authentication is off)."""
    identity: Identity | None = getattr(request.state, IDENTITY_STATE, None)
    return identity


def signed_sha256(request: Request) -> str | None:
    """The SHA-256 the client signed its body with, for a handler that streams the body
    to check it on the way."""
    identity = request_identity(request)
    return identity.content_sha256 if identity is not None else None


async def _check_body(request: Request, identity: Identity) -> None:
    length = request.headers.get("content-length")
    if length is None and "chunked" in request.headers.get("transfer-encoding", "").lower():
        raise MissingContentLength("a body whose SHA-256 is signed needs a Content-Length")
    if length is not None and length.isdigit() and int(length) > MAX_CHECKED_BODY:
        raise EntityTooLarge(f"a signed JSON body is at most {MAX_CHECKED_BODY} bytes")
    # The route's request reads the body once, within its size cap and timeout, and
    # keeps it for the handler.
    body = await request.body()
    assert identity.authorization is not None  # a signed SHA-256 comes with SigV4
    identity.authorization.check_content_sha256(hashlib.sha256(body).hexdigest())
