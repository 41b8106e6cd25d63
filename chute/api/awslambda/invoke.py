"""Invoke (``POST /2015-03-31/functions/{name}/invocations``): RequestResponse runs the
function and answers its result, Event queues the payload, DryRun checks."""

from __future__ import annotations

import base64
import json

import anyio
from starlette.responses import Response

from chute.api.awslambda.routing import (
    MAX_BODY,
    InvalidRequestContent,
    LambdaRequest,
    RequestTooLarge,
    UnsupportedOperation,
    route,
)
from chute.api.http.invocations import MAX_EVENT_PAYLOAD, invocation_threads
from chute.errors import AccessDenied, InvalidParameterValue, ResourceNotFound
from chute.functions.definitions import Function
from chute.functions.environment import LATEST, InvocationResult

#: Largest synchronous (RequestResponse) and asynchronous (Event) payload.
MAX_SYNC_PAYLOAD = MAX_BODY
#: How much of the log ``LogType: Tail`` returns.
LOG_TAIL_BYTES = 4 * 1024
KINDS = ("RequestResponse", "Event", "DryRun")


@route(
    "POST",
    "/2015-03-31/functions/{name}/invocations",
    "Invoke",
    max_body=MAX_SYNC_PAYLOAD + 1,
    admin=False,
)
async def invoke(request: LambdaRequest) -> Response:
    _check_qualifier(request)
    kind = request.http.headers.get("x-amz-invocation-type", "RequestResponse")
    if kind not in KINDS:
        raise InvalidParameterValue(f"InvocationType {kind!r} is not one of {', '.join(KINDS)}")
    limit = MAX_EVENT_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
    payload = _payload(request.body, limit)
    client_context = _decoded(request.http.headers.get("x-amz-client-context"))
    functions = request.services.functions
    queue = request.services.queue
    if kind == "Event" and queue is None:
        raise UnsupportedOperation("asynchronous invocation is not available here")

    def allowed() -> Function:
        function = functions.get(request.name)
        _check_allowed(request, function)
        return function

    if kind == "DryRun":
        await anyio.to_thread.run_sync(allowed)
        return Response(status_code=204, headers={"x-amz-executed-version": LATEST})
    if kind == "Event":
        assert queue is not None
        event = json.loads(payload)

        def enqueue() -> None:
            queue.enqueue(allowed().name, event, request.context.request_id)

        await anyio.to_thread.run_sync(enqueue)
        return Response(status_code=202, headers={"x-amz-executed-version": LATEST})

    def run() -> InvocationResult:
        return functions.run(
            allowed(),
            payload,
            request_id=request.context.request_id,
            client_context=client_context,
        )

    result = await anyio.to_thread.run_sync(run, limiter=invocation_threads())
    return _invoked(request, result)


def _check_allowed(request: LambdaRequest, function: Function) -> None:
    """Administrators may invoke any function; other keys one whose policy
    (AddPermission) lets them: ``lambda:InvokeFunction`` to their key id, or ``*``."""
    context = request.context
    if context.permissions.is_admin:
        return
    registry = request.services.registry
    statements: list[dict[str, object]] = []
    if registry is not None and function.managed:
        try:
            statements = registry.policy(function.name)[0]
        except ResourceNotFound:
            statements = []
    for statement in statements:
        principal = statement.get("Principal")
        who = principal.get("AWS") if isinstance(principal, dict) else None
        action = statement.get("Action")
        if action in ("lambda:InvokeFunction", "lambda:*") and who in ("*", context.principal):
            return
    raise AccessDenied(
        f"User: {context.principal} is not authorized to perform: lambda:InvokeFunction on "
        f"resource: {function.arn}"
    )


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
        except (ValueError, RecursionError):  # nested deeper than the parser goes
            raise InvalidRequestContent("Could not parse request body into json") from None
    return payload or b"{}"


#: Largest ``X-Amz-Client-Context`` Lambda takes: 3,583 bytes, base64-encoded.
MAX_CLIENT_CONTEXT = 3583


def _decoded(client_context: str | None) -> str | None:
    """``X-Amz-Client-Context`` is base64 JSON; the runtime gets the JSON, as ASCII
    (it travels in a header of the Runtime API: no line break or other byte a header
    cannot hold gets through)."""
    if client_context is None:
        return None
    if len(client_context) > MAX_CLIENT_CONTEXT:
        raise InvalidParameterValue(
            f"Client context must be {MAX_CLIENT_CONTEXT} bytes or fewer, base64-encoded"
        )
    try:
        document = json.loads(base64.b64decode(client_context, validate=True))
    except (ValueError, RecursionError):
        raise InvalidParameterValue(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None
    return json.dumps(document, ensure_ascii=True, separators=(",", ":"))


def _invoked(request: LambdaRequest, result: InvocationResult) -> Response:
    headers = {"x-amz-executed-version": LATEST}
    if result.failed:
        headers["x-amz-function-error"] = "Unhandled"
    if request.http.headers.get("x-amz-log-type", "None") == "Tail":
        text = "\n".join(result.log).encode()[-LOG_TAIL_BYTES:] + b"\n"
        headers["x-amz-log-result"] = base64.b64encode(text).decode()
    return Response(result.payload, media_type="application/json", headers=headers)
