"""S3's object headers: ``x-amz-meta-*``, content headers, storage class and checksums
in requests; the same, with ETag, version id and the rest, in answers."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import format_datetime
from typing import Final

from chute.blobs.checksums import ChecksumAlgorithm, ExpectedChecksum
from chute.catalog import NULL_VERSION, ObjectVersion
from chute.errors import InvalidArgument, InvalidRequest, InvalidStorageClass
from chute.names import CONTENT_HEADERS

METADATA_PREFIX: Final = "x-amz-meta-"
STANDARD: Final = "STANDARD"
#: Storage classes S3 accepts; Chute keeps every object in STANDARD for now.
STORAGE_CLASSES = frozenset(
    {
        "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
        "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE",
    }
)  # fmt: skip
#: ``response-*`` query parameters of a GET, and the header each overrides.
RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}
_CHECKSUM_HEADERS = {algorithm.header: algorithm for algorithm in ChecksumAlgorithm}


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """``x-amz-meta-*`` headers, names lower-cased, without the prefix."""
    return {
        name[len(METADATA_PREFIX) :]: value
        for name, value in headers.items()
        if name.startswith(METADATA_PREFIX)
    }


def content_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The content headers an object keeps (Content-Type aside). ``aws-chunked`` is
    how the body was sent, not how the object is encoded: S3 drops it."""
    kept = {name: headers[name] for name in CONTENT_HEADERS if name in headers}
    encoding = kept.get("content-encoding")
    if encoding is not None:
        codings = [c.strip() for c in encoding.split(",") if c.strip() != "aws-chunked"]
        if codings:
            kept["content-encoding"] = ", ".join(codings)
        else:
            del kept["content-encoding"]
    return kept


def check_storage_class(headers: Mapping[str, str]) -> None:
    value = headers.get("x-amz-storage-class")
    if value is not None and value not in STORAGE_CLASSES:
        raise InvalidStorageClass()


def expected_checksum(headers: Mapping[str, str]) -> ExpectedChecksum | None:
    """The checksum a request declares for its body: an ``x-amz-checksum-*`` header,
    or an algorithm whose value comes in a trailer (``x-amz-trailer``). ``None`` if it
    declares none."""
    given = [(name, value) for name, value in headers.items() if name in _CHECKSUM_HEADERS]
    if len(given) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    declared = headers.get("x-amz-sdk-checksum-algorithm")
    if given:
        name, value = given[0]
        algorithm = _CHECKSUM_HEADERS[name]
        if declared is not None and ChecksumAlgorithm.parse(declared) is not algorithm:
            raise InvalidRequest("Value for x-amz-sdk-checksum-algorithm header is invalid.")
        return ExpectedChecksum(algorithm, value)
    if trailer:
        if trailer not in _CHECKSUM_HEADERS:
            raise InvalidRequest(
                f"The value specified in the x-amz-trailer header is not supported: {trailer}"
            )
        return ExpectedChecksum(_CHECKSUM_HEADERS[trailer])
    if declared is not None:
        raise InvalidRequest(
            "x-amz-sdk-checksum-algorithm specified, but no corresponding "
            "x-amz-checksum-* or x-amz-trailer headers were found."
        )
    return None


def object_headers(
    version: ObjectVersion, *, checksum_mode: bool = False, ranged: bool = False
) -> dict[str, str]:
    """The headers describing a version on GET and HEAD. Its checksum only when asked
    for (``x-amz-checksum-mode: ENABLED``) and never for part of it."""
    headers = {
        "etag": f'"{version.etag}"',
        "last-modified": format_datetime(version.created_at, usegmt=True),
        "content-type": version.content_type,
        "accept-ranges": "bytes",
    }
    headers.update(version.headers)
    if version.version_id != NULL_VERSION:
        headers["x-amz-version-id"] = version.version_id
    for name, value in version.user_metadata.items():
        headers[METADATA_PREFIX + name] = value
    checksum = version.checksum
    if checksum is not None and checksum_mode and not ranged:
        headers[checksum.algorithm.header] = checksum.value
        headers["x-amz-checksum-type"] = checksum.type.value
    return headers


def response_overrides(query: Mapping[str, str]) -> dict[str, str]:
    """The headers a GET's ``response-*`` parameters set."""
    overrides = {}
    for parameter, header in RESPONSE_OVERRIDES.items():
        if parameter in query:
            overrides[header] = query[parameter]
    for name, value in overrides.items():
        if not value.isascii() or not value.isprintable():
            raise InvalidArgument(f"the {name} override must be printable ASCII")
    return overrides
