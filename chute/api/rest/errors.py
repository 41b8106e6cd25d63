"""Errors as JSON ``{code, message}`` with the HTTP status the error class names."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from chute.api.http.logs import RateLimitedWarnings, cause, printable
from chute.api.rest.headers import DELETE_MARKER, ERROR_CODE
from chute.api.rest.models.errors import ErrorBody
from chute.errors import (
    ChuteError,
    InvalidArgument,
    InvalidRange,
    MethodNotAllowed,
    NoSuchKey,
    NotModified,
    ServiceUnavailable,
)

log = logging.getLogger(__name__)
#: A dependency failing fails every request meanwhile: one warning per interval.
_outages = RateLimitedWarnings(log)

_HTTP_CODES = {404: "NoSuchRoute", MethodNotAllowed.status: MethodNotAllowed.code}
#: The OpenAPI entry every endpoint has for the statuses it does not list.
DEFAULT_RESPONSE: dict[int | str, dict[str, Any]] = {
    403: {
        "model": ErrorBody,
        "description": "AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch,"
        " RequestTimeTooSkewed: no access key, or one that does not hold or may not do this",
    },
    "default": {
        "model": ErrorBody,
        "description": (
            "Any other error, e.g. 500 InternalError; 503 ServiceUnavailable while a "
            "dependency is down (retry after Retry-After seconds); 507 XChuteStorageFull; "
            "413 MaxMessageLengthExceeded for a JSON body over http.max_small_body_bytes"
        ),
    },
}


def error_responses(*errors: type[ChuteError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the errors an endpoint can answer: one per status, with the
    ``{code, message}`` body and the codes it comes with."""
    codes: dict[int, list[str]] = {}
    for error in errors:
        codes.setdefault(error.status, []).append(error.code)
    return {
        status: {"model": ErrorBody, "description": ", ".join(dict.fromkeys(names))}
        for status, names in sorted(codes.items())
    }


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    """A JSON error, or headers only for HEAD, which has no body."""
    if request.method == "HEAD":
        return Response(status_code=status, headers={ERROR_CODE: code})
    return JSONResponse(ErrorBody(code=code, message=message).model_dump(), status_code=status)


async def _chute_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ChuteError)
    if isinstance(exc, NotModified):
        return Response(status_code=304)
    response = error_response(request, exc.status, exc.code, exc.message)
    if exc.status >= 500:
        path = printable(request.url.path)
        _outages.warn(
            exc.code, "%s %s answered %d: %s", request.method, path, exc.status, cause(exc)
        )
    if isinstance(exc, ServiceUnavailable):
        response.headers["retry-after"] = str(exc.retry_after)
    if isinstance(exc, InvalidRange):
        response.headers["content-range"] = f"bytes */{exc.size}"
    if isinstance(exc, NoSuchKey) and exc.delete_marker:
        response.headers[DELETE_MARKER] = "true"
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )
    return error_response(request, InvalidArgument.status, InvalidArgument.code, problems)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "InvalidRequest")
    return error_response(request, exc.status_code, code, str(exc.detail))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, printable(request.url.path), exc_info=exc)
    return error_response(request, 500, "InternalError", "the server failed; see its log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_exception_handler(ChuteError, _chute_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
