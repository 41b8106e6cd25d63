"""Session credentials (key id, secret, token): botocore-signed requests that carry the
token are allowed what it grants, until it expires; forged, altered, swapped or missing
tokens are refused."""

from __future__ import annotations

import base64
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from chute.access import Access, Grant, Permissions
from chute.clock import FakeClock
from chute.errors import ExpiredToken, InvalidAccessKeyId, SignatureDoesNotMatch
from chute.security.authenticate import Authenticator
from chute.security.master_key import MasterKey
from chute.security.records import Credentials
from chute.security.sessions import InvalidToken, SessionCredentials, SessionIssuer
from tests.unit.security.test_authenticate import (  # noqa: F401 (botocore's clock)
    NOW,
    REGION,
    Keys,
    botocore_clock,
    scope_of,
)

PHOTOS = Grant(frozenset({Access.READ}), ("photos",), ("in/",))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def issuer(clock: FakeClock) -> SessionIssuer:
    return SessionIssuer(MasterKey.generate(), clock)


def authenticator(issuer: SessionIssuer, clock: FakeClock) -> Authenticator:
    return Authenticator(Keys(), REGION, clock, sessions=issuer)


def signed(credentials: SessionCredentials, *, token: str | None = None, **changes: Any) -> Any:
    request = AWSRequest("GET", "http://127.0.0.1:9000/photos/in/a.jpg")
    request.context["client_config"] = SimpleNamespace(s3={"payload_signing_enabled": False})
    boto = BotoCredentials(
        changes.get("key_id", credentials.access_key_id),
        changes.get("secret", credentials.secret_access_key),
        credentials.session_token if token is None else token,
    )
    S3SigV4Auth(boto, "s3", REGION).add_auth(request)
    return scope_of(request)


def test_a_session_is_allowed_what_it_grants(issuer: SessionIssuer, clock: FakeClock) -> None:
    session = issuer.issue([PHOTOS], timedelta(hours=1), "function:thumbs")
    identity = authenticator(issuer, clock).authenticate(signed(session))
    assert identity.principal == session.access_key_id
    assert identity.permissions.allows(Access.READ, "photos", "in/a.jpg")
    assert not identity.permissions.allows(Access.READ, "photos", "out/a.jpg")
    assert not identity.permissions.allows(Access.WRITE, "photos", "in/a.jpg")


def test_presigned_urls_of_a_session_work_too(issuer: SessionIssuer, clock: FakeClock) -> None:
    session = issuer.issue([PHOTOS], timedelta(hours=1), "function:thumbs")
    request = AWSRequest("GET", "http://127.0.0.1:9000/photos/in/a.jpg")
    boto = BotoCredentials(session.access_key_id, session.secret_access_key, session.session_token)
    S3SigV4QueryAuth(boto, "s3", REGION, expires=60).add_auth(request)
    identity = authenticator(issuer, clock).authenticate(scope_of(request))
    assert identity.principal == session.access_key_id


def test_an_expired_session_is_refused(issuer: SessionIssuer, clock: FakeClock) -> None:
    session = issuer.issue([PHOTOS], timedelta(minutes=5), "function:thumbs")
    clock.advance(5 * 60)
    with pytest.raises(ExpiredToken):
        authenticator(issuer, clock).authenticate(signed(session))


def test_a_session_key_without_its_token_is_unknown(
    issuer: SessionIssuer, clock: FakeClock
) -> None:
    session = issuer.issue([PHOTOS], timedelta(hours=1), "function:thumbs")
    request = AWSRequest("GET", "http://127.0.0.1:9000/photos/in/a.jpg")
    request.context["client_config"] = SimpleNamespace(s3={"payload_signing_enabled": False})
    boto = BotoCredentials(session.access_key_id, session.secret_access_key)
    S3SigV4Auth(boto, "s3", REGION).add_auth(request)
    with pytest.raises(InvalidAccessKeyId):
        authenticator(issuer, clock).authenticate(scope_of(request))


def test_a_forged_or_altered_token_is_refused(issuer: SessionIssuer, clock: FakeClock) -> None:
    session = issuer.issue([PHOTOS], timedelta(hours=1), "function:thumbs")
    sealed = bytearray(base64.urlsafe_b64decode(session.session_token))
    sealed[-1] ^= 1
    altered = base64.urlsafe_b64encode(bytes(sealed)).decode()
    for token in (altered, "not-a-token", base64.urlsafe_b64encode(b"{}").decode()):
        with pytest.raises(InvalidToken):
            authenticator(issuer, clock).authenticate(signed(session, token=token))


def test_a_token_made_with_another_key_file_is_refused(
    issuer: SessionIssuer, clock: FakeClock
) -> None:
    other = SessionIssuer(MasterKey.generate(), clock)
    session = other.issue([PHOTOS], timedelta(hours=1), "function:thumbs")
    with pytest.raises(InvalidToken):
        authenticator(issuer, clock).authenticate(signed(session))


def test_one_sessions_token_does_not_open_another_key(
    issuer: SessionIssuer, clock: FakeClock
) -> None:
    first = issuer.issue([PHOTOS], timedelta(hours=1), "function:a")
    second = issuer.issue([PHOTOS], timedelta(hours=1), "function:b")
    swapped = signed(first, token=second.session_token)
    with pytest.raises(InvalidToken):
        authenticator(issuer, clock).authenticate(swapped)


def test_a_session_signed_with_the_wrong_secret_is_refused(
    issuer: SessionIssuer, clock: FakeClock
) -> None:
    session = issuer.issue([PHOTOS], timedelta(hours=1), "function:thumbs")
    with pytest.raises(SignatureDoesNotMatch):
        authenticator(issuer, clock).authenticate(signed(session, secret="x" * 40))


def test_the_environment_names_the_sdk_variables(issuer: SessionIssuer) -> None:
    session = issuer.issue([], timedelta(hours=1), "function:none")
    assert set(session.environment()) == {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    }  # fmt: skip
    assert session.access_key_id.startswith("CKS")
    assert len(session.access_key_id) == 20


def test_a_stored_key_whose_id_looks_like_a_sessions_still_works(
    issuer: SessionIssuer, clock: FakeClock
) -> None:
    stored = Credentials("CKSTORED000000000001", "s" * 40, Permissions((PHOTOS,)), True)
    keys = Authenticator(Keys(stored), REGION, clock, sessions=issuer)
    request = AWSRequest("GET", "http://127.0.0.1:9000/photos/in/a.jpg")
    request.context["client_config"] = SimpleNamespace(s3={"payload_signing_enabled": False})
    S3SigV4Auth(BotoCredentials(stored.key_id, stored.secret), "s3", REGION).add_auth(request)
    assert keys.authenticate(scope_of(request)).principal == "CKSTORED000000000001"
