"""The authenticator: anonymous, SigV4 (header and presigned, signed by botocore) and
bearer requests, and each way their credentials can fail."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.auth import HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from chute.access import EVERYTHING, NOTHING, Access, Grant, Permissions
from chute.clock import FakeClock
from chute.context import ANONYMOUS
from chute.errors import (
    AuthorizationHeaderMalformed,
    ChuteError,
    ExpiredToken,
    InvalidAccessKeyId,
    RequestTimeTooSkewed,
    SecretUnreadable,
    SignatureDoesNotMatch,
)
from chute.security.authenticate import NOBODY, Authenticator, AuthMethod
from chute.security.records import Credentials
from chute.security.sigv4 import PayloadKind
from tests.unit.security.botocore_signing import sign_v2_at

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
REGION = "us-east-1"
KEY_ID = "CKTESTKEY00000000001"
SECRET = "a" * 20 + "/b+c" * 5
READER = Permissions((Grant(frozenset({Access.READ}), ("photos",)),))


class Keys:
    """Credentials by key id, as the key service would find them."""

    def __init__(self, *found: Credentials) -> None:
        self.found = {c.key_id: c for c in found}
        self.asked: list[str] = []

    def credentials(self, key_id: str) -> Credentials | None:
        self.asked.append(key_id)
        return self.found.get(key_id)


@pytest.fixture(autouse=True)
def botocore_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def authenticator(clock: FakeClock, **changes: Any) -> Authenticator:
    values: dict[str, Any] = {"secret": SECRET, "permissions": READER, "enabled": True}
    values.update(changes)
    return Authenticator(Keys(Credentials(KEY_ID, **values)), REGION, clock)


def scope_of(request: AWSRequest) -> dict[str, Any]:
    """The ASGI scope of a botocore request as the server receives it."""
    prepared = request.prepare()
    url = urlsplit(prepared.url)
    headers = [
        (name.lower().encode(), str(value).encode()) for name, value in prepared.headers.items()
    ]
    if b"host" not in {name for name, _ in headers}:
        headers.append((b"host", url.netloc.encode()))
    return {
        "type": "http",
        "method": prepared.method,
        "path": url.path,
        "raw_path": url.path.encode(),
        "query_string": url.query.encode(),
        "headers": headers,
    }


def signed(
    method: str = "GET",
    path: str = "/_/api/v1/buckets/photos/objects/a.jpg",
    *,
    body: bytes = b"",
    secret: str = SECRET,
    key_id: str = KEY_ID,
    region: str = REGION,
    headers: dict[str, str] | None = None,
    sign_payload: bool = True,
) -> dict[str, Any]:
    request = AWSRequest(method, "http://127.0.0.1:9000" + path, data=body, headers=headers or {})
    s3_config = {"payload_signing_enabled": sign_payload}
    request.context["client_config"] = SimpleNamespace(s3=s3_config)
    S3SigV4Auth(BotoCredentials(key_id, secret), "s3", region).add_auth(request)
    return scope_of(request)


def presigned(
    path: str = "/_/api/v1/buckets/photos/objects/a.jpg", expires: int = 60
) -> dict[str, Any]:
    request = AWSRequest("GET", "http://127.0.0.1:9000" + path)
    S3SigV4QueryAuth(BotoCredentials(KEY_ID, SECRET), "s3", REGION, expires=expires).add_auth(
        request
    )
    return scope_of(request)


def bearer(token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:9000"), (b"authorization", token.encode())],
    }


def test_no_credentials_is_anonymous(clock: FakeClock) -> None:
    scope = {**bearer(""), "headers": [(b"host", b"127.0.0.1:9000")]}
    identity = authenticator(clock).authenticate(scope)
    assert identity is NOBODY
    assert identity.anonymous
    assert (identity.principal, identity.permissions) == (ANONYMOUS, NOTHING)
    context = identity.context("10.0.0.1")
    assert (context.principal, context.access_key, context.permissions) == (
        ANONYMOUS,
        None,
        NOTHING,
    )


def test_a_signed_request_is_its_key(clock: FakeClock) -> None:
    identity = authenticator(clock).authenticate(signed())
    assert identity.method is AuthMethod.SIGNED
    assert (identity.principal, identity.access_key) == (KEY_ID, KEY_ID)
    assert identity.permissions == READER
    assert identity.payload is PayloadKind.SIGNED_HEX
    assert identity.content_sha256 == hashlib.sha256(b"").hexdigest()
    assert identity.signing_key is not None
    assert identity.signing_key.seed_signature == identity.authorization.signature  # type: ignore[union-attr]
    context = identity.context("10.0.0.1", "REQ1")
    assert (context.principal, context.access_key, context.request_id) == (KEY_ID, KEY_ID, "REQ1")
    assert context.permissions == READER


def test_the_signed_body_hash_is_handed_on(clock: FakeClock) -> None:
    body = b'{"name": "x"}'
    identity = authenticator(clock).authenticate(signed("POST", "/_/api/v1/keys", body=body))
    assert identity.content_sha256 == hashlib.sha256(body).hexdigest()


def test_an_unsigned_payload_is_said_so(clock: FakeClock) -> None:
    scope = signed("PUT", body=b"data", sign_payload=False)
    identity = authenticator(clock).authenticate(scope)
    assert identity.payload is PayloadKind.UNSIGNED
    assert identity.content_sha256 is None


def test_a_presigned_url_is_its_key(clock: FakeClock) -> None:
    identity = authenticator(clock).authenticate(presigned())
    assert identity.method is AuthMethod.PRESIGNED
    assert identity.principal == KEY_ID
    assert identity.payload is PayloadKind.UNSIGNED


def test_a_wrong_secret_does_not_match(clock: FakeClock) -> None:
    with pytest.raises(SignatureDoesNotMatch):
        authenticator(clock).authenticate(signed(secret="wrong" * 8))


def test_an_unknown_key_is_refused(clock: FakeClock) -> None:
    with pytest.raises(InvalidAccessKeyId, match="does not exist"):
        authenticator(clock).authenticate(signed(key_id="CKUNKNOWN0000000000"))


def test_a_disabled_key_is_refused(clock: FakeClock) -> None:
    with pytest.raises(InvalidAccessKeyId, match="disabled") as caught:
        authenticator(clock, enabled=False).authenticate(signed())
    assert (caught.value.status, caught.value.code) == (403, "InvalidAccessKeyId")


def test_a_disabled_key_is_not_told_to_who_lacks_its_secret(clock: FakeClock) -> None:
    with pytest.raises(SignatureDoesNotMatch):
        authenticator(clock, enabled=False).authenticate(signed(secret="wrong" * 8))


def test_expired_temporary_credentials_are_refused(clock: FakeClock) -> None:
    keys = authenticator(clock, expires_at=NOW + timedelta(minutes=1))
    assert keys.authenticate(signed()).principal == KEY_ID
    clock.advance(60)
    with pytest.raises(ExpiredToken) as caught:
        keys.authenticate(signed())
    assert (caught.value.status, caught.value.code) == (400, "ExpiredToken")


def test_another_region_is_refused_naming_ours(clock: FakeClock) -> None:
    with pytest.raises(AuthorizationHeaderMalformed) as caught:
        authenticator(clock).authenticate(signed(region="eu-west-1"))
    assert caught.value.region == REGION


def test_a_request_signed_long_ago_is_refused(clock: FakeClock) -> None:
    clock.advance(16 * 60)
    with pytest.raises(RequestTimeTooSkewed):
        authenticator(clock).authenticate(signed())


def test_the_bearer_form(clock: FakeClock) -> None:
    identity = authenticator(clock).authenticate(bearer(f"Bearer {KEY_ID}:{SECRET}"))
    assert identity.method is AuthMethod.BEARER
    assert (identity.principal, identity.permissions) == (KEY_ID, READER)
    assert identity.payload is PayloadKind.UNSIGNED
    assert (
        authenticator(clock).authenticate(bearer(f"bearer  {KEY_ID}:{SECRET}")).principal == KEY_ID
    )


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (f"Bearer {KEY_ID}:wrong", SignatureDoesNotMatch),
        (f"Bearer CKNOBODY:{SECRET}", InvalidAccessKeyId),
        (f"Bearer {KEY_ID}", AuthorizationHeaderMalformed),
        ("Bearer", AuthorizationHeaderMalformed),
        (f"Bearer :{SECRET}", AuthorizationHeaderMalformed),
    ],
)
def test_a_bad_bearer_token_is_refused(
    clock: FakeClock, token: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        authenticator(clock).authenticate(bearer(token))


def test_a_disabled_key_is_refused_as_a_bearer_too(clock: FakeClock) -> None:
    with pytest.raises(InvalidAccessKeyId, match="disabled"):
        authenticator(clock, enabled=False).authenticate(bearer(f"Bearer {KEY_ID}:{SECRET}"))


def test_root_rights_come_with_the_key(clock: FakeClock) -> None:
    identity = authenticator(clock, permissions=EVERYTHING).authenticate(signed())
    assert identity.context("127.0.0.1").permissions.is_admin


def test_a_secret_the_server_cannot_open_is_its_own_problem(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    class Unreadable:
        def credentials(self, key_id: str) -> Credentials | None:
            raise SecretUnreadable(f"the secret of access key {key_id} does not open")

    with pytest.raises(ChuteError) as caught:
        Authenticator(Unreadable(), REGION, clock).authenticate(signed())
    assert (caught.value.status, caught.value.code) == (500, "InternalError")
    assert "key file" not in caught.value.message
    assert KEY_ID in caplog.text


# --- Signature Version 2 ------------------------------------------------------------


def presigned_v2(url: str = "http://127.0.0.1:9000/photos/a.jpg", secret: str = SECRET) -> Any:
    request = AWSRequest("GET", url)
    HmacV1QueryAuth(BotoCredentials(KEY_ID, secret), expires=60).add_auth(request)
    return scope_of(request)


@pytest.fixture
def botocore_v2_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    sign_v2_at(monkeypatch, NOW)


@pytest.mark.usefixtures("botocore_v2_clock")
def test_a_version_2_presigned_url_is_its_key(clock: FakeClock) -> None:
    identity = authenticator(clock).authenticate(presigned_v2())
    assert identity.method is AuthMethod.PRESIGNED_V2
    assert (identity.principal, identity.permissions) == (KEY_ID, READER)
    assert (identity.payload, identity.signing_key) == (PayloadKind.UNSIGNED, None)


@pytest.mark.usefixtures("botocore_v2_clock")
def test_a_version_2_request_of_a_virtual_host_signs_its_bucket(clock: FakeClock) -> None:
    keys = Keys(Credentials(KEY_ID, SECRET, READER, enabled=True))
    domain = Authenticator(keys, REGION, clock, domain="s3.example.test")
    scope = presigned_v2("http://photos.s3.example.test:9000/photos/a.jpg")
    # botocore signed the path it was given, /photos/a.jpg; sent to the virtual host as
    # /a.jpg, the resource the server rebuilds is /photos/a.jpg again.
    scope = {**scope, "path": "/a.jpg", "raw_path": b"/a.jpg"}
    assert domain.authenticate(scope).principal == KEY_ID
    with pytest.raises(SignatureDoesNotMatch):
        authenticator(clock).authenticate(scope)  # no domain: the bucket is not signed


@pytest.mark.usefixtures("botocore_v2_clock")
def test_version_2_refusals(clock: FakeClock) -> None:
    with pytest.raises(SignatureDoesNotMatch):
        authenticator(clock).authenticate(presigned_v2(secret="wrong" * 8))
    with pytest.raises(InvalidAccessKeyId, match="disabled"):
        authenticator(clock, enabled=False).authenticate(presigned_v2())
    clock.advance(61)
    with pytest.raises(ChuteError, match="Request has expired"):
        authenticator(clock).authenticate(presigned_v2())
