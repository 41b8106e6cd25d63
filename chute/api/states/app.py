"""The Step Functions API's task-token subset (service ``states``): how an SQS queue's
consumers answer the tasks of queue steps (see :mod:`chute.pipelines.tasks`), with
boto3's ``stepfunctions`` client unchanged.

``POST /`` with ``X-Amz-Target: AWSStepFunctions.<Operation>`` and a JSON body
(protocol ``awsJson1_0``): ``SendTaskSuccess``, ``SendTaskFailure`` and
``SendTaskHeartbeat``; errors as ``{"__type", "message"}``. The root app sends a
request here when its SigV4 credential scope (or its target) names ``states``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
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
from chute.errors import AccessDenied, ChuteError, MaxMessageLengthExceeded
from chute.hooks import Hooks
from chute.pipelines.tasks import QueueTasks, TaskError
from chute.security.authenticate import Authenticator

log = logging.getLogger(__name__)

#: How the hooks name this front end, and the service its requests are signed for.
API_NAME = SERVICE = "states"
TARGET_PREFIX = "AWSStepFunctions."
JSON_TYPE = "application/x-amz-json-1.0"
#: Largest request body: an output of 256 KiB, escaped in JSON.
MAX_BODY = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StatesServices:
    """What the Step Functions API is built with."""

    tasks: QueueTasks
    hooks: Hooks
    #: ``None``: authentication is off and every request may do anything.
    authenticator: Authenticator | None
    body_timeout_seconds: float


def _operations(tasks: QueueTasks) -> dict[str, Callable[[RequestContext, dict[str, Any]], None]]:
    return {
        "SendTaskSuccess": lambda ctx, p: tasks.succeed(ctx, p.get("taskToken"), p.get("output")),
        "SendTaskFailure": lambda ctx, p: tasks.fail(
            ctx, p.get("taskToken"), p.get("error"), p.get("cause")
        ),
        "SendTaskHeartbeat": lambda ctx, p: tasks.heartbeat(ctx, p.get("taskToken")),
    }


class StatesApp:
    """The ASGI application of the Step Functions API."""

    def __init__(self, services: StatesServices) -> None:
        self.services = services
        self.operations = _operations(services.tasks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        context: RequestContext = scope["state"][CONTEXT_STATE]
        try:
            body = await _body(Request(scope, receive), self.services.body_timeout_seconds)
            action = _target(scope)
            scope[OPERATION_SCOPE] = action
            await anyio.to_thread.run_sync(self._run, scope, context, body, action)
            response = Response(b"{}", media_type=JSON_TYPE)
        except ChuteError as error:
            response = _error(error)
        except Exception:
            log.exception("Step Functions API %s %s failed", scope["method"], scope["path"])
            response = _error(_ServiceError("An internal error occurred"))
        response.headers["x-amzn-requestid"] = scope["state"][CONTEXT_STATE].request_id
        await response(scope, receive, send)

    def _run(self, scope: Scope, context: RequestContext, body: bytes, action: str) -> None:
        """In a worker thread: check the signature, then answer the task."""
        context = self._authenticate(scope, context, body)
        scope["state"][CONTEXT_STATE] = context
        operation = self.operations.get(action)
        if operation is None:
            raise _UnknownOperation(f"{action or '(none)'} is not an operation Chute serves")
        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError:
            raise TaskError("The request body is not valid JSON") from None
        if not isinstance(params, dict):
            raise TaskError("The request body must be a JSON object")
        operation(context, params)

    def _authenticate(self, scope: Scope, context: RequestContext, body: bytes) -> RequestContext:
        authenticator = self.services.authenticator
        if authenticator is None:
            return unguarded_context(scope)  # authentication off: anyone may do anything
        identity = authenticator.authenticate(scope, SERVICE, body)
        signed = identity.context(context.source_ip, context.request_id)
        if signed.access_key is None:
            raise AccessDenied("Requests to the Step Functions API must be signed")
        return signed


def _target(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-amz-target":
            target: str = value.decode("latin-1")
            return target.removeprefix(TARGET_PREFIX)
    return ""


async def _body(http: Request, seconds: float) -> bytes:
    try:
        return await read_small_body(http, seconds, MAX_BODY)
    except MaxMessageLengthExceeded:
        raise TaskError(f"Request must be smaller than {MAX_BODY} bytes") from None


#: What Step Functions calls the errors Chute's authentication names as S3 does.
_AUTH_CODES = {
    "InvalidAccessKeyId": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "RequestTimeTooSkewed": "InvalidSignatureException",
    "AuthorizationHeaderMalformed": "IncompleteSignature",
    "ExpiredToken": "ExpiredTokenException",
    "AccessDenied": "AccessDeniedException",
}


def _error(error: ChuteError) -> Response:
    code = _AUTH_CODES.get(error.code, error.code)
    return Response(
        json.dumps({"__type": code, "message": error.message}),
        status_code=error.status,
        media_type=JSON_TYPE,
    )


class _UnknownOperation(ChuteError):
    """The operation is not one this server has."""

    code = "UnknownOperationException"
    status = 400


class _ServiceError(ChuteError):
    """An internal error occurred; the request can be sent again."""

    code = "InternalFailure"
    status = 500


def create_states_app(services: StatesServices) -> ASGIApp:
    """The Step Functions API over ``services``, observed by its hooks."""
    return ObservedRequests(StatesApp(services), hooks=services.hooks, api=API_NAME)
