"""The Lambda API (service ``lambda``, REST-JSON): AWS Lambda's front end over Chute's
functions, answered as Lambda answers, so boto3's ``lambda`` client and ``aws lambda``
work unchanged. Operations live in :mod:`.invoke`, :mod:`.functions`, :mod:`.policy`
and :mod:`.layers`; what they share in :mod:`.routing`.

The root app sends a request here when its SigV4 credential scope names ``lambda``
(:func:`chute.api.root.signed_service`), so a bucket named like a Lambda path stays a
bucket. Lambda's clients sign the hash of the body without sending it, so the body is
read (up to the operation's limit) before the signature is checked.
"""

from __future__ import annotations

import logging

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from chute.api.awslambda import functions, invoke, layers, policy  # noqa: F401 (routes)
from chute.api.awslambda.routing import (
    API_NAME,
    SERVICE,
    LambdaRequest,
    LambdaServices,
    RequestTooLarge,
    ServiceError,
    error_response,
    resolve,
)
from chute.api.http.body import read_small_body
from chute.api.http.observe import (
    CONTEXT_STATE,
    OPERATION_SCOPE,
    ObservedRequests,
    unguarded_context,
)
from chute.context import RequestContext
from chute.errors import AccessDenied, ChuteError, MaxMessageLengthExceeded

log = logging.getLogger(__name__)


class LambdaApp:
    """The ASGI application of the Lambda API."""

    def __init__(self, services: LambdaServices) -> None:
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        context: RequestContext = scope["state"][CONTEXT_STATE]
        try:
            found, params = resolve(scope)
            scope[OPERATION_SCOPE] = found.operation
            http = Request(scope, receive)
            body = await _body(http, self.services.body_timeout_seconds, found.max_body)
            context = await self._authenticate(scope, context, body)
            scope["state"][CONTEXT_STATE] = context
            if found.admin and not context.permissions.is_admin:
                raise AccessDenied(f"{context.principal} may not call {found.operation}")
            request = LambdaRequest(http, self.services, context, params, body)
            response = await found.handler(request)
        except ChuteError as error:
            response = error_response(error)
        except Exception:
            log.exception("Lambda API %s %s failed", scope["method"], scope["path"])
            response = error_response(ServiceError())
        response.headers["x-amzn-requestid"] = context.request_id
        await response(scope, receive, send)

    async def _authenticate(
        self, scope: Scope, context: RequestContext, body: bytes
    ) -> RequestContext:
        authenticator = self.services.authenticator
        if authenticator is None:
            return unguarded_context(scope)  # authentication off: anyone may do anything
        identity = await anyio.to_thread.run_sync(authenticator.authenticate, scope, SERVICE, body)
        return identity.context(context.source_ip, context.request_id)


async def _body(http: Request, seconds: float, limit: int) -> bytes:
    """The request's body, up to the operation's ``limit``."""
    try:
        return await read_small_body(http, seconds, limit)
    except MaxMessageLengthExceeded:
        raise RequestTooLarge(f"Request must be smaller than {limit} bytes") from None


def create_lambda_app(services: LambdaServices) -> ASGIApp:
    """The Lambda API over ``services``, observed by its hooks."""
    return ObservedRequests(LambdaApp(services), hooks=services.hooks, api=API_NAME)
