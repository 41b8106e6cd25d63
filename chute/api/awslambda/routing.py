"""What every operation of the Lambda API shares: its routes, its request, its errors.

Operations register with :func:`route` under Lambda's own paths (``/2015-03-31/...``,
``/2018-10-31/layers/...``, ``/2019-09-25/...``); a path parameter is written
``{name}``. Errors answer as Lambda's REST-JSON protocol does: the type in
``x-amzn-ErrorType`` and ``{"Type", "message"}`` in the body, which botocore reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from chute.context import RequestContext
from chute.errors import ChuteError, InvalidParameterValue, TooManyRequests
from chute.functions.registry import FunctionRegistry
from chute.functions.service import Functions
from chute.hooks import Hooks
from chute.objects.service import ObjectService
from chute.pipelines.functions import FunctionQueue
from chute.security.authenticate import Authenticator

#: How the hooks name this front end, and the service its requests are signed for.
API_NAME = SERVICE = "lambda"


@dataclass(frozen=True, slots=True)
class LambdaServices:
    """What the Lambda API is built with."""

    functions: Functions
    hooks: Hooks
    #: ``None``: authentication is off and every request may do anything.
    authenticator: Authenticator | None
    body_timeout_seconds: float
    #: Queues ``InvocationType: Event`` invocations (``None``: not available here).
    queue: FunctionQueue | None = None
    #: Makes and changes functions and layers (``None``: read-only here).
    registry: FunctionRegistry | None = None
    #: Where ``Code.S3Bucket``/``S3Key`` are read from.
    objects: ObjectService | None = None
    #: Why an ARN cannot be a destination of invocation records (``None``: it can).
    destination_refusal: Callable[[str], str | None] | None = None

    def require_registry(self) -> FunctionRegistry:
        if self.registry is None:
            raise UnsupportedOperation("functions cannot be changed through this server")
        return self.registry


@dataclass(frozen=True, slots=True)
class LambdaRequest:
    http: Request
    services: LambdaServices
    context: RequestContext
    #: The path's parameters (``name``, ``sid``, ``version``).
    params: dict[str, str]
    body: bytes
    _document: list[Any] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.params["name"]

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when empty)."""
        if not self._document:
            try:
                parsed = json.loads(self.body) if self.body.strip() else {}
            except ValueError:
                raise InvalidRequestContent("Could not parse request body into json") from None
            if not isinstance(parsed, dict):
                raise InvalidRequestContent("The request body must be a JSON object")
            self._document.append(parsed)
        found: dict[str, Any] = self._document[0]
        return found


Handler = Callable[[LambdaRequest], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: Handler
    #: Largest body the operation reads (code uploads are larger than payloads).
    max_body: int
    #: Only administrators may call it (Invoke checks the function's policy itself).
    admin: bool


ROUTES: list[Route] = []
#: Largest body an operation reads by default: an invocation's payload (Lambda: 6 MB).
MAX_BODY = 6 * 1024 * 1024


def route(
    method: str, path: str, operation: str, *, max_body: int = MAX_BODY, admin: bool = True
) -> Callable[[Handler], Handler]:
    """Register an operation at ``path`` (Lambda's, with ``{param}`` placeholders)."""
    pattern = re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "/?")

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, pattern, operation, handler, max_body, admin))
        return handler

    return register


def resolve(scope: Scope) -> tuple[Route, dict[str, str]]:
    """The operation a request names, and its path parameters."""
    path = scope["path"]
    allowed = False
    for candidate in ROUTES:
        found = candidate.pattern.fullmatch(path)
        if found is None:
            continue
        allowed = True
        if candidate.method == scope["method"]:
            return candidate, found.groupdict()
    if allowed:
        raise UnsupportedOperation(f"{scope['method']} is not supported on {path}")
    raise UnsupportedOperation(f"no Lambda operation at {path}")


def json_response(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document), status_code=status, media_type="application/json")


def integer(document: dict[str, Any], name: str) -> int | None:
    """An optional integer parameter of a request's JSON."""
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(f"{name} must be an integer")
    return value


class UnsupportedOperation(ChuteError):
    """The operation is not supported."""

    code = "UnsupportedOperationException"
    status = 400


class ServiceError(ChuteError):
    """An internal error occurred; the request can be sent again."""

    code = "ServiceException"
    status = 500


class RequestTooLarge(ChuteError):
    """The request payload exceeded the limit."""

    code = "RequestTooLargeException"
    status = 413


class InvalidRequestContent(ChuteError):
    """The request body could not be parsed as JSON."""

    code = "InvalidRequestContentException"
    status = 400


#: The names AWS's JSON services give the errors Chute's S3 side names its own way.
_AWS_CODES = {
    "SignatureDoesNotMatch": "InvalidSignatureException",
    "RequestTimeTooSkewed": "InvalidSignatureException",
    "AuthorizationHeaderMalformed": "IncompleteSignatureException",
    "InvalidAccessKeyId": "UnrecognizedClientException",
    "ExpiredToken": "ExpiredTokenException",
    "AccessDenied": "AccessDeniedException",
    "InvalidArgument": "InvalidParameterValueException",
    "NoSuchBucket": "InvalidParameterValueException",
    "NoSuchKey": "InvalidParameterValueException",
}


def error_response(error: ChuteError) -> Response:
    """Lambda's error answer: the type in ``x-amzn-ErrorType`` and a JSON body."""
    status = error.status
    code = _AWS_CODES.get(error.code, error.code)
    if code == "InvalidParameterValueException":
        status = 400
    if status == 403 and not code.endswith("Exception"):
        code = "AccessDeniedException"
    body: dict[str, Any] = {"Type": "User" if status < 500 else "Service", "message": error.message}
    if isinstance(error, TooManyRequests) and error.reason:
        body["Reason"] = error.reason
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"x-amzn-errortype": code},
    )
