"""How the client talks to Chute's JSON API (``/_/api/v1``): one pool of connections,
answers parsed into the models the server builds them with (:mod:`chute.api.rest.models`),
and every failure turned into :class:`ChuteClientError` carrying the server's ``code`` and
``message``, or :class:`ChuteUnreachable` when no answer came back.

The endpoint modules beside this one add their methods to :class:`Transport`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from chute.api.rest.headers import ERROR_CODE
from chute.api.rest.models.errors import ErrorBody
from chute.errors import ChuteError

API_PREFIX = "/_/api/v1"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)

Answer = TypeVar("Answer", bound=BaseModel)


class ChuteClientError(ChuteError):
    """The Chute server refused a request: ``status`` and ``code`` are the server's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ChuteUnreachable(ChuteClientError):
    """No answer from the Chute server (``status`` is 0): it is down, or the URL is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "Unreachable", message)


class Transport:
    """A connection pool to one Chute server, and the requests every endpoint makes.

    Use it as a context manager, or call :meth:`close`, to release its connections.
    ``auth`` signs each request (:class:`~chute.cli.client.signing.SigV4Signer`);
    ``verify`` is the TLS trust of an ``https`` URL (``True``: the system's, or
    ``SSL_CERT_FILE``). ``http_transport`` stands in for the network
    (``httpx.MockTransport`` in unit tests).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        auth: httpx.Auth | None = None,
        verify: ssl.SSLContext | bool = True,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url + API_PREFIX,
            timeout=timeout,
            auth=auth,
            verify=verify,
            transport=http_transport,
        )

    @property
    def signed(self) -> bool:
        """Whether requests carry an access key's signature."""
        return self._http.auth is not None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def _json(self, answer: type[Answer], method: str, path: str, **kwargs: Any) -> Answer:
        """The answer to a request, parsed as ``answer``."""
        response = self._request(method, path, **kwargs)
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            raise ChuteClientError(
                response.status_code,
                "UnexpectedAnswer",
                f"{method} {response.url.path}: the answer is not a {answer.__name__} "
                f"({exc.error_count()} problems); is the server another Chute version?",
            ) from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with translate_transport_errors(self.base_url):
            response = self._http.request(method, path, **kwargs)
        if not response.is_success:
            raise _error_from(response)
        return response

    @contextmanager
    def _stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A successful response whose body is not read yet; errors are raised before
        anything is yielded."""
        request = self._http.build_request(method, path, **kwargs)
        with translate_transport_errors(self.base_url):
            response = self._http.send(request, stream=True)
        try:
            if not response.is_success:
                with translate_transport_errors(self.base_url):
                    response.read()
                raise _error_from(response)
            yield response
        finally:
            response.close()


@contextmanager
def translate_transport_errors(base_url: str) -> Iterator[None]:
    """Turn httpx's network failures into :class:`ChuteUnreachable`."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise ChuteUnreachable(f"cannot reach Chute at {base_url}: {_describe(exc)}") from exc
    except httpx.TransportError as exc:
        raise ChuteUnreachable(f"request to Chute at {base_url} failed: {_describe(exc)}") from exc


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _error_from(response: httpx.Response) -> ChuteClientError:
    """The error a non-2xx answer carries: JSON ``{code, message}``, or for HEAD (which
    has no body) the ``x-chute-error-code`` header."""
    code = response.headers.get(ERROR_CODE) or f"HTTP{response.status_code}"
    message = f"{response.request.method} {response.url.path}: {response.reason_phrase}"
    try:
        body = ErrorBody.model_validate_json(response.content)
        code, message = body.code, body.message
    except ValidationError:
        pass
    return ChuteClientError(response.status_code, code, message)


def request_body(request: BaseModel) -> dict[str, Any]:
    """A request model as the JSON the server reads."""
    return request.model_dump(mode="json", by_alias=True)


def present(**values: Any) -> dict[str, Any]:
    """Query parameters or body fields without the unset (``None``) ones. An empty list
    may stay: as a query parameter it is sent as nothing."""
    return {name: value for name, value in values.items() if value is not None}


def bucket_path(bucket: str) -> str:
    """The URL path of a bucket."""
    return "/buckets/" + quote(bucket, safe="")


def object_path(bucket: str, key: str, *, kind: str = "objects") -> str:
    """The URL path of an object (``kind="detail"`` for its detail), key encoded per segment.

    ``.`` and ``..`` segments are escaped too: httpx would otherwise resolve them, and
    ``a/../b`` would silently address ``b`` instead of being refused by the server.
    """
    segments = [quote(part, safe="") for part in key.split("/")]
    segments = [s.replace(".", "%2E") if s in {".", ".."} else s for s in segments]
    return f"{bucket_path(bucket)}/{kind}/{'/'.join(segments)}"
