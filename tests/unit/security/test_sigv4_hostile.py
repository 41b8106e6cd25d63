"""SigV4 against a hostile client: timestamps at the edges of what a datetime holds,
encoding tricks on a presigned URL, mixed Version 2 and 4 parameters, and a rotated
secret after its signing key was cached."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from chute.access import EVERYTHING
from chute.clock import FakeClock
from chute.errors import (
    AccessDenied,
    AuthorizationQueryParametersError,
    ClientError,
    InvalidArgument,
    SignatureDoesNotMatch,
)
from chute.security.authenticate import Authenticator
from chute.security.records import Credentials
from chute.security.sigv4 import SignedRequest, parse

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REGION = "us-east-1"
KEY_ID = "CKTESTKEY00000000001"
SECRET = "s3cr3t/" * 6
ENDPOINT = "http://127.0.0.1:9000"
CREDENTIAL = f"{KEY_ID}%2F{{date}}%2F{REGION}%2Fs3%2Faws4_request"


class Keys:
    """One key whose secret a test may change, as rotating it would."""

    def __init__(self) -> None:
        self.secret = SECRET

    def credentials(self, key_id: str) -> Credentials | None:
        if key_id != KEY_ID:
            return None
        return Credentials(KEY_ID, self.secret, EVERYTHING, enabled=True)


@pytest.fixture(autouse=True)
def botocore_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW.replace(tzinfo=None))


def presigned(method: str, path: str, secret: str = SECRET) -> SignedRequest:
    aws_request = AWSRequest(method, ENDPOINT + path)
    S3SigV4QueryAuth(BotoCredentials(KEY_ID, secret), "s3", REGION, expires=600).add_auth(
        aws_request
    )
    prepared = aws_request.prepare()
    url = urlsplit(prepared.url)
    return SignedRequest(method, url.path.encode(), url.query.encode(), [("host", url.netloc)])


def query_auth(amz_date: str, expires: str = "600") -> SignedRequest:
    query = (
        f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={CREDENTIAL.format(date=amz_date[:8])}"
        f"&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature={'0' * 64}"
    )
    return SignedRequest("GET", b"/b/k", query.encode(), [("host", "127.0.0.1:9000")])


def header_dated(name: str, value: str) -> SignedRequest:
    credential = CREDENTIAL.format(date="20250301").replace("%2F", "/")
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;{name}, Signature={'0' * 64}"
    )
    headers = [
        ("host", "127.0.0.1:9000"),
        (name, value),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ("authorization", authorization),
    ]
    return SignedRequest("GET", b"/b/k", b"", headers)


def authenticate(request: SignedRequest, keys: Keys | None = None) -> None:
    Authenticator(keys or Keys(), REGION, FakeClock(NOW)).authenticate_request(request)


# --- timestamps ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "amz_date",
    [
        "99991231T235959Z",  # its expiry is past the last moment a datetime holds
        "00010101T000000Z",
        "20250230T120000Z",  # no such day
        "20251301T120000Z",
        "20250301T246000Z",
        "\uff12\uff10\uff12\uff150301T120000Z",  # full-width digits
        "20250301T120000",
        "20250301t120000z",
    ],
)
def test_a_presigned_date_out_of_range_is_an_s3_error(amz_date: str) -> None:
    with pytest.raises(ClientError):
        parse(query_auth(amz_date), NOW)


@pytest.mark.parametrize(
    "expires", ["0", "-1", "604801", "1e3", "\u0661\u0660", "99999999999999999999"]
)
def test_an_expires_out_of_range_is_refused(expires: str) -> None:
    with pytest.raises(AuthorizationQueryParametersError):
        parse(query_auth("20250301T120000Z", expires), NOW)


def test_a_presigned_url_dated_ahead_is_not_yet_valid() -> None:
    with pytest.raises(AccessDenied, match="not yet valid"):
        parse(query_auth("20250301T121600Z"), NOW)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("date", "Fri, 31 Dec 9999 23:59:59 -0100"),
        ("date", "Mon, 01 Jan 1 00:00:00 +2359"),
        ("date", "yesterday"),
        ("x-amz-date", "99991231T235959Z"),
        ("x-amz-date", "20250301T120000+0000"),
    ],
)
def test_a_header_date_out_of_range_is_an_s3_error(name: str, value: str) -> None:
    with pytest.raises(ClientError):
        parse(header_dated(name, value), NOW)


# --- what the signature covers ---------------------------------------------------------


@pytest.mark.parametrize("added", ["%76ersionId=1", "version%49d=1", "%61cl", "%75ploads"])
def test_a_percent_encoded_subresource_breaks_a_presigned_url(added: str) -> None:
    signed = presigned("GET", "/b/k")
    authenticate(signed)
    tampered = SignedRequest("GET", signed.raw_path, signed.query + b"&" + added.encode(), [])
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(SignedRequest("GET", tampered.raw_path, tampered.query, signed.headers))


def test_a_repeated_signature_is_refused() -> None:
    signed = presigned("GET", "/b/k")
    query = signed.query + b"&X-Amz-Signature=" + b"0" * 64
    with pytest.raises(AuthorizationQueryParametersError, match="only once"):
        authenticate(SignedRequest("GET", signed.raw_path, query, signed.headers))


@pytest.mark.parametrize(
    "added", ["Signature=abc", "AWSAccessKeyId=CKOTHER", "Signature=&AWSAccessKeyId=&Expires=1"]
)
def test_version_2_parameters_on_a_version_4_url_do_not_pass(added: str) -> None:
    signed = presigned("GET", "/b/k")
    query = signed.query + b"&" + added.encode()
    with pytest.raises(ClientError):
        authenticate(SignedRequest("GET", signed.raw_path, query, signed.headers))


def test_version_2_and_4_credentials_together_are_refused() -> None:
    signed = presigned("GET", "/b/k")
    headers = [*signed.headers, ("authorization", f"AWS {KEY_ID}:{'A' * 27}=")]
    with pytest.raises(InvalidArgument, match="Only one auth mechanism"):
        authenticate(SignedRequest("GET", signed.raw_path, signed.query, headers))


def test_a_rotated_secret_stops_the_old_signatures() -> None:
    keys = Keys()
    signed = presigned("GET", "/b/k")
    authenticate(signed, keys)  # its signing key is now cached
    keys.secret = "rotated/" * 5
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(signed, keys)
    authenticate(presigned("GET", "/b/k", secret=keys.secret), keys)
