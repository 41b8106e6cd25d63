"""The client's SigV4 signer: what it signs verifies on the server's side, matches
botocore's signature of the same request, and streamed bodies go unsigned."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import botocore.auth
import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from chute.access import EVERYTHING
from chute.cli.client.signing import AccessKey, sign
from chute.clock import FakeClock
from chute.errors import SignatureDoesNotMatch
from chute.security.authenticate import Authenticator, AuthMethod
from chute.security.records import Credentials
from chute.security.sigv4 import PayloadKind

NOW = datetime(2024, 5, 1, 12, 0, 7, 123456, tzinfo=UTC)
KEY = AccessKey("CKSIGNER000000000001", "secret/with+base64chars0000000000000000")


class Keys:
    def credentials(self, key_id: str) -> Credentials | None:
        if key_id != KEY.access_key:
            return None
        return Credentials(key_id, KEY.secret_key, EVERYTHING, True)


def scope_of(request: httpx.Request) -> dict[str, Any]:
    raw_path, _, query = request.url.raw_path.partition(b"?")
    headers = [(name.lower().encode(), value.encode()) for name, value in request.headers.items()]
    return {
        "type": "http",
        "method": request.method,
        "path": request.url.path,
        "raw_path": raw_path,
        "query_string": query,
        "headers": headers,
    }


def server() -> Authenticator:
    return Authenticator(Keys(), "eu-west-1", FakeClock(NOW))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/_/api/v1/buckets",
        "http://127.0.0.1:9000/_/api/v1/buckets/b/objects/with%20space/%C3%BC/x%2Fy?version_id=a+b",
        "http://localhost:9443/_/api/v1/jobs?state=dead&state=failed&pipeline=p%26q",
        "https://chute.example.test/_/api/v1/events?after=5",
    ],
)
def test_what_the_client_signs_the_server_verifies(url: str) -> None:
    request = httpx.Request("GET", url, headers={"x-chute-meta-a": "1", "accept": "*/*"})
    sign(request, KEY, "eu-west-1", NOW)
    identity = server().authenticate(scope_of(request))
    assert (identity.method, identity.principal) == (AuthMethod.SIGNED, KEY.access_key)
    assert identity.content_sha256 == hashlib.sha256(b"").hexdigest()


def test_a_json_body_is_signed_by_its_hash() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:9000/_/api/v1/keys", json={"name": "x"})
    sign(request, KEY, "eu-west-1", NOW)
    identity = server().authenticate(scope_of(request))
    assert identity.payload is PayloadKind.SIGNED_HEX
    assert identity.content_sha256 == hashlib.sha256(request.content).hexdigest()


def test_a_streamed_body_is_sent_unsigned() -> None:
    chunks = iter([b"a" * 10, b"b" * 10])
    request = httpx.Request(
        "PUT", "http://127.0.0.1:9000/_/api/v1/buckets/b/objects/k", content=chunks
    )
    sign(request, KEY, "eu-west-1", NOW)
    assert request.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert server().authenticate(scope_of(request)).payload is PayloadKind.UNSIGNED


def test_signed_headers_cannot_be_changed_on_the_way() -> None:
    request = httpx.Request(
        "PUT",
        "http://127.0.0.1:9000/_/api/v1/buckets/b/objects/k",
        headers={"x-chute-meta-a": "1"},
        content=b"x",
    )
    sign(request, KEY, "eu-west-1", NOW)
    request.headers["x-chute-meta-a"] = "2"
    with pytest.raises(SignatureDoesNotMatch):
        server().authenticate(scope_of(request))


def test_the_signature_is_botocores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    url = "http://127.0.0.1:9000/_/api/v1/buckets/b/objects/a%20b/c?version_id=v1"
    ours = httpx.Request("PUT", url, content=b"hello")
    sign(ours, KEY, "eu-west-1", NOW)
    theirs = AWSRequest("PUT", url, data=b"hello", headers={"host": "127.0.0.1:9000"})
    S3SigV4Auth(BotoCredentials(KEY.access_key, KEY.secret_key), "s3", "eu-west-1").add_auth(theirs)
    # botocore signs every header it is given; ours were host and the x-amz-* ones.
    assert ours.headers["authorization"] == theirs.headers["Authorization"]
