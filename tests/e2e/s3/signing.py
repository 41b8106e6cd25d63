"""Hand-built S3 requests, signed with botocore's SigV4 signer, for hostile cases."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import httpx
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.conftest import REGION, server_credentials


def signed_headers(
    server: LiveServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    payload_hash: str | None = None,
    host: str | None = None,
) -> dict[str, str]:
    """Headers that sign ``method path`` (path includes any query) for ``server``, or
    for ``host`` (with its port) when the request names another host."""
    access_key, secret_key = server_credentials(server)
    base = f"http://{host}" if host else server.url
    request = AWSRequest(method=method, url=base + path, data=body, headers=dict(headers or {}))
    signer = _Signer(Credentials(access_key, secret_key), "s3", REGION)
    signer.payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
    signer.add_auth(request)
    return dict(request.headers.items())


class _Signer(S3SigV4Auth):
    """botocore's signer, signing the payload hash it is given (true or not)."""

    payload_hash = ""

    def payload(self, request: AWSRequest) -> str:
        return self.payload_hash


def send(
    server: LiveServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    **kwargs: object,
) -> httpx.Response:
    """Send a signed request and return the answer."""
    all_headers = signed_headers(server, method, path, body, headers, **kwargs)  # type: ignore[arg-type]
    if "host" in kwargs:
        all_headers["Host"] = str(kwargs["host"])
    return httpx.request(method, server.url + path, content=body, headers=all_headers, timeout=30)


def error_code(response: httpx.Response) -> str:
    """The ``<Code>`` of an S3 error document."""
    text = response.text
    start = text.find("<Code>") + len("<Code>")
    return text[start : text.find("</Code>")]
