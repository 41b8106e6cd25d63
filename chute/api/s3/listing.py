"""Listings: ListObjects (v1), ListObjectsV2 and ListObjectVersions.

With ``encoding-type=url`` the keys and prefixes in the answer (and the markers and
delimiter echoed back) are URL-encoded, as S3 does; continuation tokens and version ids
are opaque and never encoded.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import anyio.to_thread
from starlette.responses import Response

from chute.api.s3.headers import STANDARD
from chute.api.s3.operations import route
from chute.api.s3.owner import owner
from chute.api.s3.request import S3Request
from chute.api.s3.services import services_of
from chute.api.s3.xml import element, leaf, optional, url_encoded, xml_response
from chute.catalog import ObjectVersion
from chute.errors import InvalidArgument
from chute.objects.listing import MAX_KEYS


def limit_of(request: S3Request, name: str = "max-keys") -> int:
    value = request.query.get(name)
    if value is None:
        return MAX_KEYS
    try:
        number = int(value)
    except ValueError:
        raise InvalidArgument(f"Provided {name} not an integer or within integer range") from None
    if number < 0:
        raise InvalidArgument(f"Argument {name} must be an integer between 0 and 2147483647")
    return min(number, MAX_KEYS)


def encoding(request: S3Request) -> bool:
    value = request.query.get("encoding-type")
    if value is None:
        return False
    if value.lower() != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    return True


def _contents(
    request: S3Request, version: ObjectVersion, encode: bool, with_owner: bool
) -> ET.Element:
    entry = [
        leaf("Key", url_encoded(version.key, encode)),
        leaf("LastModified", version.created_at),
        leaf("ETag", f'"{version.etag}"'),
    ]
    if version.checksum is not None:
        entry.append(leaf("ChecksumAlgorithm", version.checksum.algorithm.value))
        entry.append(leaf("ChecksumType", version.checksum.type.value))
    entry += [leaf("Size", version.size), leaf("StorageClass", STANDARD)]
    if with_owner:
        entry.append(owner(request))
    return element("Contents", *entry)


def _prefixes(prefixes: list[str], encode: bool) -> list[ET.Element]:
    return [element("CommonPrefixes", leaf("Prefix", url_encoded(p, encode))) for p in prefixes]


@route("GET", "bucket", "list-type")
async def list_objects_v2(request: S3Request) -> Response:
    query = request.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter") or None
    start_after = query.get("start-after") or None
    token = query.get("continuation-token")
    if token == "":
        raise InvalidArgument("The continuation token provided is incorrect")
    max_keys = limit_of(request)
    encode = encoding(request)
    service = services_of(request).objects
    page = await anyio.to_thread.run_sync(
        lambda: service.list_objects(
            request.context,
            request.bucket,
            prefix=prefix,
            delimiter=delimiter,
            start_after=start_after,
            token=token,
            max_keys=max_keys,
        )
    )
    with_owner = query.get("fetch-owner", "").lower() == "true"
    fields = [
        leaf("Name", request.bucket),
        leaf("Prefix", url_encoded(prefix, encode)),
        optional("Delimiter", url_encoded(delimiter, encode) if delimiter else None),
        leaf("MaxKeys", max_keys),
        optional("EncodingType", "url" if encode else None),
        leaf("KeyCount", len(page.objects) + len(page.common_prefixes)),
        leaf("IsTruncated", page.is_truncated),
        optional("ContinuationToken", token),
        optional("NextContinuationToken", page.next_token),
        optional("StartAfter", url_encoded(start_after, encode) if start_after else None),
        *(_contents(request, v, encode, with_owner) for v in page.objects),
        *_prefixes(page.common_prefixes, encode),
    ]
    return xml_response(element("ListBucketResult", *fields))


@route("GET", "bucket")
async def list_objects(request: S3Request) -> Response:
    query = request.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter") or None
    marker = query.get("marker") or None
    max_keys = limit_of(request)
    encode = encoding(request)
    service = services_of(request).objects
    # A marker that is a common prefix of this listing skips every key under it (the
    # object service's rule), so no prefix is listed twice.
    page = await anyio.to_thread.run_sync(
        lambda: service.list_objects(
            request.context,
            request.bucket,
            prefix=prefix,
            delimiter=delimiter,
            start_after=marker,
            max_keys=max_keys,
        )
    )
    # S3 gives NextMarker only with a delimiter
    next_marker = page.next_marker if delimiter else None
    fields = [
        leaf("Name", request.bucket),
        leaf("Prefix", url_encoded(prefix, encode)),
        leaf("Marker", url_encoded(marker or "", encode)),
        optional("NextMarker", url_encoded(next_marker, encode) if next_marker else None),
        leaf("MaxKeys", max_keys),
        optional("Delimiter", url_encoded(delimiter, encode) if delimiter else None),
        optional("EncodingType", "url" if encode else None),
        leaf("IsTruncated", page.is_truncated),
        *(_contents(request, v, encode, True) for v in page.objects),
        *_prefixes(page.common_prefixes, encode),
    ]
    return xml_response(element("ListBucketResult", *fields))


@route("GET", "bucket", "versions")
async def list_object_versions(request: S3Request) -> Response:
    query = request.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter") or None
    key_marker = query.get("key-marker") or None
    version_marker = query.get("version-id-marker") or None
    if version_marker is not None and key_marker is None:
        raise InvalidArgument("A version-id marker cannot be specified without a key marker.")
    max_keys = limit_of(request)
    encode = encoding(request)
    service = services_of(request).objects
    page = await anyio.to_thread.run_sync(
        lambda: service.list_versions(
            request.context,
            request.bucket,
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            version_id_marker=version_marker,
            max_keys=max_keys,
        )
    )
    entries = []
    for version in page.versions:
        common = [
            leaf("Key", url_encoded(version.key, encode)),
            leaf("VersionId", version.version_id),
            leaf("IsLatest", version.is_latest),
            leaf("LastModified", version.created_at),
        ]
        if version.is_delete_marker:
            entries.append(element("DeleteMarker", *common, owner(request)))
            continue
        detail = [leaf("ETag", f'"{version.etag}"'), leaf("Size", version.size)]
        if version.checksum is not None:
            detail.append(leaf("ChecksumAlgorithm", version.checksum.algorithm.value))
        detail += [leaf("StorageClass", STANDARD), owner(request)]
        entries.append(element("Version", *common, *detail))
    fields = [
        leaf("Name", request.bucket),
        leaf("Prefix", url_encoded(prefix, encode)),
        leaf("KeyMarker", url_encoded(key_marker or "", encode)),
        leaf("VersionIdMarker", version_marker or ""),
        optional("NextKeyMarker", url_encoded(page.next_key, encode) if page.next_key else None),
        optional("NextVersionIdMarker", page.next_version_id),
        leaf("MaxKeys", max_keys),
        optional("Delimiter", url_encoded(delimiter, encode) if delimiter else None),
        optional("EncodingType", "url" if encode else None),
        leaf("IsTruncated", page.is_truncated),
        *entries,
        *_prefixes(page.common_prefixes, encode),
    ]
    return xml_response(element("ListVersionsResult", *fields))
