"""The SQS API (service ``sqs``): Amazon SQS's front end over :mod:`chute.sqs`, in
both of its wire protocols, so boto3's ``sqs`` client (and older SDKs) work unchanged.

* JSON (current SDKs): ``POST /`` with ``X-Amz-Target: AmazonSQS.<Operation>`` and a
  JSON body; errors as ``{"__type", "message"}`` plus ``x-amzn-query-error``, the
  query protocol's code, which SDKs report as the error code.
* Query (older SDKs): form parameters with ``Action=<Operation>``, posted to ``/`` or
  to the queue's URL; XML answers (see :mod:`.query`).

The root app sends a request here when its SigV4 credential scope names ``sqs``. The
body is read (up to :data:`MAX_BODY`) before the signature is checked, as SQS's
clients sign its hash. A ``ReceiveMessage`` with ``WaitTimeSeconds`` waits on the event
loop, woken by sends (:class:`~chute.sqs.signal.MessageSignal`), holding no thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

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
from chute.api.sqs import query
from chute.context import RequestContext
from chute.errors import AccessDenied, ChuteError, MaxMessageLengthExceeded
from chute.hooks import Hooks
from chute.security.authenticate import Authenticator
from chute.sqs.errors import InvalidAction, InvalidParameterValue, SqsError
from chute.sqs.service import Call, PendingReceive, Queues
from chute.sqs.signal import MessageSignal, wait_for

log = logging.getLogger(__name__)

#: How the hooks name this front end, and the service its requests are signed for.
API_NAME = SERVICE = "sqs"
#: Largest request body: a batch of ten 1 MiB messages, base64 and JSON around them.
MAX_BODY = 16 * 1024 * 1024
JSON_TYPE = "application/x-amz-json-1.0"
_TARGET_PREFIX = "AmazonSQS."
#: What SQS calls the errors Chute's authentication names as S3 does.
_AUTH_CODES = {
    "InvalidAccessKeyId": "InvalidClientTokenId",
    "AuthorizationHeaderMalformed": "IncompleteSignature",
    "RequestTimeTooSkewed": "SignatureDoesNotMatch",
}


@dataclass(frozen=True, slots=True)
class SqsServices:
    """What the SQS API is built with."""

    queues: Queues
    signal: MessageSignal
    hooks: Hooks
    #: ``None``: authentication is off and every request may do anything.
    authenticator: Authenticator | None
    body_timeout_seconds: float


@dataclass(frozen=True, slots=True)
class _Protocol:
    """How one request's answers are written."""

    action: str
    json: bool

    def answer(self, document: dict[str, Any], request_id: str) -> Response:
        if self.json:
            return Response(json.dumps(document), media_type=JSON_TYPE)
        return query.render(self.action, document, request_id)

    def error(self, error: ChuteError, request_id: str) -> Response:
        status = error.status
        if isinstance(error, SqsError):
            code, shape = error.wire_code, error.code
        else:
            code = shape = _AUTH_CODES.get(error.code, error.code)
        if not self.json:
            return query.error(code, error.message, status, request_id)
        kind = "Sender" if status < 500 else "Receiver"
        return Response(
            json.dumps({"__type": f"com.amazonaws.sqs#{shape}", "message": error.message}),
            status_code=status,
            media_type=JSON_TYPE,
            headers={"x-amzn-query-error": f"{code};{kind}"},
        )


class SqsApp:
    """The ASGI application of the SQS API."""

    def __init__(self, services: SqsServices) -> None:
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        context: RequestContext = scope["state"][CONTEXT_STATE]
        protocol = _Protocol("", json=_target(scope) is not None)
        try:
            http = Request(scope, receive)
            body = await _body(http, self.services.body_timeout_seconds)
            action, params = _request(scope, body)
            protocol = _Protocol(action, protocol.json)
            scope[OPERATION_SCOPE] = action
            answer, pending = await anyio.to_thread.run_sync(
                self._first, scope, context, body, action, params
            )
            context = scope["state"][CONTEXT_STATE]
            if pending is not None and not answer and pending.wait_seconds > 0:
                answer = await self._long_poll(pending)
            response = protocol.answer(answer, context.request_id)
        except ChuteError as error:
            response = protocol.error(error, context.request_id)
        except Exception:
            log.exception("SQS API %s %s failed", scope["method"], scope["path"])
            response = protocol.error(_ServiceError(), context.request_id)
        response.headers["x-amzn-requestid"] = context.request_id
        await response(scope, receive, send)

    def _first(
        self,
        scope: Scope,
        context: RequestContext,
        body: bytes,
        action: str,
        params: dict[str, Any],
    ) -> tuple[dict[str, Any], PendingReceive | None]:
        """In a worker thread (one hop per request): check the signature, then run the
        operation; a receive is checked and looks once, and comes back ``pending``."""
        context = self._authenticate(scope, context, body)
        scope["state"][CONTEXT_STATE] = context
        call = Call(context, _base_url(scope), params)
        queues = self.services.queues
        if action == "ReceiveMessage":
            pending = queues.prepare_receive(call)
            return queues.receive(pending), pending
        operation: Callable[[Call], dict[str, Any]] | None = queues.operations.get(action)
        if operation is None:
            raise InvalidAction(action or "(none)")
        return operation(call), None

    async def _long_poll(self, pending: PendingReceive) -> dict[str, Any]:
        """A receive that found nothing and may wait: until its wait is over, look again
        whenever a message is sent to the queue (or every second)."""
        queues = self.services.queues
        deadline = anyio.current_time() + pending.wait_seconds
        with self.services.signal.listening(pending.queue.id) as arrived:
            while True:
                arrived.clear()
                answer = await anyio.to_thread.run_sync(queues.receive, pending)
                remaining = deadline - anyio.current_time()
                if answer or remaining <= 0:
                    return answer
                await wait_for(arrived, remaining)

    def _authenticate(self, scope: Scope, context: RequestContext, body: bytes) -> RequestContext:
        authenticator = self.services.authenticator
        if authenticator is None:
            return unguarded_context(scope)  # authentication off: anyone may do anything
        identity = authenticator.authenticate(scope, SERVICE, body)
        signed = identity.context(context.source_ip, context.request_id)
        if signed.access_key is None:  # SQS has no anonymous requests
            raise AccessDenied("Requests to the SQS API must be signed with an access key.")
        return signed


def _target(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-amz-target":
            target: str = value.decode("latin-1")
            return target.removeprefix(_TARGET_PREFIX)
    return None


def _request(scope: Scope, body: bytes) -> tuple[str, dict[str, Any]]:
    """The operation a request names and its parameters, in either protocol."""
    target = _target(scope)
    if target is not None:
        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError:
            raise InvalidParameterValue("The request body is not valid JSON.") from None
        if not isinstance(params, dict):
            raise InvalidParameterValue("The request body must be a JSON object.")
        return target, params
    pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidParameterValue("The request body is not UTF-8.") from None
        pairs += parse_qsl(text, keep_blank_values=True)
    action, params = query.params_of(pairs)
    path = scope["path"].strip("/")
    if path and "QueueUrl" not in params:
        params["QueueUrl"] = f"{_base_url(scope)}/{path}"  # posted to the queue's URL
    return action, params


def _base_url(scope: Scope) -> str:
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


async def _body(http: Request, seconds: float) -> bytes:
    try:
        return await read_small_body(http, seconds, MAX_BODY)
    except MaxMessageLengthExceeded:
        raise InvalidParameterValue(f"Request must be smaller than {MAX_BODY} bytes") from None


class _ServiceError(SqsError):
    """An internal error occurred; the request can be sent again."""

    code = "InternalError"
    status = 500


def create_sqs_app(services: SqsServices) -> ASGIApp:
    """The SQS API over ``services``, observed by its hooks."""
    return ObservedRequests(SqsApp(services), hooks=services.hooks, api=API_NAME)
