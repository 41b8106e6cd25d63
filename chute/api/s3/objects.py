"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, CopyObject."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import anyio.to_thread
from starlette.responses import Response, StreamingResponse

from chute.api.http.body import stream_reader
from chute.api.http.digests import content_md5
from chute.api.http.headers import check_conditions
from chute.api.http.ranges import parse_range
from chute.api.s3.headers import (
    check_storage_class,
    content_headers,
    object_headers,
    response_overrides,
    user_metadata,
)
from chute.api.s3.operations import route
from chute.api.s3.payload import upload_body
from chute.api.s3.request import S3Request
from chute.api.s3.services import services_of
from chute.api.s3.xml import element, leaf, xml_response
from chute.catalog import NULL_VERSION, ObjectVersion
from chute.errors import (
    InvalidArgument,
    InvalidRequest,
    MethodNotAllowed,
)
from chute.names import decode_key
from chute.objects.records import ObjectRead


@route("PUT", "object")
async def put_object(request: S3Request) -> Response:
    headers = request.headers
    check_storage_class(headers)
    service = services_of(request).objects
    options: dict[str, Any] = {
        "content_type": headers.get("content-type"),
        "metadata": user_metadata(headers),
        "headers": content_headers(headers),
        "md5": content_md5(headers.get("content-md5")),
    }
    async with upload_body(request, service.max_object_size) as upload:
        version = await anyio.to_thread.run_sync(
            lambda: service.put(
                request.context,
                request.bucket,
                request.key,
                upload.body,
                expected_size=upload.size,
                sha256=upload.sha256,
                checksum=upload.checksum,
                **options,
            )
        )
    return Response(headers=written_headers(version))


def written_headers(version: ObjectVersion) -> dict[str, str]:
    """What S3 answers a write with: the ETag, the version id, the checksum kept."""
    headers = {"etag": f'"{version.etag}"'}
    if version.version_id != NULL_VERSION:
        headers["x-amz-version-id"] = version.version_id
    if version.checksum is not None:
        headers[version.checksum.algorithm.header] = version.checksum.value
        headers["x-amz-checksum-type"] = version.checksum.type.value
    return headers


@route("GET", "object")
async def get_object(request: S3Request) -> Response:
    read = await _open(request, body=True)
    assert read is not None
    headers = _read_headers(request, read.version, read)
    status = 206 if read.is_partial else 200
    return StreamingResponse(stream_reader(read.body), status_code=status, headers=headers)


@route("HEAD", "object")
async def head_object(request: S3Request) -> Response:
    version = await _head(request)
    part = _part_number(request)
    headers = _read_headers(request, version, None)
    if part is not None or request.headers.get("range"):
        read = await _open(request, body=False, version=version)
        assert read is not None
        headers = _read_headers(request, version, read)
        return Response(status_code=206 if read.is_partial else 200, headers=headers)
    headers["content-length"] = str(version.size)
    return Response(headers=headers)


async def _head(request: S3Request) -> ObjectVersion:
    service = services_of(request).objects
    version_id = _version_id(request)
    version = await anyio.to_thread.run_sync(
        service.head, request.context, request.bucket, request.key, version_id
    )
    if version.is_delete_marker:
        # Asked by version id: S3 answers 405 with the marker's headers.
        error = MethodNotAllowed("The specified method is not allowed against this resource.")
        raise _marked(error, version)
    check_conditions(request.headers, version)
    return version


def _marked(error: MethodNotAllowed, version: ObjectVersion) -> MethodNotAllowed:
    error.details = {"Method": "GET", "ResourceType": "DeleteMarker"}
    error.delete_marker_version = version.version_id  # type: ignore[attr-defined]
    return error


async def _open(
    request: S3Request, *, body: bool, version: ObjectVersion | None = None
) -> ObjectRead | None:
    service = services_of(request).objects
    if version is None:
        version = await _head(request)
    part = _part_number(request)
    if part is not None:
        if request.headers.get("range"):
            raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
        start, end, _ = await anyio.to_thread.run_sync(
            service.part_range, request.context, version, part
        )
        byte_range = (start, end) if (start, end) != (0, version.size) else None
    else:
        byte_range = parse_range(request.headers.get("range"), version.size)
    read = await anyio.to_thread.run_sync(service.read, request.context, version, byte_range)
    if not body:
        read.body.close()
    return read


def _read_headers(
    request: S3Request, version: ObjectVersion, read: ObjectRead | None
) -> dict[str, str]:
    checksum_mode = request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    ranged = read is not None and read.is_partial
    part = _part_number(request)
    if part is not None:
        ranged = (version.parts_count or 1) > 1
    headers = object_headers(version, checksum_mode=checksum_mode, ranged=ranged)
    overrides = response_overrides(request.query)
    if overrides and not request.context.permissions.grants:
        raise InvalidRequest(
            "Request specific response headers cannot be used for anonymous GET requests."
        )
    headers.update(overrides)
    if read is not None:
        headers["content-length"] = str(read.length)
        if read.is_partial:
            headers["content-range"] = f"bytes {read.start}-{read.end - 1}/{version.size}"
    if part is not None and version.parts_count:
        headers["x-amz-mp-parts-count"] = str(version.parts_count)
    return headers


def _part_number(request: S3Request) -> int | None:
    value = request.query.get("partNumber")
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 10000:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
    return int(value)


def _version_id(request: S3Request) -> str | None:
    value = request.query.get("versionId")
    if value == "":
        raise InvalidArgument("Version id cannot be the empty string")
    return value


@route("DELETE", "object")
async def delete_object(request: S3Request) -> Response:
    service = services_of(request).objects
    result = await anyio.to_thread.run_sync(
        service.delete, request.context, request.bucket, request.key, _version_id(request)
    )
    headers = {}
    if result.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    if (result.version_id is not None and result.version_id != NULL_VERSION) or (
        result.version_id == NULL_VERSION and request.query.get("versionId") == NULL_VERSION
    ):
        headers["x-amz-version-id"] = result.version_id or NULL_VERSION
    return Response(status_code=204, headers=headers)


# --- copy ----------------------------------------------------------------------------


def copy_source(header: str) -> tuple[str, str, str | None]:
    """Bucket, key and version id of an ``x-amz-copy-source`` header
    (``/bucket/key?versionId=...``, URL-encoded, the leading slash optional).

    The value is decoded before the bucket is split off, as S3 does: a client that
    URL-encodes all of ``bucket/key`` (``encodeURIComponent`` in JavaScript) sends the
    separator as ``%2F``. Bucket names hold neither ``/`` nor ``%``, so the first slash
    ends the bucket either way."""
    raw, _, query = header.partition("?")
    path = unquote_to_bytes(raw).removeprefix(b"/")
    bucket, slash, key = path.partition(b"/")
    if not bucket or not slash or not key:
        raise InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
        )
    version_id = None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "versionId":
            version_id = value
    return bucket.decode("utf-8", "replace"), decode_key(key), version_id


@route("PUT", "object", "copy")
async def copy_object(request: S3Request) -> Response:
    headers = request.headers
    check_storage_class(headers)
    service = services_of(request).objects
    source_bucket, source_key, source_version_id = copy_source(headers["x-amz-copy-source"])
    source = await anyio.to_thread.run_sync(
        service.head, request.context, source_bucket, source_key, source_version_id
    )
    if source.is_delete_marker:
        raise InvalidRequest(
            "The source of a copy request may not specifically refer to a delete marker "
            "by version id."
        )
    check_conditions(headers, source, prefix="x-amz-copy-source-")
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("Unknown metadata directive.")
    replace = directive == "REPLACE"
    same = (source_bucket, source_key) == (request.bucket, request.key)
    if same and not replace and "x-amz-storage-class" not in headers:
        raise InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes."
        )
    version = await anyio.to_thread.run_sync(
        lambda: service.copy(
            request.context,
            source_bucket,
            source_key,
            request.bucket,
            request.key,
            source_version_id=source.version_id,
            content_type=headers.get("content-type") if replace else None,
            metadata=user_metadata(headers) if replace else None,
            headers=content_headers(headers) if replace else None,
        )
    )
    answer = written_headers(version)
    answer.pop("etag")
    if source.version_id != NULL_VERSION:
        answer["x-amz-copy-source-version-id"] = source.version_id
    result = element(
        "CopyObjectResult",
        leaf("LastModified", version.created_at),
        leaf("ETag", f'"{version.etag}"'),
        *(
            [leaf(f"Checksum{version.checksum.algorithm.value}", version.checksum.value)]
            if version.checksum is not None
            else []
        ),
    )
    return xml_response(result, headers=answer)
