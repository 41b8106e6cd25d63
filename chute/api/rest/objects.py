"""Object endpoints: streaming PUT/GET/HEAD/DELETE, listings, versions, detail, copy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response, StreamingResponse

from chute.api.http import (
    BLOCK,
    BodyStream,
    check_conditions,
    content_length,
    content_md5,
    object_headers,
    parse_range,
    quoted_etag,
    read_small_body,
    stream_reader,
    user_metadata,
)
from chute.api.rest.deps import object_service, raw_key, request_context, services
from chute.api.rest.views import event_view, version_view
from chute.catalog import ObjectVersion
from chute.errors import EntityTooLarge
from chute.objects.listing import MAX_KEYS

router = APIRouter(tags=["objects"])

_OBJECT = "/buckets/{bucket}/objects/{key:path}"
_BODY_DOC: dict[str, Any] = {
    "requestBody": {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
}


@router.put(_OBJECT, summary="Upload an object (streaming)", openapi_extra=_BODY_DOC)
async def put_object(request: Request, bucket: str) -> JSONResponse:
    """Store the request body. Send ``Content-Length`` (or a chunked body); optional
    ``Content-Type``, ``Content-MD5`` and ``x-chute-meta-*`` headers are kept."""
    key = raw_key(request, bucket, "objects")
    service = object_service(request)
    length = content_length(request)
    timeout = services(request).body_timeout_seconds
    if length is not None and length > service.max_object_size:
        raise EntityTooLarge(f"{length} bytes exceed the maximum of {service.max_object_size}")
    options: dict[str, Any] = {
        "content_type": request.headers.get("content-type"),
        "metadata": user_metadata(request),
        "expected_size": length,
        "md5": content_md5(request.headers.get("content-md5")),
        "context": request_context(request),
    }
    if length is not None and length <= BLOCK:
        version = await run_in_threadpool(
            service.put, bucket, key, [await read_small_body(request, timeout)], **options
        )
    else:
        stream = BodyStream(request, timeout)
        try:
            version = await run_in_threadpool(service.put, bucket, key, stream, **options)
        finally:
            await stream.close()
    return _written(bucket, version)


def _written(bucket: str, version: ObjectVersion) -> JSONResponse:
    headers = {"etag": quoted_etag(version), "x-chute-version-id": version.version_id}
    return JSONResponse(version_view(bucket, version), headers=headers)


@router.get(_OBJECT, summary="Download an object (streaming, byte ranges)")
async def get_object(
    request: Request, bucket: str, version_id: str | None = None
) -> StreamingResponse:
    """The object's bytes; honours ``Range``, ``If-Match`` and ``If-None-Match``."""
    key = raw_key(request, bucket, "objects")
    service = object_service(request)
    version = await run_in_threadpool(service.head, bucket, key, version_id)
    check_conditions(request, version)
    byte_range = parse_range(request.headers.get("range"), version.size)
    read = await run_in_threadpool(service.read, version, byte_range)
    headers = object_headers(read.version)
    headers["content-length"] = str(read.length)
    status = 200
    if read.is_partial:
        status = 206
        headers["content-range"] = f"bytes {read.start}-{read.end - 1}/{read.version.size}"
    return StreamingResponse(stream_reader(read.body), status_code=status, headers=headers)


@router.head(_OBJECT, summary="Describe an object")
async def head_object(request: Request, bucket: str, version_id: str | None = None) -> Response:
    key = raw_key(request, bucket, "objects")
    version = await run_in_threadpool(object_service(request).head, bucket, key, version_id)
    check_conditions(request, version)
    headers = object_headers(version)
    headers["content-length"] = str(version.size)
    return Response(headers=headers)


@router.delete(_OBJECT, status_code=204, summary="Delete an object or one version")
async def delete_object(request: Request, bucket: str, version_id: str | None = None) -> Response:
    key = raw_key(request, bucket, "objects")
    service = object_service(request)
    result = await run_in_threadpool(
        service.delete, bucket, key, version_id, request_context(request)
    )
    headers = {}
    if result.version_id is not None:
        headers["x-chute-version-id"] = result.version_id
    if result.delete_marker:
        headers["x-chute-delete-marker"] = "true"
    return Response(status_code=204, headers=headers)


@router.get("/buckets/{bucket}/objects", summary="List objects")
async def list_objects(
    request: Request,
    bucket: str,
    prefix: str = "",
    delimiter: str | None = None,
    start_after: str | None = None,
    continuation_token: str | None = None,
    max_keys: int = Query(MAX_KEYS, ge=0, le=MAX_KEYS),
) -> JSONResponse:
    """Latest versions in key order; pass ``next_continuation_token`` to get the next page."""
    page = await run_in_threadpool(
        object_service(request).list_objects,
        bucket,
        prefix,
        delimiter,
        start_after,
        continuation_token,
        max_keys,
    )
    return JSONResponse(
        {
            "objects": [version_view(bucket, v) for v in page.objects],
            "common_prefixes": page.common_prefixes,
            "is_truncated": page.is_truncated,
            "next_continuation_token": page.next_token,
        }
    )


@router.get("/buckets/{bucket}/versions", summary="List object versions")
async def list_versions(
    request: Request,
    bucket: str,
    prefix: str = "",
    key_marker: str | None = None,
    version_id_marker: str | None = None,
    max_keys: int = Query(MAX_KEYS, ge=0, le=MAX_KEYS),
) -> JSONResponse:
    """Every version and delete marker: keys in order, newest version first."""
    page = await run_in_threadpool(
        object_service(request).list_versions,
        bucket,
        prefix,
        key_marker,
        version_id_marker,
        max_keys,
    )
    return JSONResponse(
        {
            "versions": [version_view(bucket, v) for v in page.versions],
            "is_truncated": page.is_truncated,
            "next_key_marker": page.next_key,
            "next_version_id_marker": page.next_version_id,
        }
    )


@router.get("/buckets/{bucket}/detail/{key:path}", summary="An object's versions and events")
async def object_detail(request: Request, bucket: str) -> JSONResponse:
    key = raw_key(request, bucket, "detail")
    detail = await run_in_threadpool(object_service(request).detail, bucket, key)
    return JSONResponse(
        {
            "bucket": detail.bucket,
            "key": detail.key,
            "versions": [version_view(bucket, v) for v in detail.versions],
            "events": [event_view(e) for e in detail.events],
        }
    )


class ObjectRef(BaseModel):
    """An object, optionally one version of it."""

    bucket: str
    key: str
    version_id: str | None = None


class CopyRequest(BaseModel):
    """A server-side copy; ``metadata`` and ``content_type`` replace the source's."""

    source: ObjectRef
    destination: ObjectRef
    metadata: dict[str, str] | None = Field(default=None)
    content_type: str | None = None


@router.post("/copy", summary="Copy an object server-side")
async def copy_object(request: Request, body: CopyRequest) -> JSONResponse:
    version = await run_in_threadpool(
        lambda: object_service(request).copy(
            body.source.bucket,
            body.source.key,
            body.destination.bucket,
            body.destination.key,
            source_version_id=body.source.version_id,
            content_type=body.content_type,
            metadata=body.metadata,
            context=request_context(request),
        )
    )
    return _written(body.destination.bucket, version)
