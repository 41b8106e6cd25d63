"""Layers: PublishLayerVersion, GetLayerVersion, ListLayerVersions, ListLayers,
DeleteLayerVersion. A layer version is a zip laid out as Lambda lays layers out
(``python/``, ``bin/``, ``lib/``), referred to by its ARN."""

from __future__ import annotations

import base64
from typing import Any

import anyio
from starlette.responses import Response

from chute.api.awslambda.functions import MAX_CODE_BODY, _code_of
from chute.api.awslambda.routing import LambdaRequest, json_response, route
from chute.catalog import StoredLayerVersion
from chute.errors import InvalidParameterValue
from chute.functions.registry import FunctionRegistry


@route("POST", "/2018-10-31/layers/{name}/versions", "PublishLayerVersion", max_body=MAX_CODE_BODY)
async def publish_layer_version(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    document = request.json()
    code = await _code_of(request, document.get("Content"))
    runtimes = document.get("CompatibleRuntimes") or []
    description = document.get("Description") or ""
    if not isinstance(description, str) or not isinstance(runtimes, list):
        raise InvalidParameterValue("Description is a string, CompatibleRuntimes a list")
    layer = await anyio.to_thread.run_sync(
        registry.publish_layer_version, request.context, request.name, code, description, runtimes
    )
    return json_response(_version(registry, layer), 201)


@route("GET", "/2018-10-31/layers/{name}/versions/{version}", "GetLayerVersion")
async def get_layer_version(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    layer = await anyio.to_thread.run_sync(
        registry.layer_version, request.name, _number(request.params["version"])
    )
    return json_response(_version(registry, layer))


@route("DELETE", "/2018-10-31/layers/{name}/versions/{version}", "DeleteLayerVersion")
async def delete_layer_version(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    version = _number(request.params["version"])
    await anyio.to_thread.run_sync(
        registry.delete_layer_version, request.context, request.name, version
    )
    return Response(status_code=204)


@route("GET", "/2018-10-31/layers/{name}/versions", "ListLayerVersions")
async def list_layer_versions(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    layers = await anyio.to_thread.run_sync(registry.layer_versions, request.name)
    return json_response({"LayerVersions": [_listed(registry, layer) for layer in layers]})


@route("GET", "/2018-10-31/layers", "ListLayers")
async def list_layers(request: LambdaRequest) -> Response:
    registry = request.services.require_registry()
    layers = await anyio.to_thread.run_sync(registry.layer_versions, None)
    latest: dict[str, StoredLayerVersion] = {}
    for layer in layers:  # newest first within a layer
        latest.setdefault(layer.name, layer)
    return json_response(
        {
            "Layers": [
                {
                    "LayerName": name,
                    "LayerArn": registry.layer_arn(name, 0).rsplit(":", 1)[0],
                    "LatestMatchingVersion": _listed(registry, layer),
                }
                for name, layer in sorted(latest.items())
            ]
        }
    )


def _number(text: str) -> int:
    if not text.isdigit():
        raise InvalidParameterValue(f"{text} is not a layer version number")
    return int(text)


def _listed(registry: FunctionRegistry, layer: StoredLayerVersion) -> dict[str, Any]:
    return {
        "LayerVersionArn": registry.layer_arn(layer.name, layer.version),
        "Version": layer.version,
        "Description": layer.description,
        "CreatedDate": layer.created_at.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "CompatibleRuntimes": layer.runtimes,
    }


def _version(registry: FunctionRegistry, layer: StoredLayerVersion) -> dict[str, Any]:
    arn = registry.layer_arn(layer.name, layer.version)
    return {
        **_listed(registry, layer),
        "LayerArn": arn.rsplit(":", 1)[0],
        "Content": {
            "Location": f"chute-blob:{layer.blob_id}",
            "CodeSha256": base64.b64encode(bytes.fromhex(layer.sha256)).decode(),
            "CodeSize": layer.size,
        },
    }
