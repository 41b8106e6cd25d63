"""POST Object: uploads from a browser's HTML form (what boto3's
``generate_presigned_post`` prepares), authorised by a signed POST policy.

The form's fields stand for PutObject's headers, and its ``file`` part is the body. The
fields are read first (:mod:`chute.api.s3.form`); the policy's signature is checked with
the access key's secret, then the policy itself (:mod:`chute.security.post_policy`):
its expiration, its conditions, and that every field is named by one. Only then does the
file stream into the object service, which enforces the key's permissions; the policy's
``content-length-range`` is enforced as the bytes pass, so a file of the wrong size is
refused before anything is stored. A form without signing fields is anonymous: it may
write only what the request's own context may.

S3's answers follow: ``success_action_redirect`` (303 to it, with the bucket, key and
ETag), or ``success_action_status`` 200, 201 (a ``PostResponse`` document) or 204, the
default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import anyio.to_thread
from starlette.responses import Response

from chute.api.http.body import BodyStream
from chute.api.http.digests import content_md5
from chute.api.http.observe import CONTEXT_STATE
from chute.api.s3.form import FormReader, boundary_of
from chute.api.s3.headers import (
    check_storage_class,
    content_headers,
    expected_checksum,
    user_metadata,
)
from chute.api.s3.objects import written_headers
from chute.api.s3.operations import route
from chute.api.s3.request import S3Request
from chute.api.s3.services import S3Services, services_of
from chute.api.s3.xml import XML_TYPE, element, leaf, render
from chute.blobs.checksums import ExpectedChecksum
from chute.catalog import ObjectVersion
from chute.context import RequestContext
from chute.errors import (
    InvalidArgument,
    PostAccessKeyUnknown,
    PreconditionFailed,
    UploadTooLarge,
    UploadTooSmall,
)
from chute.events import EventName
from chute.security.post_policy import Policy, SignedForm, form_values

#: What ``${filename}`` in a field's value stands for: the name of the uploaded file.
FILENAME_VARIABLE: Final = "${filename}"
#: Canned ACLs S3 takes in a form. Chute keeps no object ACLs: a valid one is accepted
#: and has no effect, as for PutObject.
CANNED_ACLS: Final = frozenset(
    {
        "private", "public-read", "public-read-write", "aws-exec-read", "authenticated-read",
        "bucket-owner-read", "bucket-owner-full-control",
    }
)  # fmt: skip
_CHECKSUM_PREFIX: Final = "x-amz-checksum-"
_CHECKSUM_ALGORITHM: Final = "x-amz-checksum-algorithm"


@dataclass(frozen=True, slots=True)
class Stored:
    """What a form upload stored, and the fields its answer depends on."""

    version: ObjectVersion
    key: str
    values: dict[str, str]


@route("POST", "bucket", "form")
@route("POST", "bucket")
async def post_object(request: S3Request) -> Response:
    content_type = request.headers.get("content-type", "")
    if "multipart/form-data" not in content_type.lower():
        error = PreconditionFailed("At least one of the pre-conditions you specified did not hold")
        error.details = {
            "Condition": "Bucket POST must be of the enclosure-type multipart/form-data"
        }
        raise error
    services = services_of(request)
    boundary = boundary_of(content_type)
    stream = BodyStream(request.http, services.body_timeout_seconds)
    try:
        reader = FormReader(boundary, stream)
        stored = await anyio.to_thread.run_sync(_store, request, services, reader)
    finally:
        await stream.close()
    return _answer(request, stored)


def _store(request: S3Request, services: S3Services, reader: FormReader) -> Stored:
    """Read the fields, check the policy, then stream the file into the object service
    (in a worker thread: every step blocks)."""
    form = reader.read_fields()
    fields = _expanded(form.fields, form.filename)
    values = form_values(fields)
    key = values.get("key")
    if key is None:
        error = InvalidArgument(
            "Bucket POST must contain a field named 'key'.  If it is specified, please check "
            "the order of the fields."
        )
        error.details = {"ArgumentName": "key", "ArgumentValue": ""}
        raise error
    context, size_range = _authorize(request, services, fields, values)
    options = _put_options(values)
    body = _within(reader.file(), size_range)
    version = services.objects.put(
        context, request.bucket, key, body, event=EventName.OBJECT_CREATED_POST, **options
    )
    return Stored(version, key, values)


def _expanded(fields: list[tuple[str, str]], filename: str | None) -> list[tuple[str, str]]:
    """``${filename}`` replaced by the file's name in every field, as S3 does before it
    checks the policy. A file part without a ``filename`` leaves it as it is (S3 does
    so too, though its documentation says it becomes empty)."""
    if filename is None:
        return fields
    return [(name, value.replace(FILENAME_VARIABLE, filename)) for name, value in fields]


def _authorize(
    request: S3Request,
    services: S3Services,
    fields: list[tuple[str, str]],
    values: Mapping[str, str],
) -> tuple[RequestContext, tuple[int, int] | None]:
    """Who the upload is made as, and the file sizes its policy allows.

    A signed form is made with its access key's rights, once the signature and the
    policy hold; without access keys (authentication off) the signature cannot be
    checked and the request's own context stands, but the policy is still enforced.
    An unsigned form is made with the request's context."""
    signed = SignedForm.of(values)
    if signed is None:
        return request.context, None
    signed.check_scope(services.region)
    context = request.context
    if services.secrets is not None:
        found = services.secrets(signed.access_key)
        if found is None:
            raise PostAccessKeyUnknown(signed.access_key)
        secret, permissions = found
        signed.verify(secret)
        context = dataclasses.replace(
            context,
            principal=signed.access_key,
            permissions=permissions,
            access_key=signed.access_key,
        )
        request.http.scope["state"][CONTEXT_STATE] = context  # what the hooks record
    policy = Policy.decode(signed.policy)
    policy.check(fields, request.bucket, services.clock(), signed.exempt)
    return context, policy.size_range


def _put_options(values: Mapping[str, str]) -> dict[str, Any]:
    """PutObject's options from the form's fields (by lower-case name)."""
    check_storage_class(values)
    acl = values.get("acl")
    if acl is not None and acl not in CANNED_ACLS:
        raise InvalidArgument(f"the canned ACL {acl!r} is not valid")
    return {
        "content_type": values.get("content-type"),
        "metadata": user_metadata(values),
        "headers": content_headers(values),
        "md5": content_md5(values.get("content-md5")),
        "checksum": _checksum(values),
    }


def _checksum(values: Mapping[str, str]) -> ExpectedChecksum | None:
    """The ``x-amz-checksum-*`` field, checked as PutObject checks the header."""
    declared = {
        name: value
        for name, value in values.items()
        if name.startswith(_CHECKSUM_PREFIX) and name != _CHECKSUM_ALGORITHM
    }
    if _CHECKSUM_ALGORITHM in values:
        declared["x-amz-sdk-checksum-algorithm"] = values[_CHECKSUM_ALGORITHM]
    return expected_checksum(declared)


def _within(chunks: Iterable[bytes], size_range: tuple[int, int] | None) -> Iterator[bytes]:
    """The file's bytes, refused as soon as they pass the policy's maximum, or at their
    end if they fall short of its minimum: either way before anything is stored."""
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size_range is not None and size > size_range[1]:
            raise UploadTooLarge(size, size_range[1])
        yield chunk
    if size_range is not None and size < size_range[0]:
        raise UploadTooSmall(size, size_range[0])


# --- the answer ----------------------------------------------------------------------


def _answer(request: S3Request, stored: Stored) -> Response:
    version, values = stored.version, stored.values
    headers = written_headers(version)
    redirect = values.get("success_action_redirect") or values.get("redirect")
    if redirect and _is_absolute(redirect):
        target = _with_query(
            redirect,
            {"bucket": request.bucket, "key": stored.key, "etag": f'"{version.etag}"'},
        )
        return Response(status_code=303, headers={**headers, "location": target})
    headers["location"] = _object_url(request, stored.key)
    status = values.get("success_action_status")
    if status == "201":
        document = element(
            "PostResponse",
            leaf("Location", headers["location"]),
            leaf("Bucket", request.bucket),
            leaf("Key", stored.key),
            leaf("ETag", f'"{version.etag}"'),
        )
        body = render(document, namespace=False)
        return Response(body, status_code=201, headers=headers, media_type=XML_TYPE)
    return Response(status_code=200 if status == "200" else 204, headers=headers)


def _is_absolute(url: str) -> bool:
    """Whether S3 would follow ``url``: it ignores one it cannot interpret (a relative
    one among them) and answers as if none were given."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _with_query(url: str, parameters: dict[str, str]) -> str:
    """``url`` with ``parameters`` added to its query (form-encoded: ``/`` as ``%2F``,
    a space as ``+``), after any it has."""
    parts = urlsplit(url)
    added = urlencode(parameters)
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit(parts._replace(query=query))


def _object_url(request: S3Request, key: str) -> str:
    """The URL of the stored object, in the style the form was posted in (the key
    percent-encoded, ``/`` too, as S3 writes it)."""
    url = request.http.url
    base = f"{url.scheme}://{request.headers.get('host', url.netloc)}"
    if url.path.strip("/"):  # path style: /bucket
        base += "/" + quote(request.bucket, safe="")
    return f"{base}/{quote(key, safe='')}"
