"""Object endpoints: streaming PUT/GET/HEAD/DELETE, listings, versions, detail, copy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from chute.api.http import (
    BLOCK,
    KEY,
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
from chute.api.rest.auth import signed_sha256
from chute.api.rest.deps import object_service, raw_key, request_context, services
from chute.api.rest.errors import error_responses
from chute.api.rest.headers import DELETE_MARKER, VERSION_ID
from chute.api.rest.models.objects import (
    CopyRequest,
    ObjectDetailView,
    ObjectList,
    VersionList,
    VersionView,
)
from chute.api.rest.params import Text
from chute.api.rest.routes import SmallBodyRoute
from chute.catalog import ObjectVersion
from chute.errors import (
    BadDigest,
    BodyTimeout,
    ClientDisconnected,
    EntityTooLarge,
    IncompleteBody,
    InvalidArgument,
    InvalidDigest,
    InvalidKey,
    InvalidRange,
    MaxMessageLengthExceeded,
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
    PreconditionFailed,
    XAmzContentSHA256Mismatch,
)
from chute.objects.listing import MAX_KEYS

router = APIRouter(tags=["objects"], route_class=SmallBodyRoute)

_OBJECT = f"/buckets/{{bucket}}/objects/{{key:{KEY}}}"
_BYTES: dict[str, Any] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
_VERSION_HEADERS = {
    "etag": {"description": "The version's ETag, quoted.", "schema": {"type": "string"}},
    VERSION_ID: {"description": "The version's id.", "schema": {"type": "string"}},
}
_DELETE_ERRORS = error_responses(InvalidKey, InvalidArgument, NoSuchBucket)


@router.put(
    _OBJECT,
    summary="Upload an object (streaming)",
    openapi_extra={"requestBody": {"content": _BYTES}},
    responses={
        200: {"headers": _VERSION_HEADERS},
        **error_responses(
            InvalidKey,
            InvalidArgument,
            MetadataTooLarge,
            InvalidDigest,
            BadDigest,
            XAmzContentSHA256Mismatch,
            IncompleteBody,
            ClientDisconnected,
            NoSuchBucket,
            BodyTimeout,
            MissingContentLength,
            EntityTooLarge,
        ),
    },
)
async def put_object(request: Request, response: Response, bucket: Text) -> VersionView:
    """Store the request body. Send ``Content-Length`` (or a chunked body); optional
    ``Content-Type``, ``Content-MD5`` and ``x-chute-meta-*`` headers are kept. A SHA-256
    the request's signature covers (``x-amz-content-sha256``) is checked once the body is
    in: a mismatch stores nothing (400 ``XAmzContentSHA256Mismatch``)."""
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
        "sha256": signed_sha256(request),
    }
    if length is not None and length <= BLOCK:
        version = await run_in_threadpool(
            service.put,
            request_context(request),
            bucket,
            key,
            [await read_small_body(request, timeout, BLOCK)],
            **options,
        )
    else:
        stream = BodyStream(request, timeout)
        try:
            version = await run_in_threadpool(
                service.put, request_context(request), bucket, key, stream, **options
            )
        finally:
            await stream.close()
    return _written(response, bucket, version)


def _written(response: Response, bucket: str, version: ObjectVersion) -> VersionView:
    response.headers["etag"] = quoted_etag(version)
    response.headers[VERSION_ID] = version.version_id
    return VersionView.of(bucket, version)


_READ_ERRORS = error_responses(
    InvalidKey,
    InvalidArgument,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
    MethodNotAllowed,
    PreconditionFailed,
)


@router.get(
    _OBJECT,
    summary="Download an object (streaming, byte ranges)",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The object's bytes.", "content": _BYTES},
        206: {"description": "The requested byte range.", "content": _BYTES},
        304: {"description": "Not modified (If-None-Match)."},
        **_READ_ERRORS,
        **error_responses(InvalidRange),
    },
)
async def get_object(
    request: Request, bucket: Text, version_id: Text | None = None
) -> StreamingResponse:
    """The object's bytes; honours ``Range``, ``If-Match`` and ``If-None-Match``."""
    key = raw_key(request, bucket, "objects")
    service = object_service(request)
    version = await run_in_threadpool(
        service.head, request_context(request), bucket, key, version_id
    )
    check_conditions(request.headers, version)
    byte_range = parse_range(request.headers.get("range"), version.size)
    read = await run_in_threadpool(service.read, request_context(request), version, byte_range)
    headers = object_headers(read.version)
    headers["content-length"] = str(read.length)
    status = 200
    if read.is_partial:
        status = 206
        headers["content-range"] = f"bytes {read.start}-{read.end - 1}/{read.version.size}"
    return StreamingResponse(stream_reader(read.body), status_code=status, headers=headers)


@router.head(
    _OBJECT,
    summary="Describe an object",
    response_class=Response,
    responses={
        200: {"description": "The object's headers, without its bytes."},
        304: {"description": "Not modified (If-None-Match)."},
        **_READ_ERRORS,
    },
)
async def head_object(request: Request, bucket: Text, version_id: Text | None = None) -> Response:
    key = raw_key(request, bucket, "objects")
    version = await run_in_threadpool(
        object_service(request).head, request_context(request), bucket, key, version_id
    )
    check_conditions(request.headers, version)
    headers = object_headers(version)
    headers["content-length"] = str(version.size)
    return Response(headers=headers)


@router.delete(
    _OBJECT,
    status_code=204,
    summary="Delete an object or one version",
    responses={
        204: {
            "description": "Deleted.",
            "headers": {
                VERSION_ID: {
                    "description": "The version removed, or the delete marker added.",
                    "schema": {"type": "string"},
                },
                DELETE_MARKER: {
                    "description": "``true`` when a delete marker was added or removed.",
                    "schema": {"type": "string"},
                },
            },
        },
        **_DELETE_ERRORS,
    },
)
async def delete_object(request: Request, bucket: Text, version_id: Text | None = None) -> Response:
    key = raw_key(request, bucket, "objects")
    service = object_service(request)
    result = await run_in_threadpool(
        service.delete, request_context(request), bucket, key, version_id
    )
    headers = {}
    if result.version_id is not None:
        headers[VERSION_ID] = result.version_id
    if result.delete_marker:
        headers[DELETE_MARKER] = "true"
    return Response(status_code=204, headers=headers)


@router.get(
    "/buckets/{bucket}/objects",
    summary="List objects",
    responses=error_responses(InvalidArgument, NoSuchBucket),
)
async def list_objects(
    request: Request,
    bucket: Text,
    prefix: Text = "",
    delimiter: Text | None = None,
    start_after: Text | None = None,
    continuation_token: Text | None = None,
    max_keys: int = Query(MAX_KEYS, ge=0, le=MAX_KEYS),
) -> ObjectList:
    """Latest versions in key order; pass ``next_continuation_token`` to get the next page."""
    page = await run_in_threadpool(
        object_service(request).list_objects,
        request_context(request),
        bucket,
        prefix=prefix,
        delimiter=delimiter,
        start_after=start_after,
        token=continuation_token,
        max_keys=max_keys,
    )
    return ObjectList.of(bucket, page)


@router.get(
    "/buckets/{bucket}/versions",
    summary="List object versions",
    responses=error_responses(InvalidArgument, NoSuchBucket),
)
async def list_versions(
    request: Request,
    bucket: Text,
    prefix: Text = "",
    delimiter: Text | None = None,
    key_marker: Text | None = None,
    version_id_marker: Text | None = None,
    max_keys: int = Query(MAX_KEYS, ge=0, le=MAX_KEYS),
) -> VersionList:
    """Every version and delete marker: keys in order, newest version first; with a
    ``delimiter``, keys under a common prefix are listed once, as the prefix."""
    page = await run_in_threadpool(
        object_service(request).list_versions,
        request_context(request),
        bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        version_id_marker=version_id_marker,
        max_keys=max_keys,
    )
    return VersionList.of(bucket, page)


@router.get(
    f"/buckets/{{bucket}}/detail/{{key:{KEY}}}",
    summary="An object's versions and events",
    responses=error_responses(InvalidKey, InvalidArgument, NoSuchBucket, NoSuchKey),
)
async def object_detail(request: Request, bucket: Text) -> ObjectDetailView:
    key = raw_key(request, bucket, "detail")
    detail = await run_in_threadpool(
        object_service(request).detail, request_context(request), bucket, key
    )
    return ObjectDetailView.of(detail)


@router.post(
    "/copy",
    summary="Copy an object server-side",
    responses={
        200: {"headers": _VERSION_HEADERS},
        **error_responses(
            InvalidKey,
            InvalidArgument,
            MetadataTooLarge,
            NoSuchBucket,
            NoSuchKey,
            NoSuchVersion,
            MethodNotAllowed,
            MaxMessageLengthExceeded,
        ),
    },
)
async def copy_object(request: Request, response: Response, body: CopyRequest) -> VersionView:
    version = await run_in_threadpool(
        lambda: object_service(request).copy(
            request_context(request),
            body.source.bucket,
            body.source.key,
            body.destination.bucket,
            body.destination.key,
            source_version_id=body.source.version_id,
            content_type=body.content_type,
            metadata=body.metadata,
        )
    )
    return _written(response, body.destination.bucket, version)
