"""SigV4 verification of requests signed by botocore (the signer boto3 and the AWS CLI
use): any key, query, presigned URL and header it sends verifies, and tampering with any
part of a signed request is caught."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

from chute.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    HeadersNotSigned,
    SignatureDoesNotMatch,
)
from chute.security.sigv4 import PayloadKind, SignedRequest, verify
from tests.unit.security.botocore_signing import CREDENTIALS, ENDPOINT, on_the_wire
from tests.unit.security.vectors import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    check,
    parsed,
    replace_header,
)

#: The time botocore signs at.
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def botocore_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore signs at NOW."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))


def s3_url(bucket: str, key: str) -> str:
    """The URL botocore's S3 serializer builds for a key."""
    return f"{ENDPOINT}/{bucket}/{percent_encode(key, safe='/~')}"


def signed_by_botocore(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    params: Any = None,
    body: bytes = b"",
    credentials: Credentials = CREDENTIALS,
    region: str = REGION,
    context: dict[str, Any] | None = None,
) -> SignedRequest:
    aws_request = AWSRequest(method, url, headers=headers or {}, data=body, params=params)
    aws_request.context.update(context or {})
    S3SigV4Auth(credentials, "s3", region).add_auth(aws_request)
    return on_the_wire(aws_request)


def presigned_by_botocore(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    params: Any = None,
    expires: int = 3600,
    credentials: Credentials = CREDENTIALS,
) -> SignedRequest:
    aws_request = AWSRequest(method, url, headers=headers or {}, params=params)
    S3SigV4QueryAuth(credentials, "s3", REGION, expires=expires).add_auth(aws_request)
    return on_the_wire(aws_request)


KEYS = [
    "plain.txt",
    "with space.txt",
    "plus+sign",
    "unicode/ünïcødé/文件.txt",
    "percent%2Fslash",
    "tilde~file",
    "equals=sign&amp",
    "dir//double/../dots/./x",
    "*!'()$,;:@",
    "#hash?query",
    "trailing/",
    "tab\tand\nnewline",
]


@pytest.mark.parametrize("key", KEYS)
def test_botocore_header_auth_verifies_for_any_key(key: str) -> None:
    request = signed_by_botocore("PUT", s3_url("bucket", key), body=b"hello")

    auth = parsed(request, NOW)

    verify(request, auth, SECRET_KEY, region=REGION)
    auth.check_content_sha256(hashlib.sha256(b"hello").hexdigest())


@pytest.mark.parametrize("key", KEYS)
def test_botocore_presigned_url_verifies_for_any_key(key: str) -> None:
    request = presigned_by_botocore("GET", s3_url("bucket", key))

    auth = parsed(request, NOW + timedelta(minutes=59))

    assert auth.presigned
    verify(request, auth, SECRET_KEY, region=REGION)


def test_an_encoded_slash_is_signed_as_sent() -> None:
    request = signed_by_botocore("GET", f"{ENDPOINT}/bucket/a%2Fb/c")

    check(request, NOW)


QUERIES: list[Any] = [
    {"prefix": "a b", "delimiter": "/"},
    {"prefix": "plus+and space", "encoding-type": "url"},
    {"prefix": "ünïcødé~*'", "max-keys": "2"},
    [("tag", "b"), ("tag", "a"), ("tag", "")],
    {"acl": ""},
    {"list-type": "2", "continuation-token": "1/2=3&4"},
]


@pytest.mark.parametrize("params", QUERIES)
def test_botocore_query_parameters_verify(params: Any) -> None:
    request = signed_by_botocore("GET", f"{ENDPOINT}/bucket", params=params)

    check(request, NOW)


@pytest.mark.parametrize(
    "query",
    [
        "prefix=a%20b&delimiter=%2F",
        "uploads",
        "versionId=3%2B4&x-id=GetObject",
        "response-content-disposition=attachment%3B%20filename%3D%22%C3%A9.txt%22",
    ],
)
def test_botocore_query_in_the_url_verifies(query: str) -> None:
    request = signed_by_botocore("GET", f"{ENDPOINT}/bucket/key?{query}")

    check(request, NOW)


@pytest.mark.parametrize(
    "params",
    [
        {"response-content-type": "text/plain; charset=utf-8"},
        {"versionId": "a+b c", "response-cache-control": "no-cache"},
        {"partNumber": "1", "uploadId": "x~y/z"},
    ],
)
def test_botocore_presigned_url_with_parameters_verifies(params: Any) -> None:
    request = presigned_by_botocore("GET", s3_url("bucket", "key"), params=params)

    check(request, NOW)


def test_botocore_presigned_put_with_signed_headers() -> None:
    request = presigned_by_botocore(
        "PUT",
        s3_url("bucket", "key"),
        headers={"Content-Type": "text/csv", "x-amz-meta-owner": "ada"},
    )

    auth = parsed(request, NOW)

    assert auth.signed_headers == ("content-type", "host", "x-amz-meta-owner")
    verify(request, auth, SECRET_KEY, region=REGION)


def test_security_tokens_are_read() -> None:
    credentials = Credentials(ACCESS_KEY, SECRET_KEY, "session/token=")
    url = s3_url("bucket", "key")

    header_auth = parsed(signed_by_botocore("GET", url, credentials=credentials), NOW)
    query_auth = parsed(presigned_by_botocore("GET", url, credentials=credentials), NOW)

    assert header_auth.security_token == query_auth.security_token == "session/token="


def test_botocore_date_header_instead_of_x_amz_date() -> None:
    request = signed_by_botocore(
        "GET", s3_url("bucket", "key"), headers={"Date": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert request.header("x-amz-date") is None

    auth = parsed(request, NOW)

    assert auth.amz_date == NOW
    verify(request, auth, SECRET_KEY, region=REGION)


def test_botocore_streaming_payload_hash_is_signed() -> None:
    # What botocore's flexible checksums set up for an upload over HTTPS.
    trailer = {"in": "trailer", "name": "x-amz-checksum-crc32", "algorithm": "crc32"}
    request = signed_by_botocore(
        "PUT",
        s3_url("bucket", "key"),
        context={"checksum": {"request_algorithm": trailer}},
        headers={
            "Content-Encoding": "aws-chunked",
            "X-Amz-Trailer": "x-amz-checksum-crc32",
            "X-Amz-Decoded-Content-Length": "5",
        },
    )

    auth = parsed(request, NOW)

    assert auth.payload is PayloadKind.STREAMING_UNSIGNED_TRAILER
    verify(request, auth, SECRET_KEY, region=REGION)


def test_repeated_headers_are_joined_with_commas() -> None:
    aws_request = AWSRequest("GET", s3_url("bucket", "key"))
    # botocore's header map keeps both values, and signs them as "one,two words".
    aws_request.headers["x-amz-meta-a"] = " one "
    aws_request.headers["x-amz-meta-a"] = "two  words"
    S3SigV4Auth(CREDENTIALS, "s3", REGION).add_auth(aws_request)
    headers = [(name.lower(), value) for name, value in aws_request.headers.items()]
    request = SignedRequest("GET", b"/bucket/key", b"", [*headers, ("host", "127.0.0.1:9000")])
    assert request.header("x-amz-meta-a") == " one ,two  words"

    check(request, NOW)

    with pytest.raises(SignatureDoesNotMatch):
        check(
            dataclasses.replace(request, headers=[*headers[::-1], ("host", "127.0.0.1:9000")]), NOW
        )


# --- tampering -----------------------------------------------------------------------


def good_put() -> SignedRequest:
    return signed_by_botocore(
        "PUT",
        s3_url("bucket", "dir/key.txt") + "?tagging=",
        headers={"x-amz-meta-owner": "ada", "Content-Type": "text/plain"},
        body=b"payload",
    )


def tamper_query(request: SignedRequest, query: bytes) -> SignedRequest:
    return dataclasses.replace(request, query=query)


def _later_date(request: SignedRequest) -> SignedRequest:
    return replace_header(
        request, "x-amz-date", (NOW + timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
    )


Tampering = Callable[[SignedRequest], SignedRequest]
TAMPERINGS: dict[str, Tampering] = {
    "method": lambda r: dataclasses.replace(r, method="POST"),
    "path": lambda r: dataclasses.replace(r, raw_path=r.raw_path.replace(b"key", b"kez")),
    "path case": lambda r: dataclasses.replace(r, raw_path=r.raw_path.upper()),
    "query value": lambda r: tamper_query(r, b"tagging=1"),
    "query added": lambda r: tamper_query(r, b"tagging=&versionId=1"),
    "query removed": lambda r: tamper_query(r, b""),
    "signed header": lambda r: replace_header(r, "x-amz-meta-owner", "eve"),
    "content type": lambda r: replace_header(r, "content-type", "text/html"),
    "host port": lambda r: replace_header(r, "host", "127.0.0.1:9001"),
    "payload hash": lambda r: replace_header(r, "x-amz-content-sha256", "ab" * 32),
    "date": _later_date,
}


def test_the_untampered_request_verifies() -> None:
    check(good_put(), NOW)


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS)
def test_any_tampering_breaks_the_signature(tamper: Tampering) -> None:
    with pytest.raises(SignatureDoesNotMatch):
        check(tamper(good_put()), NOW)


def test_tampered_region_and_date_are_refused_before_the_signature() -> None:
    good = good_put()
    authorization = good.header("authorization")
    assert authorization is not None
    other_region = replace_header(good, "authorization", authorization.replace(REGION, "us-west-2"))
    other_day = replace_header(good, "x-amz-date", "20240502T120000Z")

    with pytest.raises(AuthorizationHeaderMalformed, match="the region 'us-west-2' is wrong"):
        check(other_region, NOW)
    with pytest.raises(AuthorizationHeaderMalformed, match="Invalid credential date"):
        check(other_day, NOW)
    with pytest.raises(AuthorizationHeaderMalformed, match="wrong; expecting 'eu-west-1'"):
        check(good, NOW, region="eu-west-1")


def test_unsigned_headers_may_be_added_but_not_x_amz_ones() -> None:
    good = good_put()
    extra = dataclasses.replace(
        good, headers=[*good.headers, ("user-agent", "curl"), ("expect", "100-continue")]
    )
    check(extra, NOW)

    injected = dataclasses.replace(good, headers=[*good.headers, ("x-amz-acl", "public-read")])
    with pytest.raises(HeadersNotSigned):
        check(injected, NOW)


def _replace_in_query(old: bytes, new: bytes) -> Tampering:
    return lambda r: tamper_query(r, r.query.replace(old, new))


PRESIGNED_TAMPERINGS: dict[str, Tampering] = {
    "method": lambda r: dataclasses.replace(r, method="PUT"),
    "path": lambda r: dataclasses.replace(r, raw_path=b"/bucket/other"),
    "operation parameter": _replace_in_query(b"versionId=1", b"versionId=2"),
    "parameter added": lambda r: tamper_query(r, r.query + b"&response-content-type=text%2Fhtml"),
    "expiry": _replace_in_query(b"X-Amz-Expires=3600", b"X-Amz-Expires=7200"),
    "host": lambda r: replace_header(r, "host", "evil.example"),
}


@pytest.mark.parametrize("tamper", PRESIGNED_TAMPERINGS.values(), ids=PRESIGNED_TAMPERINGS)
def test_any_tampering_breaks_a_presigned_url(tamper: Tampering) -> None:
    good = presigned_by_botocore("GET", s3_url("bucket", "key"), params={"versionId": "1"})

    with pytest.raises(SignatureDoesNotMatch):
        check(tamper(good), NOW)


def test_presigned_url_tampered_to_another_region_or_date() -> None:
    good = presigned_by_botocore("GET", s3_url("bucket", "key"))
    other_region = tamper_query(good, good.query.replace(b"us-east-1", b"us-west-2"))
    other_date = tamper_query(
        good, good.query.replace(b"X-Amz-Date=20240501T", b"X-Amz-Date=20240502T")
    )

    with pytest.raises(AuthorizationQueryParametersError, match="region 'us-west-2' is wrong"):
        check(other_region, NOW)
    with pytest.raises(AuthorizationQueryParametersError, match="Invalid credential date"):
        check(other_date, NOW)


def test_presigned_url_by_botocore_expires() -> None:
    request = presigned_by_botocore("GET", s3_url("bucket", "key"), expires=60)
    check(request, NOW + timedelta(seconds=60))

    with pytest.raises(AccessDenied, match="Request has expired"):
        check(request, NOW + timedelta(seconds=61))


# --- services other than S3 ----------------------------------------------------------


def signed_for(service: str, url: str, body: bytes) -> SignedRequest:
    """A request botocore signs for a service other than S3 (no x-amz-content-sha256)."""
    aws_request = AWSRequest("POST", url, data=body)
    SigV4Auth(CREDENTIALS, service, REGION).add_auth(aws_request)
    return on_the_wire(aws_request)


@pytest.mark.parametrize(
    "path",
    [
        "/2015-03-31/functions/my%20function/invocations",
        "/2015-03-31/functions/a%2Fb/invocations",
        "/queue//with/./dots/../x",
        "",
    ],
)
def test_other_services_verify(path: str) -> None:
    body = b'{"key": "value"}'
    request = signed_for("lambda", f"https://lambda.us-east-1.amazonaws.com{path}", body)
    auth = parsed(request, NOW)
    assert auth.payload_hash is None

    sha256 = hashlib.sha256(body).hexdigest()
    verify(request, auth, SECRET_KEY, region=REGION, service="lambda", body_sha256=sha256)


@pytest.mark.parametrize(
    "path", ["/functions/my%20function/invocations", "/a//b", "/a/./b", "/a/../b"]
)
def test_other_services_do_not_sign_the_path_as_s3_does(path: str) -> None:
    request = signed_for("lambda", f"https://lambda.us-east-1.amazonaws.com{path}", b"")
    auth = parsed(request, NOW)

    with pytest.raises(SignatureDoesNotMatch):
        verify(
            request,
            auth,
            SECRET_KEY,
            region=REGION,
            service="lambda",
            body_sha256=hashlib.sha256(b"").hexdigest(),
            double_encode=False,
        )


def test_other_services_need_the_body_hash_when_not_sent() -> None:
    request = signed_for("sqs", "https://sqs.us-east-1.amazonaws.com/", b"x")
    auth = parsed(request, NOW)

    with pytest.raises(ValueError, match="body_sha256"):
        verify(request, auth, SECRET_KEY, region=REGION, service="sqs")
