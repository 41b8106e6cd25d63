"""Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads."""

from __future__ import annotations

import re

import anyio.to_thread
from starlette.responses import Response

from chute.api.http.digests import content_md5
from chute.api.http.headers import check_conditions
from chute.api.s3.body import read_xml
from chute.api.s3.headers import (
    check_storage_class,
    content_headers,
    expected_checksum,
    user_metadata,
)
from chute.api.s3.listing import encoding, limit_of
from chute.api.s3.objects import copy_source, written_headers
from chute.api.s3.operations import route
from chute.api.s3.owner import owner
from chute.api.s3.payload import upload_body
from chute.api.s3.request import S3Request
from chute.api.s3.services import services_of
from chute.api.s3.xml import (
    child_text,
    children,
    element,
    leaf,
    optional,
    url_encoded,
    xml_response,
)
from chute.blobs.checksums import ChecksumAlgorithm, ChecksumType
from chute.catalog import ObjectVersion
from chute.errors import InvalidArgument, InvalidRequest, MalformedXML
from chute.objects.listing import MAX_KEYS

_COPY_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


def _upload_id(request: S3Request) -> str:
    return request.query["uploadId"]


def _part_number(request: S3Request) -> int:
    value = request.query.get("partNumber", "")
    if not value.isdigit() or not 1 <= int(value) <= 10000:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
    return int(value)


@route("POST", "object", "uploads")
async def create_multipart_upload(request: S3Request) -> Response:
    headers = request.headers
    check_storage_class(headers)
    algorithm_name = headers.get("x-amz-checksum-algorithm")
    algorithm = ChecksumAlgorithm.parse(algorithm_name) if algorithm_name else None
    type_name = headers.get("x-amz-checksum-type")
    checksum_type = _checksum_type(type_name) if type_name else None
    service = services_of(request).objects
    upload = await anyio.to_thread.run_sync(
        lambda: service.create_multipart_upload(
            request.context,
            request.bucket,
            request.key,
            content_type=headers.get("content-type"),
            metadata=user_metadata(headers),
            headers=content_headers(headers),
            checksum_algorithm=algorithm,
            checksum_type=checksum_type,
        )
    )
    answer = {}
    if upload.checksum_algorithm is not None:
        answer["x-amz-checksum-algorithm"] = upload.checksum_algorithm.value
    if upload.checksum_type is not None:
        answer["x-amz-checksum-type"] = upload.checksum_type.value
    result = element(
        "InitiateMultipartUploadResult",
        leaf("Bucket", request.bucket),
        leaf("Key", request.key),
        leaf("UploadId", upload.id),
    )
    return xml_response(result, headers=answer)


def _checksum_type(name: str) -> ChecksumType:
    try:
        return ChecksumType(name.upper())
    except ValueError:
        raise InvalidRequest(f"Value for x-amz-checksum-type header is invalid: {name}") from None


@route("PUT", "object", "part")
async def upload_part(request: S3Request) -> Response:
    number = _part_number(request)
    service = services_of(request).objects
    md5 = content_md5(request.headers.get("content-md5"))
    async with upload_body(request, service.max_part_size) as upload:
        part = await anyio.to_thread.run_sync(
            lambda: service.upload_part(
                request.context,
                request.bucket,
                request.key,
                _upload_id(request),
                number,
                upload.body,
                expected_size=upload.size,
                md5=md5,
                sha256=upload.sha256,
                checksum=upload.checksum,
            )
        )
    headers = {"etag": f'"{part.etag}"'}
    if part.checksum is not None and upload.checksum is not None:
        headers[upload.checksum.algorithm.header] = part.checksum
    return Response(headers=headers)


@route("PUT", "object", "copy-part")
async def upload_part_copy(request: S3Request) -> Response:
    number = _part_number(request)
    headers = request.headers
    source_bucket, source_key, source_version_id = copy_source(headers["x-amz-copy-source"])
    byte_range = _copy_range(headers.get("x-amz-copy-source-range"))
    service = services_of(request).objects

    def source_check(source: ObjectVersion) -> None:
        check_conditions(headers, source, prefix="x-amz-copy-source-")

    part = await anyio.to_thread.run_sync(
        lambda: service.upload_part_copy(
            request.context,
            request.bucket,
            request.key,
            _upload_id(request),
            number,
            source_bucket,
            source_key,
            source_version_id=source_version_id,
            byte_range=byte_range,
            source_check=source_check,
        )
    )
    result = element(
        "CopyPartResult",
        leaf("LastModified", part.created_at),
        leaf("ETag", f'"{part.etag}"'),
    )
    return xml_response(result)


def _copy_range(header: str | None) -> tuple[int, int] | None:
    """``bytes=first-last`` (both inclusive) as ``[start, end)``."""
    if header is None:
        return None
    match = _COPY_RANGE.match(header.strip())
    if match is None or int(match.group(2)) < int(match.group(1)):
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy"
        )
    return int(match.group(1)), int(match.group(2)) + 1


@route("POST", "object", "uploadId")
async def complete_multipart_upload(request: S3Request) -> Response:
    body = await read_xml(request)
    if body.tag != "CompleteMultipartUpload":
        raise MalformedXML()
    parts: list[tuple[int, str, str | None]] = []
    for item in children(body, "Part"):
        number = child_text(item, "PartNumber")
        etag = child_text(item, "ETag")
        if number is None or not number.strip().isdigit() or etag is None:
            raise MalformedXML()
        checksum = next(
            (child_text(item, f"Checksum{a.value}") for a in ChecksumAlgorithm
             if item.find(f"Checksum{a.value}") is not None),
            None,
        )  # fmt: skip
        parts.append((int(number), etag.strip(), checksum))
    if not parts:
        raise MalformedXML()
    declared = expected_checksum(request.headers)
    expected = (declared.algorithm, declared.value) if declared and declared.value else None
    type_name = request.headers.get("x-amz-checksum-type")
    service = services_of(request).objects
    version = await anyio.to_thread.run_sync(
        lambda: service.complete_multipart_upload(
            request.context,
            request.bucket,
            request.key,
            _upload_id(request),
            parts,
            expected_checksum=expected,
            checksum_type=_checksum_type(type_name) if type_name else None,
        )
    )
    headers = written_headers(version)
    headers.pop("etag")
    fields = [
        leaf("Location", f"{request.http.base_url}{request.bucket}/{request.key}"),
        leaf("Bucket", request.bucket),
        leaf("Key", request.key),
        leaf("ETag", f'"{version.etag}"'),
    ]
    if version.checksum is not None:
        fields.append(leaf(f"Checksum{version.checksum.algorithm.value}", version.checksum.value))
        fields.append(leaf("ChecksumType", version.checksum.type.value))
    return xml_response(element("CompleteMultipartUploadResult", *fields), headers=headers)


@route("DELETE", "object", "uploadId")
async def abort_multipart_upload(request: S3Request) -> Response:
    service = services_of(request).objects
    await anyio.to_thread.run_sync(
        service.abort_multipart_upload,
        request.context,
        request.bucket,
        request.key,
        _upload_id(request),
    )
    return Response(status_code=204)


@route("GET", "object", "uploadId")
async def list_parts(request: S3Request) -> Response:
    marker = request.query.get("part-number-marker", "0") or "0"
    if not marker.isdigit():
        raise InvalidArgument("Provided part-number-marker not an integer or within integer range")
    limit = limit_of(request, "max-parts")
    service = services_of(request).objects
    page = await anyio.to_thread.run_sync(
        lambda: service.list_parts(
            request.context,
            request.bucket,
            request.key,
            _upload_id(request),
            part_number_marker=int(marker),
            max_parts=limit,
        )
    )
    upload = page.upload
    entries = []
    for part in page.parts:
        entry = [
            leaf("PartNumber", part.part_number),
            leaf("LastModified", part.created_at),
            leaf("ETag", f'"{part.etag}"'),
            leaf("Size", part.size),
        ]
        if part.checksum is not None and upload.checksum_algorithm is not None:
            entry.append(leaf(f"Checksum{upload.checksum_algorithm.value}", part.checksum))
        entries.append(element("Part", *entry))
    fields = [
        leaf("Bucket", request.bucket),
        leaf("Key", request.key),
        leaf("UploadId", upload.id),
        owner(request, "Initiator"),
        owner(request),
        leaf("StorageClass", "STANDARD"),
        leaf("PartNumberMarker", page.part_number_marker),
        optional("NextPartNumberMarker", page.next_part_number_marker),
        leaf("MaxParts", page.max_parts),
        leaf("IsTruncated", page.is_truncated),
        optional(
            "ChecksumAlgorithm",
            upload.checksum_algorithm.value if upload.checksum_algorithm else None,
        ),
        optional("ChecksumType", upload.checksum_type.value if upload.checksum_type else None),
        *entries,
    ]
    return xml_response(element("ListPartsResult", *fields))


@route("GET", "bucket", "uploads")
async def list_multipart_uploads(request: S3Request) -> Response:
    query = request.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter") or None
    key_marker = query.get("key-marker") or None
    upload_marker = query.get("upload-id-marker") or None
    limit = limit_of(request, "max-uploads")
    encode = encoding(request)
    service = services_of(request).objects
    page = await anyio.to_thread.run_sync(
        lambda: service.list_multipart_uploads(
            request.context,
            request.bucket,
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            upload_id_marker=upload_marker if key_marker else None,
            max_uploads=min(limit, MAX_KEYS),
        )
    )
    entries = [
        element(
            "Upload",
            leaf("Key", url_encoded(upload.key, encode)),
            leaf("UploadId", upload.id),
            owner(request, "Initiator"),
            owner(request),
            leaf("StorageClass", "STANDARD"),
            leaf("Initiated", upload.initiated_at),
            optional(
                "ChecksumAlgorithm",
                upload.checksum_algorithm.value if upload.checksum_algorithm else None,
            ),
        )
        for upload in page.uploads
    ]
    fields = [
        leaf("Bucket", request.bucket),
        leaf("KeyMarker", url_encoded(key_marker or "", encode)),
        leaf("UploadIdMarker", upload_marker or ""),
        optional(
            "NextKeyMarker",
            url_encoded(page.next_key_marker, encode) if page.next_key_marker else None,
        ),
        optional("NextUploadIdMarker", page.next_upload_id_marker),
        leaf("Prefix", url_encoded(prefix, encode)),
        optional("Delimiter", url_encoded(delimiter, encode) if delimiter else None),
        leaf("MaxUploads", limit),
        optional("EncodingType", "url" if encode else None),
        leaf("IsTruncated", page.is_truncated),
        *entries,
        *(
            element("CommonPrefixes", leaf("Prefix", url_encoded(p, encode)))
            for p in page.common_prefixes
        ),
    ]
    return xml_response(element("ListMultipartUploadsResult", *fields))
