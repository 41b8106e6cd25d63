"""Function endpoints: list and describe the functions, invoke one (waiting for its
result, or queued), and read each function's invocation logs from a cursor.

Admins only, as the Lambda API's function reads are: a key that a function's policy
lets invoke it (AddPermission) invokes it through the Lambda API.
"""

from __future__ import annotations

import json

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from chute.api.http.invocations import MAX_EVENT_PAYLOAD, invocation_threads
from chute.api.rest.deps import function_services, request_context
from chute.api.rest.errors import error_responses
from chute.api.rest.models.functions import (
    FunctionList,
    FunctionLogPage,
    FunctionLogView,
    FunctionView,
    InvocationView,
    InvokeRequest,
)
from chute.api.rest.params import MAX_ID, Text
from chute.api.rest.routes import SmallBodyRoute
from chute.errors import (
    AccessDenied,
    InvalidArgument,
    InvalidParameterValue,
    NotImplementedFeature,
    ResourceNotFound,
    TooManyRequests,
)
from chute.functions.environment import InvocationResult


def _admins_only(request: Request) -> None:
    context = request_context(request)
    if not context.permissions.is_admin:
        raise AccessDenied(
            f"{context.principal} may not use the functions endpoints: they take an admin"
            " key (a key a function's policy names invokes it through the Lambda API)"
        )


router = APIRouter(
    tags=["functions"], route_class=SmallBodyRoute, dependencies=[Depends(_admins_only)]
)

_FUNCTION = "/functions/{name}"
_ERRORS = error_responses(AccessDenied, InvalidParameterValue, ResourceNotFound)


@router.get("/functions", summary="List functions", responses=error_responses(AccessDenied))
async def list_functions(request: Request) -> FunctionList:
    found = await run_in_threadpool(function_services(request).functions.list)
    return FunctionList(functions=[FunctionView.of(function) for function in found])


@router.get(_FUNCTION, summary="Describe a function", responses=_ERRORS)
async def get_function(request: Request, name: Text) -> FunctionView:
    """The function called ``name`` (or given by its ARN)."""
    function = await run_in_threadpool(function_services(request).functions.get, name)
    return FunctionView.of(function)


@router.post(
    f"{_FUNCTION}/invoke",
    summary="Invoke a function",
    responses={
        **error_responses(
            AccessDenied,
            InvalidArgument,
            InvalidParameterValue,
            ResourceNotFound,
            TooManyRequests,
            NotImplementedFeature,
        )
    },
)
async def invoke_function(request: Request, name: Text, body: InvokeRequest) -> InvocationView:
    """Run the function on ``payload`` and answer how it ended (a function error is
    ``status: failed``, not an HTTP error), or with ``event`` queue it and answer at
    once (``status: queued``). Either way its log is kept (``GET .../logs``)."""
    found = function_services(request)
    request_id = request_context(request).request_id
    payload = json.dumps(body.payload).encode()
    function = await run_in_threadpool(found.functions.get, name)
    if body.event:
        queue = found.queue
        if queue is None:
            raise NotImplementedFeature("queued invocations are not available here")
        if len(payload) > MAX_EVENT_PAYLOAD:
            raise InvalidArgument(
                f"a queued invocation's payload is at most {MAX_EVENT_PAYLOAD} bytes"
            )
        await run_in_threadpool(queue.enqueue, function.name, body.payload, request_id)
        return InvocationView.queued(function.name, request_id)

    def run() -> InvocationResult:
        return found.functions.run(function, payload, request_id=request_id)

    result = await anyio.to_thread.run_sync(run, limiter=invocation_threads())
    return InvocationView.of(function.name, result)


@router.get(f"{_FUNCTION}/logs", summary="Read a function's logs after a cursor", responses=_ERRORS)
async def function_logs(
    request: Request,
    name: Text,
    after: int = Query(0, ge=0, le=MAX_ID, description="Return logs after this cursor."),
    limit: int = Query(100, ge=1, le=1000),
) -> FunctionLogPage:
    """Each invocation's log (``START``, what the handler wrote, ``END``, ``REPORT``),
    oldest first. Pass the returned ``next_cursor`` as ``after`` to read on, or to
    follow new invocations."""
    found = function_services(request)
    function = await run_in_threadpool(found.functions.get, name)
    entries = await run_in_threadpool(found.logs.page, function.name, after, limit)
    next_cursor = entries[-1].id if entries else after
    return FunctionLogPage(
        entries=[FunctionLogView.of(entry) for entry in entries], next_cursor=next_cursor
    )
