"""Which S3 operation a request is: by method, by whether it names a bucket and a key,
and by its subresource (``?versioning``, ``?uploads``, ...) and a few headers.

S3 has one URL space for dozens of operations; this table is the one place that tells
them apart. A subresource Chute does not implement answers ``501 NotImplemented``
instead of being mistaken for a plain GET or PUT.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response

from chute.api.s3.request import S3Request, Target
from chute.errors import MethodNotAllowed, NotImplementedFeature

Handler = Callable[[S3Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Operation:
    """An S3 operation and the handler that answers it."""

    name: str
    handler: Handler
    #: Answered without authenticating the request (a CORS preflight: browsers send
    #: no credentials with it); the handler runs with the anonymous context.
    anonymous: bool = False


#: Subresources of S3's API that name an operation; any not routed below is refused.
SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption",
        "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location",
        "logging", "metrics", "notification", "object-lock", "ownershipControls",
        "partNumber", "policy", "policyStatus", "publicAccessBlock", "replication",
        "requestPayment", "restore", "retention", "select", "session", "tagging",
        "torrent", "uploadId", "uploads", "versioning", "versions", "website",
        "list-type", "metadataTable", "renameObject",
    }
)  # fmt: skip

# (method, level, subresource or "") -> operation; level is "service", "bucket", "object".
Table = dict[tuple[str, str, str], Operation]
_table: Table = {}


def route(
    method: str, level: str, subresource: str = "", *, anonymous: bool = False
) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method`` on ``level`` with ``subresource``
    (``anonymous``: see :attr:`Operation.anonymous`)."""

    def register(handler: Handler) -> Handler:
        name = _operation_name(handler)
        _table[(method, level, subresource)] = Operation(name, handler, anonymous)
        return handler

    return register


def _operation_name(handler: Handler) -> str:
    """``put_bucket_versioning`` answers PutBucketVersioning."""
    return "".join(part.capitalize() for part in handler.__name__.split("_"))


def resolve(
    method: str, target: Target, query: dict[str, str], headers: dict[str, str]
) -> Operation:
    """The operation a request asks for; 501 for an unimplemented subresource, 405 for
    a method the resource does not have."""
    if target.bucket is None:
        level = "service"
    elif target.key is None:
        level = "bucket"
    else:
        level = "object"
    subresource = _subresource(method, level, query, headers)
    found = _table.get((method, level, subresource))
    if found is not None:
        return found
    if subresource and subresource in SUBRESOURCES:
        raise NotImplementedFeature(
            f"the {subresource!r} subresource is not implemented for {method} requests"
        )
    raise MethodNotAllowed(f"{method} is not allowed on this resource")


def _subresource(method: str, level: str, query: dict[str, str], headers: dict[str, str]) -> str:
    if method == "OPTIONS":
        return "preflight"
    if level == "object":
        if "uploadId" in query:
            if method == "PUT":
                return "copy-part" if "x-amz-copy-source" in headers else "part"
            return "uploadId"
        if method == "PUT" and "x-amz-copy-source" in headers and not _named(query):
            return "copy"
    if level == "bucket" and method == "GET" and query.get("list-type") == "2":
        return "list-type"
    if level == "bucket" and method == "POST" and not _named(query):
        return "form" if "multipart/form-data" in headers.get("content-type", "") else ""
    for name in query:
        if name in SUBRESOURCES and name not in ("list-type", "partNumber"):
            return name
    return ""


def _named(query: dict[str, str]) -> bool:
    return any(name in SUBRESOURCES and name != "partNumber" for name in query)
