"""The S3 API: an ASGI application over the same object service the JSON API uses.

It routes by itself (:mod:`~chute.api.s3.operations`), since S3 names operations by
query subresources rather than paths; every handler is thin: parse the request, call
the service in a worker thread, write S3's XML or headers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from chute.api.http.observe import CONTEXT_STATE, OPERATION_SCOPE, ObservedRequests
from chute.api.s3 import (  # noqa: F401  (they register routes)
    buckets,
    cors,
    listing,
    multipart,
    notifications,
    objects,
    post,
)
from chute.api.s3.auth import Authentication
from chute.api.s3.errors import error_response, internal_error, request_headers
from chute.api.s3.operations import resolve
from chute.api.s3.request import S3Request, Target, query_of, target_of
from chute.api.s3.services import SERVICES_SCOPE, S3Services
from chute.context import RequestContext
from chute.errors import ChuteError

#: How the hooks name this front end.
API_NAME = "s3"


class S3App:
    """The ASGI application of the S3 API."""

    def __init__(self, services: S3Services) -> None:
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        scope[SERVICES_SCOPE] = self.services
        response = await self._answer(scope, receive)
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> Response:
        context: RequestContext = scope["state"][CONTEXT_STATE]
        method = scope["method"]
        target = Target(None, None)
        try:
            target = target_of(scope, self.services.domain)
            http = Request(scope, receive)
            query = query_of(scope)
            operation = resolve(method, target, query, http.headers)  # type: ignore[arg-type]
            scope[OPERATION_SCOPE] = operation.name
            auth = (
                Authentication(context)
                if operation.anonymous
                else self.services.authenticate(scope)
            )
            context = auth.context
            scope["state"][CONTEXT_STATE] = context
            request = S3Request(http, target, query, context, auth.payload_hash, auth.chunk_signer)
            response = await operation.handler(request)
        except ChuteError as error:
            response = error_response(
                error,
                context.request_id,
                method=method,
                bucket=target.bucket,
                key=target.key,
                resource=_resource(target),
            )
        except Exception as exc:
            response = internal_error(exc, context.request_id, method, _resource(target))
        response.headers.update(request_headers(context.request_id))
        return response


def _resource(target: Target) -> str:
    parts = [part for part in (target.bucket, target.key) if part is not None]
    return "/" + "/".join(parts)


def create_s3_app(services: S3Services) -> ASGIApp:
    """The S3 API over ``services``, with its buckets' CORS headers, observed by its
    hooks."""
    app = cors.CorsHeaders(S3App(services), services)
    return ObservedRequests(app, hooks=services.hooks, api=API_NAME)
