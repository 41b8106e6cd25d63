"""Who may invoke a function, and how its asynchronous invocations retry: AddPermission,
RemovePermission, GetPolicy, Put/GetFunctionEventInvokeConfig."""

from __future__ import annotations

import json
from typing import Any

import anyio
from starlette.responses import Response

from chute.api.awslambda.routing import LambdaRequest, integer, json_response, route
from chute.errors import InvalidParameterValue
from chute.functions.registry import policy_document, statement


@route("POST", "/2015-03-31/functions/{name}/policy", "AddPermission")
async def add_permission(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    document = request.json()
    sid = _text(document, "StatementId")
    action = _text(document, "Action")
    principal = _text(document, "Principal")
    if not (action.startswith("lambda:") or action == "*"):
        raise InvalidParameterValue(f"{action} is not a Lambda action")
    made = statement(
        sid, action, principal, document.get("SourceArn"), document.get("SourceAccount")
    )
    function = await anyio.to_thread.run_sync(request.services.functions.get, request.name)
    await anyio.to_thread.run_sync(registry.add_permission, request.context, request.name, made)
    return json_response({"Statement": json.dumps({**made, "Resource": function.arn})}, 201)


def _text(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidParameterValue(f"{name} is required")
    return value


@route("DELETE", "/2015-03-31/functions/{name}/policy/{sid}", "RemovePermission")
async def remove_permission(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    sid = request.params["sid"]
    await anyio.to_thread.run_sync(registry.remove_permission, request.context, request.name, sid)
    return Response(status_code=204)


@route("GET", "/2015-03-31/functions/{name}/policy", "GetPolicy")
async def get_policy(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    function = await anyio.to_thread.run_sync(request.services.functions.get, request.name)
    statements, revision = await anyio.to_thread.run_sync(registry.policy, function.name)
    return json_response(
        {"Policy": policy_document(statements, function.arn), "RevisionId": revision}
    )


@route("PUT", "/2019-09-25/functions/{name}/event-invoke-config", "PutFunctionEventInvokeConfig")
async def put_event_invoke_config(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    document = request.json()
    changes: dict[str, Any] = {}
    if (attempts := integer(document, "MaximumRetryAttempts")) is not None:
        changes["maximum_retry_attempts"] = attempts
    if (age := integer(document, "MaximumEventAgeInSeconds")) is not None:
        changes["maximum_event_age_seconds"] = age
    if document.get("DestinationConfig"):
        raise InvalidParameterValue("on-success and on-failure destinations are not supported yet")
    function = await anyio.to_thread.run_sync(
        registry.update_configuration, request.context, request.name, changes, None
    )
    return json_response(_event_invoke_config(function))


@route("GET", "/2019-09-25/functions/{name}/event-invoke-config", "GetFunctionEventInvokeConfig")
async def get_event_invoke_config(request: LambdaRequest) -> Response:
    function = await anyio.to_thread.run_sync(request.services.functions.get, request.name)
    return json_response(_event_invoke_config(function))


def _event_invoke_config(function: Any) -> dict[str, Any]:
    config = function.config
    return {
        "FunctionArn": f"{function.arn}:$LATEST",
        "MaximumRetryAttempts": config.maximum_retry_attempts,
        "MaximumEventAgeInSeconds": config.maximum_event_age_seconds,
        "DestinationConfig": {},
    }
