"""Signature Version 2: AWS's worked examples, requests and presigned URLs signed by
botocore's own Version 2 signers (what boto3's ``generate_presigned_url`` and ``aws s3
presign`` make by default), and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chute.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from chute.security import sigv2
from chute.security.sigv4 import SignedRequest
from tests.unit.security.botocore_signing import (
    ENDPOINT,
    sign_v2_at,
    v2_header_signed,
    v2_presigned,
)
from tests.unit.security.vectors import ACCESS_KEY, SECRET_KEY

#: AWS's example key (the same in its Version 2 and Version 4 documents).
EXAMPLE_TIME = datetime(2007, 3, 27, 19, 36, 42, tzinfo=UTC)


def request(
    path: str, query: str = "", headers: list[tuple[str, str]] | None = None, method: str = "GET"
) -> SignedRequest:
    return SignedRequest(method, path.encode(), query.encode(), headers or [])


def check(
    signed: SignedRequest, now: datetime, secret: str = SECRET_KEY, bucket: str | None = None
) -> sigv2.V2Authorization:
    auth = sigv2.parse(signed, now)
    sigv2.verify(signed, auth, secret, bucket=bucket)
    return auth


# --- AWS's examples ---------------------------------------------------------------


def test_the_object_get_example() -> None:
    signed = request(
        "/photos/puppy.jpg",
        headers=[
            ("host", "johnsmith.s3.amazonaws.com"),
            ("date", "Tue, 27 Mar 2007 19:36:42 +0000"),
            ("authorization", f"AWS {ACCESS_KEY}:bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
        ],
    )
    assert sigv2.carries(signed)
    auth = check(signed, EXAMPLE_TIME, bucket="johnsmith")
    assert (auth.access_key, auth.presigned) == (ACCESS_KEY, False)


def test_the_path_style_example() -> None:
    signed = request(
        "/awsexamplebucket1/photos/puppy.jpg",
        headers=[
            ("date", "Tue, 27 Mar 2007 19:36:42 +0000"),
            ("authorization", f"AWS {ACCESS_KEY}:qgk2+6Sv9/oM7G3qLEjTH1a1l1g="),
        ],
    )
    check(signed, EXAMPLE_TIME)


def test_the_query_string_example() -> None:
    signed = request(
        "/photos/puppy.jpg",
        f"AWSAccessKeyId={ACCESS_KEY}&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620",
        [("host", "johnsmith.s3.amazonaws.com")],
    )
    auth = check(signed, datetime.fromtimestamp(1175139600, UTC), bucket="johnsmith")
    assert auth.presigned


# --- botocore's signers ------------------------------------------------------------

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def botocore_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    sign_v2_at(monkeypatch, NOW)


@pytest.mark.parametrize(
    "path",
    [
        "/photos/a.jpg",
        "/photos/caf%C3%A9%20au%20lait.txt",
        "/photos/dir/with%2Bplus%26and",
        "/photos/",
    ],
)
def test_header_signatures_of_botocore_verify(path: str) -> None:
    check(v2_header_signed("GET", ENDPOINT + path), NOW)


def test_signed_headers_content_type_md5_and_amz_headers_verify() -> None:
    headers = {
        "Content-Type": "text/plain",
        "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==",
        "x-amz-meta-Owner": "  team   a ",
        "x-amz-storage-class": "STANDARD",
    }
    signed = v2_header_signed("PUT", ENDPOINT + "/photos/a.txt", headers)
    check(signed, NOW)


@pytest.mark.parametrize(
    "query",
    [
        "versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY",
        "uploads",
        "partNumber=2&uploadId=abc",
        "response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22",
        "list-type=2&prefix=a%2F&delimiter=%2F",  # not subresources: not signed
        "acl&versionId=1",
    ],
)
def test_subresources_are_signed_as_botocore_signs_them(query: str) -> None:
    check(v2_header_signed("GET", f"{ENDPOINT}/photos/a.jpg?{query}"), NOW)


def test_a_presigned_url_of_botocore_verifies_until_it_expires() -> None:
    signed = v2_presigned("GET", ENDPOINT + "/photos/a%20b.jpg", expires=600)
    assert sigv2.carries(signed)
    assert check(signed, NOW).presigned
    check(signed, NOW + timedelta(seconds=599))
    with pytest.raises(AccessDenied, match="Request has expired"):
        check(signed, NOW + timedelta(seconds=601))


def test_a_presigned_put_verifies() -> None:
    check(v2_presigned("PUT", ENDPOINT + "/photos/up.bin"), NOW)


# --- tampering and refusals ----------------------------------------------------------


def _replace(signed: SignedRequest, **changes: Any) -> SignedRequest:
    values = {
        "method": signed.method,
        "raw_path": signed.raw_path,
        "query": signed.query,
        "headers": signed.headers,
        **changes,
    }
    return SignedRequest(**values)


def test_tampering_is_caught() -> None:
    signed = v2_header_signed("GET", ENDPOINT + "/photos/a.jpg?versionId=1", {"x-amz-meta-a": "1"})
    tampered = [
        _replace(signed, method="DELETE"),
        _replace(signed, raw_path=b"/photos/b.jpg"),
        _replace(signed, query=b"versionId=2"),
        _replace(signed, headers=[*signed.headers, ("x-amz-meta-b", "2")]),
        _replace(signed, headers=[*signed.headers, ("content-type", "text/html")]),
    ]
    for changed in tampered:
        with pytest.raises(SignatureDoesNotMatch):
            check(changed, NOW)
    with pytest.raises(SignatureDoesNotMatch) as caught:
        check(signed, NOW, secret="another secret")
    assert caught.value.details["StringToSign"].startswith("GET\n")


def test_an_altered_presigned_url_does_not_match() -> None:
    signed = v2_presigned("GET", ENDPOINT + "/photos/a.jpg")
    for query in (
        signed.query.replace(b"Expires=", b"Expires=1"),
        signed.query + b"&response-content-type=text%2Fhtml",
    ):
        with pytest.raises((SignatureDoesNotMatch, AuthorizationQueryParametersError)):
            check(_replace(signed, query=query), NOW)


def test_the_clock_may_be_off_by_fifteen_minutes_at_most() -> None:
    signed = v2_header_signed("GET", ENDPOINT + "/photos/a.jpg")
    check(signed, NOW + timedelta(minutes=14))
    with pytest.raises(RequestTimeTooSkewed):
        check(signed, NOW + timedelta(minutes=16))
    undated = _replace(signed, headers=[(n, v) for n, v in signed.headers if n != "date"])
    with pytest.raises(AccessDenied, match="valid Date"):
        check(undated, NOW)


def test_a_lifetime_over_a_week_is_refused() -> None:
    with pytest.raises(AuthorizationQueryParametersError):
        check(v2_presigned("GET", ENDPOINT + "/photos/a.jpg", expires=8 * 24 * 3600), NOW)


def test_malformed_credentials() -> None:
    with pytest.raises(AuthorizationHeaderMalformed):
        sigv2.parse(request("/b/k", headers=[("authorization", "AWS no-colon")]), NOW)
    with pytest.raises(AccessDenied, match="requires the Signature"):
        sigv2.parse(request("/b/k", f"AWSAccessKeyId={ACCESS_KEY}&Signature=x"), NOW)
    with pytest.raises(AuthorizationQueryParametersError):
        sigv2.parse(request("/b/k", f"AWSAccessKeyId={ACCESS_KEY}&Signature=x&Expires=soon"), NOW)


def test_header_and_query_auth_together_are_refused() -> None:
    signed = v2_presigned("GET", ENDPOINT + "/photos/a.jpg")
    both = _replace(signed, headers=[*signed.headers, ("authorization", "AWS A:B")])
    with pytest.raises(InvalidArgument, match="Only one auth mechanism"):
        sigv2.parse(both, NOW)
    v4_query = request(
        "/b/k", "X-Amz-Credential=x&X-Amz-Signature=y", [("authorization", "AWS A:B")]
    )
    with pytest.raises(InvalidArgument, match="Only one auth mechanism"):
        sigv2.parse(v4_query, NOW)
