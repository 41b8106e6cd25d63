"""The functions themselves: ListFunctions, GetFunction, GetFunctionConfiguration,
CreateFunction, UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction.

A function's code comes as a base64 zip (``ZipFile``) or from a Chute bucket
(``S3Bucket``, ``S3Key``, ``S3ObjectVersion``), read with the caller's rights. Its
``Role`` is kept; what the function's credentials may reach is the grants of the access
key named like the role (``arn:aws:iam::ACCOUNT:role/NAME`` is the key named ``NAME``).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import anyio
from starlette.responses import Response

from chute.api.awslambda.routing import LambdaRequest, integer, json_response, route
from chute.errors import InvalidParameterValue
from chute.functions.definitions import Function
from chute.functions.environment import LATEST
from chute.functions.registry import MAX_ZIP_BYTES

#: Largest request carrying code: a 50 MB zip in base64, and the rest.
MAX_CODE_BODY = MAX_ZIP_BYTES * 4 // 3 + 1024 * 1024


@route("GET", "/2015-03-31/functions", "ListFunctions")
async def list_functions(request: LambdaRequest) -> Response:
    functions = await anyio.to_thread.run_sync(request.services.functions.list)
    return json_response({"Functions": [configuration(f) for f in functions]})


@route("GET", "/2015-03-31/functions/{name}", "GetFunction")
async def get_function(request: LambdaRequest) -> Response:
    function = await anyio.to_thread.run_sync(request.services.functions.get, request.name)
    repository = "S3" if function.managed else "Chute"
    code = {"RepositoryType": repository, "Location": _where(function)}
    return json_response({"Configuration": configuration(function), "Code": code})


@route("GET", "/2015-03-31/functions/{name}/configuration", "GetFunctionConfiguration")
async def get_configuration(request: LambdaRequest) -> Response:
    function = await anyio.to_thread.run_sync(request.services.functions.get, request.name)
    return json_response(configuration(function))


@route("POST", "/2015-03-31/functions", "CreateFunction", max_body=MAX_CODE_BODY)
async def create_function(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    document = request.json()
    name = document.get("FunctionName")
    if not isinstance(name, str):
        raise InvalidParameterValue("FunctionName is required")
    if document.get("PackageType", "Zip") != "Zip":
        raise InvalidParameterValue("Chute runs .zip packages only (PackageType Zip)")
    config = _config_of(document)
    if "handler" not in config:
        raise InvalidParameterValue("Handler is required for a .zip deployment package")
    code = await _code_of(request, document.get("Code"))
    layers = _layers_of(document)

    def work() -> Function:
        return registry.create(request.context, name, config, code, layers or ())

    function = await anyio.to_thread.run_sync(work)
    return json_response(configuration(function), 201)


@route("PUT", "/2015-03-31/functions/{name}/code", "UpdateFunctionCode", max_body=MAX_CODE_BODY)
async def update_code(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    code = await _code_of(request, request.json())
    function = await anyio.to_thread.run_sync(
        registry.update_code, request.context, request.name, code
    )
    return json_response(configuration(function))


@route("PUT", "/2015-03-31/functions/{name}/configuration", "UpdateFunctionConfiguration")
async def update_configuration(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    document = request.json()
    changes = _config_of(document)
    layers = _layers_of(document)
    function = await anyio.to_thread.run_sync(
        registry.update_configuration, request.context, request.name, changes, layers
    )
    return json_response(configuration(function))


@route("DELETE", "/2015-03-31/functions/{name}", "DeleteFunction")
async def delete_function(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    await anyio.to_thread.run_sync(registry.delete, request.context, request.name)
    return Response(status_code=204)


def _config_of(document: dict[str, Any]) -> dict[str, Any]:
    """FunctionConfig's fields from CreateFunction's and UpdateFunctionConfiguration's
    parameters (those given only)."""
    config: dict[str, Any] = {}
    for given, field in (("Handler", "handler"), ("Runtime", "runtime"), ("Role", "role")):
        if document.get(given) is not None:
            config[field] = document[given]
    if (memory := integer(document, "MemorySize")) is not None:
        config["memory_mb"] = memory
    if (timeout := integer(document, "Timeout")) is not None:
        config["timeout_seconds"] = timeout
    if "Description" in document:
        config["description"] = document["Description"]
    environment = document.get("Environment")
    if isinstance(environment, dict) and "Variables" in environment:
        config["environment"] = environment["Variables"] or {}
    storage = document.get("EphemeralStorage")
    if isinstance(storage, dict) and "Size" in storage:
        config["ephemeral_storage_mb"] = storage["Size"]
    return config


def _layers_of(document: dict[str, Any]) -> list[str] | None:
    layers = document.get("Layers")
    if layers is None:
        return None
    if not isinstance(layers, list) or not all(isinstance(arn, str) for arn in layers):
        raise InvalidParameterValue("Layers must be a list of layer version ARNs")
    return layers


async def _code_of(request: LambdaRequest, code: Any) -> bytes:
    """The zip a ``Code`` (or UpdateFunctionCode's body) gives: inline, or an object."""
    if not isinstance(code, dict):
        raise InvalidParameterValue("Code is required: ZipFile, or S3Bucket and S3Key")
    if code.get("ZipFile") is not None:
        try:
            return base64.b64decode(code["ZipFile"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise InvalidParameterValue("ZipFile must be a base64-encoded zip") from None
    bucket, key = code.get("S3Bucket"), code.get("S3Key")
    if isinstance(bucket, str) and isinstance(key, str):
        return await anyio.to_thread.run_sync(
            _object_bytes, request, bucket, key, code.get("S3ObjectVersion")
        )
    raise InvalidParameterValue("Code needs ZipFile, or S3Bucket and S3Key")


def _object_bytes(request: LambdaRequest, bucket: str, key: str, version: str | None) -> bytes:
    objects = request.services.objects
    if objects is None:
        raise InvalidParameterValue("code cannot be read from buckets through this server")
    read = objects.open(request.context, bucket, key, version)
    if read.version.size > MAX_ZIP_BYTES:
        read.body.close()
        raise InvalidParameterValue(f"The zip must be smaller than {MAX_ZIP_BYTES} bytes")
    return b"".join(read.body)


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
        "Description": config.description,
        "Version": LATEST,
        "PackageType": "Zip",
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "RevisionId": function.revision,
        "CodeSha256": _code_sha256(function),
        "CodeSize": function.code.size,
        "Architectures": ["x86_64"],
        "Layers": [{"Arn": arn} for arn in function.layer_arns],
    }
    if config.role is not None:
        document["Role"] = config.role
    if function.last_modified is not None:
        document["LastModified"] = function.last_modified.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if config.environment:
        document["Environment"] = {"Variables": dict(config.environment)}
    return document


def _code_sha256(function: Function) -> str:
    """``CodeSha256`` as Lambda writes it: the zip's SHA-256 in base64."""
    digest = function.code.sha256
    return base64.b64encode(bytes.fromhex(digest)).decode() if digest else ""
