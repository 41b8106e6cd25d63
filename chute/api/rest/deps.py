"""What handlers get: the services the app was built with, and parts of the request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from fastapi import Request

from chute.api.http.observe import CONTEXT_STATE, anonymous_context
from chute.context import RequestContext
from chute.errors import NotImplementedFeature
from chute.functions.logs import FunctionLogs
from chute.functions.service import Functions
from chute.hooks import Hooks
from chute.names import decode_key
from chute.objects.service import ObjectService
from chute.pipelines.control import ControlService
from chute.pipelines.functions import FunctionQueue
from chute.pipelines.model import Pipeline
from chute.pipelines.status import StatusService
from chute.security.authenticate import Authenticator
from chute.security.keys import KeyService


@dataclass(frozen=True, slots=True)
class FunctionServices:
    """What the functions endpoints call."""

    #: The functions and their warm environments in this process.
    functions: Functions
    #: Every invocation's log.
    logs: FunctionLogs
    #: Queues ``event`` invocations (``None``: not available here).
    queue: FunctionQueue | None = None


@dataclass(frozen=True, slots=True)
class Services:
    """The services the JSON API calls, handed to :func:`chute.api.rest.app.create_app`."""

    objects: ObjectService
    status: StatusService
    control: ControlService
    pipelines: Mapping[str, Pipeline]
    #: An upload whose client sends nothing for this long fails with 408.
    body_timeout_seconds: float
    #: Told of every request answered.
    hooks: Hooks
    #: Largest JSON body read (``http.max_small_body_bytes``); 400 beyond it.
    max_small_body_bytes: int
    #: Access keys, for the key management endpoints.
    keys: KeyService
    #: Who signed each request; ``None`` when authentication is off (``auth.enabled``):
    #: then anyone may do anything.
    authenticator: Authenticator | None
    #: The functions endpoints' services (``None``: this server has none).
    functions: FunctionServices | None = None


def services(request: Request) -> Services:
    """The services of the app serving ``request``."""
    found: Services = request.app.state.services
    return found


def object_service(request: Request) -> ObjectService:
    return services(request).objects


def control_service(request: Request) -> ControlService:
    return services(request).control


def status_service(request: Request) -> StatusService:
    return services(request).status


def key_service(request: Request) -> KeyService:
    return services(request).keys


def function_services(request: Request) -> FunctionServices:
    found = services(request).functions
    if found is None:
        raise NotImplementedFeature("this server runs no functions")
    return found


def request_context(request: Request) -> RequestContext:
    """Who asked (set for each request by :class:`chute.api.http.ObservedRequests`)."""
    context = getattr(request.state, CONTEXT_STATE, None)
    return context if context is not None else anonymous_context(request.scope)


def raw_key(request: Request, bucket: str, resource: str) -> str:
    """The key from the raw request path, after ``/buckets/{bucket}/{resource}/``.

    Decoded here rather than by the router, so invalid UTF-8 is an error instead of being
    silently replaced, and ``%2F`` stays what the client meant.
    """
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    marker = f"/buckets/{bucket}/{resource}/".encode()
    _, _, encoded = raw_path.partition(marker)
    return decode_key(unquote_to_bytes(encoded))
