"""The Lambda API (service ``lambda``, REST-JSON under ``/2015-03-31/``) over
:class:`~chute.functions.service.Functions`: Invoke, GetFunction,
GetFunctionConfiguration and ListFunctions, answered as Lambda answers them, so boto3's
``lambda`` client and ``aws lambda`` work unchanged.

The root app sends a request here when its SigV4 credential scope names ``lambda``
(:func:`chute.api.root.signed_service`), so a bucket named like a Lambda path stays a
bucket. Every operation needs administrative rights until function policies exist.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from chute.api.http.body import read_small_body
from chute.api.http.observe import (
    CONTEXT_STATE,
    OPERATION_SCOPE,
    ObservedRequests,
    unguarded_context,
)
from chute.context import RequestContext
from chute.errors import (
    AccessDenied,
    ChuteError,
    InvalidParameterValue,
    MaxMessageLengthExceeded,
    ResourceNotFound,
    TooManyRequests,
)
from chute.functions.definitions import Function
from chute.functions.environment import LATEST, InvocationResult
from chute.functions.service import Functions
from chute.hooks import Hooks
from chute.pipelines.functions import FunctionQueue
from chute.security.authenticate import Authenticator

log = logging.getLogger(__name__)

#: How the hooks name this front end, and the service its requests are signed for.
API_NAME = SERVICE = "lambda"
#: Largest synchronous (RequestResponse) and asynchronous (Event) payload.
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_EVENT_PAYLOAD = 1024 * 1024
#: How much of the log ``LogType: Tail`` returns.
LOG_TAIL_BYTES = 4 * 1024
VERSION = "/2015-03-31"


@dataclass(frozen=True, slots=True)
class LambdaServices:
    """What the Lambda API is built with."""

    functions: Functions
    hooks: Hooks
    #: ``None``: authentication is off and every request may do anything.
    authenticator: Authenticator | None
    body_timeout_seconds: float
    #: Queues ``InvocationType: Event`` invocations (``None``: not available here).
    queue: FunctionQueue | None = None


Handler = Callable[["LambdaRequest"], Awaitable[Response]]
_ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = []


def route(method: str, path: str, name: str) -> Callable[[Handler], Handler]:
    pattern = re.compile(VERSION + path.replace("{name}", "(?P<name>[^/]+)") + "/?")

    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, pattern, name, handler))
        return handler

    return register


@dataclass(frozen=True, slots=True)
class LambdaRequest:
    http: Request
    services: LambdaServices
    context: RequestContext
    name: str | None
    body: bytes


class LambdaApp:
    """The ASGI application of the Lambda API."""

    def __init__(self, services: LambdaServices) -> None:
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        context: RequestContext = scope["state"][CONTEXT_STATE]
        try:
            (operation, handler), name = _resolve(scope)
            scope[OPERATION_SCOPE] = operation
            http = Request(scope, receive)
            # Lambda's clients sign the body's hash without sending it: read it first.
            body = await _body(http, self.services.body_timeout_seconds)
            context = await self._authenticate(scope, context, body)
            scope["state"][CONTEXT_STATE] = context
            if not context.permissions.is_admin:
                raise AccessDenied(f"{context.principal} may not use the Lambda API")
            response = await handler(LambdaRequest(http, self.services, context, name, body))
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


async def _body(http: Request, seconds: float) -> bytes:
    """The request's body, up to the largest invocation payload (and a little more, so
    that a payload just over the limit is told so by :func:`_payload`)."""
    try:
        return await read_small_body(http, seconds, MAX_SYNC_PAYLOAD + 1)
    except MaxMessageLengthExceeded:
        raise RequestTooLarge(
            f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction "
            "operation"
        ) from None


def _resolve(scope: Scope) -> tuple[tuple[str, Handler], str | None]:
    path = scope["path"]
    allowed = False
    for method, pattern, name, handler in _ROUTES:
        found = pattern.fullmatch(path)
        if found is None:
            continue
        allowed = True
        if method == scope["method"]:
            return (name, handler), found.groupdict().get("name")
    if allowed:
        raise UnsupportedOperation(f"{scope['method']} is not supported on {path}")
    raise UnsupportedOperation(f"no Lambda operation at {path}")


class UnsupportedOperation(ChuteError):
    """The operation is not supported."""

    code = "UnsupportedOperationException"
    status = 400


class ServiceError(ChuteError):
    """An internal error occurred; the request can be sent again."""

    code = "ServiceException"
    status = 500


class RequestTooLarge(ChuteError):
    """The request payload exceeded the limit."""

    code = "RequestTooLargeException"
    status = 413


#: The names AWS's JSON services give the errors Chute's S3 side names its own way.
_AWS_CODES = {
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "RequestTimeTooSkewed": "InvalidSignatureException",
    "AuthorizationHeaderMalformed": "IncompleteSignatureException",
    "InvalidAccessKeyId": "UnrecognizedClientException",
    "ExpiredToken": "ExpiredTokenException",
    "AccessDenied": "AccessDeniedException",
    "InvalidArgument": "InvalidParameterValueException",
}


def error_response(error: ChuteError) -> Response:
    """Lambda's error answer: the type in ``x-amzn-ErrorType`` and a JSON body."""
    status = error.status
    code = _AWS_CODES.get(error.code, error.code)
    if status == 403 and not code.endswith("Exception"):
        code = "AccessDeniedException"
    body: dict[str, Any] = {"Type": "User" if status < 500 else "Service", "message": error.message}
    if isinstance(error, TooManyRequests) and error.reason:
        body["Reason"] = error.reason
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"x-amzn-errortype": code},
    )


def _json(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document), status_code=status, media_type="application/json")


# --- operations ---------------------------------------------------------------------


@route("POST", "/functions/{name}/invocations", "Invoke")
async def invoke(request: LambdaRequest) -> Response:
    assert request.name is not None
    functions = request.services.functions
    function = functions.get(request.name)
    _check_qualifier(request)
    kind = request.http.headers.get("x-amz-invocation-type", "RequestResponse")
    if kind not in ("RequestResponse", "Event", "DryRun"):
        raise InvalidParameterValue(
            f"InvocationType {kind!r} is not one of RequestResponse, Event, DryRun"
        )
    limit = MAX_EVENT_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
    payload = _payload(request.body, limit)
    if kind == "DryRun":
        return Response(status_code=204, headers={"x-amz-executed-version": LATEST})
    if kind == "Event":
        queue = request.services.queue
        if queue is None:
            raise UnsupportedOperation("asynchronous invocation is not available here")
        event = json.loads(payload)
        request_id = request.context.request_id
        await anyio.to_thread.run_sync(queue.enqueue, function.name, event, request_id)
        return Response(status_code=202, headers={"x-amz-executed-version": LATEST})
    client_context = request.http.headers.get("x-amz-client-context")
    result = await anyio.to_thread.run_sync(
        lambda: functions.invoke(
            function.name,
            payload,
            request_id=request.context.request_id,
            client_context=_decoded(client_context),
        )
    )
    return _invoked(request, result)


def _check_qualifier(request: LambdaRequest) -> None:
    qualifier = request.http.query_params.get("Qualifier")
    if qualifier not in (None, LATEST):
        raise ResourceNotFound(f"Function not found: {request.name}:{qualifier}")


def _payload(payload: bytes, limit: int) -> bytes:
    if len(payload) > limit:
        raise RequestTooLarge(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )
    if payload:
        try:
            json.loads(payload)
        except ValueError:
            raise InvalidRequestContent("Could not parse request body into json") from None
    return payload or b"{}"


class InvalidRequestContent(ChuteError):
    """The request body could not be parsed as JSON."""

    code = "InvalidRequestContentException"
    status = 400


def _decoded(client_context: str | None) -> str | None:
    """``X-Amz-Client-Context`` is base64 JSON; the runtime gets the JSON."""
    if client_context is None:
        return None
    try:
        return base64.b64decode(client_context, validate=True).decode()
    except ValueError:
        raise InvalidParameterValue("X-Amz-Client-Context must be base64-encoded JSON") from None


def _invoked(request: LambdaRequest, result: InvocationResult) -> Response:
    headers = {"x-amz-executed-version": LATEST}
    if result.failed:
        headers["x-amz-function-error"] = "Unhandled"
    if request.http.headers.get("x-amz-log-type", "None") == "Tail":
        text = "\n".join(result.log).encode()[-LOG_TAIL_BYTES:] + b"\n"
        headers["x-amz-log-result"] = base64.b64encode(text).decode()
    return Response(result.payload, media_type="application/json", headers=headers)


@route("GET", "/functions", "ListFunctions")
async def list_functions(request: LambdaRequest) -> Response:
    functions = request.services.functions.list()
    return _json({"Functions": [configuration(f) for f in functions]})


@route("GET", "/functions/{name}", "GetFunction")
async def get_function(request: LambdaRequest) -> Response:
    assert request.name is not None
    function = request.services.functions.get(request.name)
    code = {"RepositoryType": "S3" if function.managed else "Chute", "Location": _where(function)}
    return _json({"Configuration": configuration(function), "Code": code})


@route("GET", "/functions/{name}/configuration", "GetFunctionConfiguration")
async def get_configuration(request: LambdaRequest) -> Response:
    assert request.name is not None
    return _json(configuration(request.services.functions.get(request.name)))


def _where(function: Function) -> str:
    code = function.code
    return code.path if code.path is not None else f"chute-blob:{code.blob}"


def configuration(function: Function) -> dict[str, Any]:
    """A function's ``FunctionConfiguration``, as Lambda writes it."""
    config = function.config
    document: dict[str, Any] = {
        "FunctionName": function.name,
        "FunctionArn": function.arn,
        "Runtime": config.runtime,
        "Handler": config.handler,
        "Timeout": math.ceil(config.timeout_seconds),
        "MemorySize": config.memory_mb,
        "EphemeralStorage": {"Size": config.ephemeral_storage_mb},
        "Version": LATEST,
        "PackageType": "Zip",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "RevisionId": function.revision,
        "CodeSha256": function.code.sha256,
        "CodeSize": function.code.size,
        "Architectures": ["x86_64"],
        "Layers": [{"Arn": arn} for arn in function.layer_arns]
        or [{"Arn": source.path or ""} for source in function.layers],
    }
    if function.last_modified is not None:
        document["LastModified"] = function.last_modified.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if config.environment:
        document["Environment"] = {"Variables": dict(config.environment)}
    return document


def create_lambda_app(services: LambdaServices) -> ASGIApp:
    """The Lambda API over ``services``, observed by its hooks."""
    return ObservedRequests(LambdaApp(services), hooks=services.hooks, api=API_NAME)
