"""Signature Version 2 against a hostile client: a request or presigned URL someone was
handed, altered to do something its signer did not sign, and malformed credentials that
must be refused with an S3 error rather than fail inside the server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chute.api.s3.request import query_of
from chute.errors import (
    AccessDenied,
    AuthorizationQueryParametersError,
    ClientError,
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

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def botocore_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    sign_v2_at(monkeypatch, NOW)


def presigned(method: str, path: str, expires: int = 3600) -> SignedRequest:
    return v2_presigned(method, ENDPOINT + path, expires)


def header_signed(method: str, path: str, headers: dict[str, str] | None = None) -> SignedRequest:
    return v2_header_signed(method, ENDPOINT + path, headers)


def check(signed: SignedRequest, now: datetime = NOW) -> sigv2.V2Authorization:
    auth = sigv2.parse(signed, now)
    sigv2.verify(signed, auth, SECRET_KEY)
    return auth


def altered(signed: SignedRequest, **changes: object) -> SignedRequest:
    values: dict[str, object] = {
        "method": signed.method,
        "raw_path": signed.raw_path,
        "query": signed.query,
        "headers": signed.headers,
        **changes,
    }
    return SignedRequest(**values)  # type: ignore[arg-type]


def query_auth(expires: str, signature: str = "x" * 27 + "=") -> SignedRequest:
    query = f"AWSAccessKeyId={ACCESS_KEY}&Signature={signature}&Expires={expires}"
    return SignedRequest("GET", b"/photos/a.jpg", query.encode(), [])


# --- what the signature covers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "added"),
    [
        ("DELETE", "%76ersionId=3HL4kqtJlcpXroDTDmJ"),  # delete one version for good
        ("GET", "%76ersionId=3HL4kqtJlcpXroDTDmJ"),  # read an older version
        ("GET", "version%49d=3HL4kqtJlcpXroDTDmJ"),
        ("PUT", "%61cl"),
        ("PUT", "%70artNumber=1&%75ploadId=abc"),  # an upload's part instead of the object
        ("POST", "%75ploads"),
        ("DELETE", "%75ploadId=abc"),
    ],
)
def test_a_percent_encoded_subresource_is_signed_as_the_server_reads_it(
    method: str, added: str
) -> None:
    signed = presigned(method, "/photos/a.jpg")
    query = signed.query + b"&" + added.encode()
    assert set(query_of({"query_string": query})) & sigv2.SUBRESOURCES  # what routing sees
    with pytest.raises(SignatureDoesNotMatch):
        check(altered(signed, query=query))


def test_a_percent_encoded_subresource_is_in_the_string_to_sign() -> None:
    signed = header_signed("GET", "/photos/a.jpg?%76ersionId=v%2B1&%70refix=a")
    auth = sigv2.parse(signed, NOW)
    assert sigv2.string_to_sign_of(signed, auth).endswith("/photos/a.jpg?versionId=v+1")


def test_a_subresource_value_is_signed_as_the_server_reads_it() -> None:
    # A bare "+" is a space to the router (a form-encoded query), so it is signed as one.
    signed = header_signed("GET", "/photos/a.jpg?versionId=a%20b")
    plus = altered(signed, query=b"versionId=a+b")
    assert query_of({"query_string": plus.query}) == {"versionId": "a b"}
    check(plus)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST", "HEAD"])
def test_a_presigned_get_is_not_another_method(method: str) -> None:
    signed = presigned("GET", "/photos/a.jpg")
    with pytest.raises(SignatureDoesNotMatch):
        check(altered(signed, method=method))


@pytest.mark.parametrize(
    "header",
    [
        ("x-amz-copy-source", "/secret/key"),
        ("x-amz-acl", "public-read"),
        ("x-amz-meta-owner", "mallory"),
        ("x-amz-metadata-directive", "REPLACE"),
        ("X-Amz-Copy-Source", "/secret/key"),
        ("content-type", "text/html"),
        ("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
    ],
)
def test_a_header_added_to_a_presigned_put_breaks_it(header: tuple[str, str]) -> None:
    signed = presigned("PUT", "/photos/a.jpg")
    name, value = header
    with pytest.raises(SignatureDoesNotMatch):
        check(altered(signed, headers=[*signed.headers, (name.lower(), value)]))


def test_the_host_is_not_a_way_to_another_bucket() -> None:
    signed = presigned("GET", "/photos/a.jpg")
    auth = sigv2.parse(signed, NOW)
    for bucket in ("other", "photos"):  # virtual-host style names a bucket of its own
        with pytest.raises(SignatureDoesNotMatch):
            sigv2.verify(signed, auth, SECRET_KEY, bucket=bucket)


# --- the credentials' form -------------------------------------------------------------


@pytest.mark.parametrize(
    "expires",
    [
        "%C2%B2",  # "²": str.isdigit() says yes, int() says no
        "%D9%A3",  # an Arabic-Indic digit
        "99999999999999999999",  # past any date the server can represent
        "-1",
        "",
        "1e9",
        "%2B1775000000",
        " 1775000000",
    ],
)
def test_an_expires_that_is_no_unix_time_is_refused(expires: str) -> None:
    with pytest.raises(AuthorizationQueryParametersError):
        sigv2.parse(query_auth(expires), NOW)


def test_expires_in_the_past_or_beyond_a_week() -> None:
    with pytest.raises(AccessDenied, match="expired"):
        sigv2.parse(query_auth(str(int(NOW.timestamp()) - 1)), NOW)
    with pytest.raises(AuthorizationQueryParametersError):
        sigv2.parse(query_auth(str(int(NOW.timestamp()) + 8 * 86400)), NOW)


@pytest.mark.parametrize(
    "date",
    [
        "Fri, 31 Dec 9999 23:59:59 -0100",  # a moment after the last one datetime holds
        "Mon, 01 Jan 0001 00:00:00 +2359",
        "99991231T235959Z",
        "not a date",
        "",
    ],
)
def test_a_date_header_out_of_range_is_refused(date: str) -> None:
    signed = SignedRequest(
        "GET", b"/photos/a.jpg", b"", [("date", date), ("authorization", f"AWS {ACCESS_KEY}:x")]
    )
    with pytest.raises(ClientError):  # an S3 error, not a crash
        sigv2.parse(signed, NOW)


@pytest.mark.parametrize("name", ["Signature", "AWSAccessKeyId", "Expires"])
def test_a_repeated_auth_parameter_is_refused(name: str) -> None:
    signed = presigned("GET", "/photos/a.jpg")
    check(signed)
    value = dict(part.split("=", 1) for part in signed.query.decode().split("&"))[name]
    for query in (f"{signed.query.decode()}&{name}={value}", f"{name}=x&{signed.query.decode()}"):
        with pytest.raises(AuthorizationQueryParametersError, match="only once"):
            sigv2.parse(altered(signed, query=query.encode()), NOW)


@pytest.mark.parametrize(
    "signature", ["", "%20", "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAA", "A" * 27 + "=" + "A" * 28 + "="]
)
def test_an_empty_or_malformed_signature_does_not_match(signature: str) -> None:
    signed = presigned("GET", "/photos/a.jpg")
    parts = [p for p in signed.query.decode().split("&") if not p.startswith("Signature=")]
    query = "&".join([*parts, f"Signature={signature}"]).encode()
    with pytest.raises(SignatureDoesNotMatch):
        check(altered(signed, query=query))


def test_a_signature_with_its_plus_and_slash_encoded_or_not_verifies() -> None:
    signed = presigned("GET", "/photos/a.jpg")
    raw = signed.query.replace(b"%2B", b"+").replace(b"%2F", b"/")
    check(altered(signed, query=raw))  # "+" in the signature is base64, not a space


def test_a_repeated_expires_alone_is_no_credential() -> None:
    anonymous = SignedRequest("GET", b"/photos/a.jpg", b"Expires=1&Expires=2", [])
    assert not sigv2.carries(anonymous)


@pytest.mark.parametrize(
    "query",
    [
        "versionId=3HL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY",
        "uploads",
        "partNumber=2&uploadId=abc",
        "response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22",
        "list-type=2&prefix=a%2F&delimiter=%2F",
        "acl&versionId=1",
    ],
)
def test_what_botocore_signs_still_verifies(query: str) -> None:
    check(header_signed("GET", f"/photos/a.jpg?{query}"))
    check(presigned("GET", f"/photos/a.jpg?{query}"))
