"""What handlers get from the request: the object service and the request context."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from fastapi import Request

from chute.objects.names import decode_key
from chute.objects.service import ObjectService, RequestContext


def object_service(request: Request) -> ObjectService:
    service: ObjectService = request.app.state.runtime.objects
    return service


def request_context(request: Request) -> RequestContext:
    client = request.client
    return RequestContext(source_ip=client.host if client else "")


def raw_key(request: Request, bucket: str, resource: str) -> str:
    """The key from the raw request path, after ``/buckets/{bucket}/{resource}/``.

    Decoded here rather than by the router, so invalid UTF-8 is an error instead of being
    silently replaced, and ``%2F`` stays what the client meant.
    """
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    marker = f"/buckets/{bucket}/{resource}/".encode()
    _, _, encoded = raw_path.partition(marker)
    return decode_key(unquote_to_bytes(encoded))
