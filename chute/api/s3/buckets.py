"""Bucket operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket,
GetBucketLocation, versioning, and DeleteObjects (a POST to the bucket)."""

from __future__ import annotations

import anyio.to_thread
from starlette.responses import Response

from chute.api.s3.body import check_integrity, read_xml
from chute.api.s3.operations import route
from chute.api.s3.owner import owner
from chute.api.s3.request import S3Request
from chute.api.s3.services import services_of
from chute.api.s3.xml import (
    child_text,
    children,
    element,
    leaf,
    optional,
    parse,
    xml_response,
)
from chute.catalog import NULL_VERSION, Versioning
from chute.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    ChuteError,
    InvalidLocationConstraint,
    InvalidRequest,
    MalformedXML,
)


@route("GET", "service")
async def list_buckets(request: S3Request) -> Response:
    service = services_of(request).objects
    buckets = await anyio.to_thread.run_sync(service.list_buckets, request.context)
    entries = [
        element("Bucket", leaf("Name", bucket.name), leaf("CreationDate", bucket.created_at))
        for bucket in buckets
    ]
    result = element("ListAllMyBucketsResult", owner(request), element("Buckets", *entries))
    return xml_response(result)


@route("PUT", "bucket")
async def create_bucket(request: S3Request) -> Response:
    services = services_of(request)
    location = None
    if request.http.headers.get("content-length", "0") != "0" or request.headers.get(
        "transfer-encoding"
    ):
        body = await read_xml(request)
        location = child_text(body, "LocationConstraint") or None
    if location is not None and location != services.region:
        raise InvalidLocationConstraint(
            f"The {location} location constraint is not valid: this server is in {services.region}"
        )
    public = _canned_acl(request)
    try:
        await anyio.to_thread.run_sync(
            lambda: services.objects.create_bucket(
                request.context, request.bucket, location=location
            )
        )
    except BucketAlreadyExists:
        raise BucketAlreadyOwnedByYou() from None
    if public:
        await anyio.to_thread.run_sync(
            services.objects.set_public_read, request.context, request.bucket, True
        )
    return Response(headers={"location": "/" + request.bucket})


def _canned_acl(request: S3Request) -> bool:
    """Whether ``x-amz-acl`` makes the bucket public-read (the only ACL Chute keeps;
    ``private`` is the default)."""
    acl = request.headers.get("x-amz-acl")
    if acl in (None, "private", "bucket-owner-full-control"):
        return False
    if acl == "public-read":
        return True
    raise InvalidRequest(f"the canned ACL {acl!r} is not supported: use private or public-read")


@route("HEAD", "bucket")
async def head_bucket(request: S3Request) -> Response:
    services = services_of(request)
    await anyio.to_thread.run_sync(services.objects.get_bucket, request.context, request.bucket)
    return Response(headers={"x-amz-bucket-region": services.region})


@route("DELETE", "bucket")
async def delete_bucket(request: S3Request) -> Response:
    service = services_of(request).objects
    await anyio.to_thread.run_sync(service.delete_bucket, request.context, request.bucket)
    return Response(status_code=204)


@route("GET", "bucket", "location")
async def get_bucket_location(request: S3Request) -> Response:
    service = services_of(request).objects
    bucket = await anyio.to_thread.run_sync(service.get_bucket, request.context, request.bucket)
    constraint = leaf("LocationConstraint", bucket.location or "")
    return xml_response(constraint)


@route("GET", "bucket", "versioning")
async def get_bucket_versioning(request: S3Request) -> Response:
    service = services_of(request).objects
    bucket = await anyio.to_thread.run_sync(service.get_bucket, request.context, request.bucket)
    status = {Versioning.ENABLED: "Enabled", Versioning.SUSPENDED: "Suspended"}
    state = status.get(bucket.versioning)
    return xml_response(element("VersioningConfiguration", optional("Status", state)))


@route("PUT", "bucket", "versioning")
async def put_bucket_versioning(request: S3Request) -> Response:
    body = await read_xml(request)
    status = child_text(body, "Status")
    states = {"Enabled": Versioning.ENABLED, "Suspended": Versioning.SUSPENDED}
    if body.tag != "VersioningConfiguration" or status not in states:
        raise MalformedXML()
    if child_text(body, "MfaDelete") == "Enabled":
        raise InvalidRequest("MFA delete is not supported")
    service = services_of(request).objects
    await anyio.to_thread.run_sync(
        service.set_versioning, request.context, request.bucket, states[status]
    )
    return Response()


# --- DeleteObjects -------------------------------------------------------------------

#: Most keys one DeleteObjects request may name.
MAX_DELETE_KEYS = 1000


@route("POST", "bucket", "delete")
async def delete_objects(request: S3Request) -> Response:
    raw = await read_xml(request, parse=False)
    check_integrity(request, raw)
    body = parse(raw)
    quiet = (child_text(body, "Quiet") or "").strip().lower() == "true"
    wanted = [
        (child_text(item, "Key"), child_text(item, "VersionId"))
        for item in children(body, "Object")
    ]
    if body.tag != "Delete" or not wanted or len(wanted) > MAX_DELETE_KEYS:
        raise MalformedXML()
    service = services_of(request).objects
    results = []
    for key, version_id in wanted:
        if key is None:
            raise MalformedXML()
        try:
            done = await anyio.to_thread.run_sync(
                service.delete, request.context, request.bucket, key, version_id
            )
        except ChuteError as error:
            results.append(
                element(
                    "Error",
                    leaf("Key", key),
                    optional("VersionId", version_id),
                    leaf("Code", error.code),
                    leaf("Message", error.message),
                )
            )
            continue
        if quiet:
            continue
        entry = [leaf("Key", key), optional("VersionId", version_id)]
        if done.delete_marker:
            entry.append(leaf("DeleteMarker", True))
            marker = done.version_id or NULL_VERSION
            entry.append(leaf("DeleteMarkerVersionId", marker))
        results.append(element("Deleted", *entry))
    return xml_response(element("DeleteResult", *results))
