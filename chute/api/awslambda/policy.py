"""Who may invoke a function, and what becomes of its asynchronous invocations:
AddPermission, RemovePermission, GetPolicy, and Put/Update/Get/Delete/
ListFunctionEventInvokeConfig(s) (retries, event age, on-success and on-failure
destinations)."""

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


#: The asynchronous settings PutFunctionEventInvokeConfig resets when not given.
_EVENT_DEFAULTS: dict[str, Any] = {
    "maximum_retry_attempts": 2,
    "maximum_event_age_seconds": 21600,
    "on_success": None,
    "on_failure": None,
}
_EVENT_CONFIG = "/2019-09-25/functions/{name}/event-invoke-config"


@route("PUT", _EVENT_CONFIG, "PutFunctionEventInvokeConfig")
async def put_event_invoke_config(request: LambdaRequest) -> Response:
    """The function's asynchronous settings, all of them: what is not given is reset."""
    return await _change_event_invoke_config(request, {**_EVENT_DEFAULTS})


@route("POST", _EVENT_CONFIG, "UpdateFunctionEventInvokeConfig")
async def update_event_invoke_config(request: LambdaRequest) -> Response:
    """Some of the function's asynchronous settings; the others stay."""
    return await _change_event_invoke_config(request, {})


@route("DELETE", _EVENT_CONFIG, "DeleteFunctionEventInvokeConfig")
async def delete_event_invoke_config(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    await anyio.to_thread.run_sync(
        registry.update_configuration, request.context, request.name, {**_EVENT_DEFAULTS}, None
    )
    return Response(status_code=204)


@route("GET", _EVENT_CONFIG, "GetFunctionEventInvokeConfig")
async def get_event_invoke_config(request: LambdaRequest) -> Response:
    function = await anyio.to_thread.run_sync(request.services.functions.get, request.name)
    return json_response(_event_invoke_config(function))


@route("GET", _EVENT_CONFIG + "/list", "ListFunctionEventInvokeConfigs")
async def list_event_invoke_configs(request: LambdaRequest) -> Response:
    function = await anyio.to_thread.run_sync(request.services.functions.get, request.name)
    return json_response({"FunctionEventInvokeConfigs": [_event_invoke_config(function)]})


async def _change_event_invoke_config(request: LambdaRequest, changes: dict[str, Any]) -> Response:
    registry = request.services.require_registry()
    document = request.json()
    if (attempts := integer(document, "MaximumRetryAttempts")) is not None:
        changes["maximum_retry_attempts"] = attempts
    if (age := integer(document, "MaximumEventAgeInSeconds")) is not None:
        changes["maximum_event_age_seconds"] = age
    destinations = document.get("DestinationConfig", {})
    if not isinstance(destinations, dict):
        raise InvalidParameterValue("DestinationConfig must be an object")
    unknown = sorted(set(destinations) - {"OnSuccess", "OnFailure"})
    if unknown:
        raise InvalidParameterValue(f"DestinationConfig has no member {unknown[0]!r}")
    for member, setting in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
        if member in destinations:
            changes[setting] = await _destination(request, member, destinations[member])
    function = await anyio.to_thread.run_sync(
        registry.update_configuration, request.context, request.name, changes, None
    )
    return json_response(_event_invoke_config(function))


async def _destination(request: LambdaRequest, member: str, given: Any) -> str | None:
    """The ARN of ``{"Destination": ARN}`` if it names something that can take records
    (``None``, or ``{}``: no destination)."""
    if not isinstance(given, dict) or set(given) - {"Destination"}:
        raise InvalidParameterValue(f'{member} must be {{"Destination": ARN}}')
    arn = given.get("Destination")
    if arn is None or arn == "":
        return None
    if not isinstance(arn, str):
        raise InvalidParameterValue(f"{member}.Destination must be an ARN")
    check = request.services.destination_refusal
    refusal = await anyio.to_thread.run_sync(check, arn) if check else None
    if refusal is not None:
        raise InvalidParameterValue(f"The destination ARN {arn} is invalid: {refusal}")
    return arn


def _event_invoke_config(function: Any) -> dict[str, Any]:
    config = function.config
    destinations = {}
    if config.on_success is not None:
        destinations["OnSuccess"] = {"Destination": config.on_success}
    if config.on_failure is not None:
        destinations["OnFailure"] = {"Destination": config.on_failure}
    answer = {
        "FunctionArn": f"{function.arn}:$LATEST",
        "MaximumRetryAttempts": config.maximum_retry_attempts,
        "MaximumEventAgeInSeconds": config.maximum_event_age_seconds,
        "DestinationConfig": destinations,
    }
    if function.last_modified is not None:
        answer["LastModified"] = function.last_modified.timestamp()
    return answer
