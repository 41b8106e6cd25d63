"""CORS per bucket: the configuration through boto3, preflights and the headers of the
requests that follow through httpx, as a browser sends them."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest
from botocore.exceptions import ClientError
from mypy_boto3_s3 import S3Client
from mypy_boto3_s3.type_defs import CORSRuleTypeDef

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.signing import send

APP = "https://app.example.com"
RULES: list[CORSRuleTypeDef] = [
    {
        "ID": "uploads",
        "AllowedOrigins": [APP, "http://*.example.org"],
        "AllowedMethods": ["PUT", "POST"],
        "AllowedHeaders": ["content-type", "x-amz-*"],
        "ExposeHeaders": ["ETag", "x-amz-version-id"],
        "MaxAgeSeconds": 600,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]


def code_of(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def error_code(response: httpx.Response) -> str:
    return ET.fromstring(response.content).findtext("Code") or ""


@pytest.fixture
def cors_bucket(s3: S3Client, bucket: str) -> str:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    return bucket


def preflight(
    server: LiveServer, path: str, origin: str | None, method: str, headers: str | None = None
) -> httpx.Response:
    sent = {"access-control-request-method": method}
    if origin is not None:
        sent["origin"] = origin
    if headers is not None:
        sent["access-control-request-headers"] = headers
    return httpx.options(server.url + path, headers=sent)


def test_put_get_and_delete_the_configuration(s3: S3Client, bucket: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_bucket_cors(Bucket=bucket)
    assert code_of(err.value) == "NoSuchCORSConfiguration"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as err:
        s3.get_bucket_cors(Bucket=bucket)
    assert code_of(err.value) == "NoSuchCORSConfiguration"
    s3.delete_bucket_cors(Bucket=bucket)  # nothing to delete is no error


@pytest.mark.parametrize(
    ("rule", "code", "message"),
    [
        (
            {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]},
            "InvalidRequest",
            "Found unsupported HTTP method in CORS config. Unsupported method is PATCH",
        ),
        (
            {"AllowedOrigins": ["https://*.example.*"], "AllowedMethods": ["GET"]},
            "InvalidRequest",
            'AllowedOrigin "https://*.example.*" can not have more than one wildcard.',
        ),
        (
            {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["x-*"]},
            "InvalidRequest",
            'ExposeHeader "x-*" contains wildcard. We currently do not support wildcard for '
            "ExposeHeader.",
        ),
        ({"AllowedOrigins": [], "AllowedMethods": ["GET"]}, "MalformedXML", None),
    ],
)
def test_invalid_rules_are_refused(
    s3: S3Client, bucket: str, rule: CORSRuleTypeDef, code: str, message: str | None
) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    assert code_of(err.value) == code
    if message is not None:
        assert err.value.response["Error"]["Message"] == message
    with pytest.raises(ClientError):
        s3.get_bucket_cors(Bucket=bucket)


def test_more_than_100_rules_are_malformed(s3: S3Client, bucket: str) -> None:
    rule: CORSRuleTypeDef = {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule] * 100})
    with pytest.raises(ClientError) as err:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule] * 101})
    assert code_of(err.value) == "MalformedXML"


def test_a_configuration_without_a_digest_is_refused(s3_server: LiveServer, bucket: str) -> None:
    body = (
        b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
        b"<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"
    )
    answer = httpx.put(f"{s3_server.url}/{bucket}?cors", content=body)
    assert answer.status_code == 400
    assert error_code(answer) == "InvalidRequest"
    assert b"Content-MD5" in answer.content


def test_preflight_for_a_matching_rule(s3_server: LiveServer, cors_bucket: str) -> None:
    answer = preflight(
        s3_server, f"/{cors_bucket}/uploads/a.txt", APP, "PUT", "Content-Type, X-Amz-Meta-Owner"
    )
    assert answer.status_code == 200
    assert answer.content == b""
    assert answer.headers["access-control-allow-origin"] == APP
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert answer.headers["access-control-allow-methods"] == "PUT, POST"
    assert answer.headers["access-control-allow-headers"] == "content-type, x-amz-meta-owner"
    assert answer.headers["access-control-expose-headers"] == "ETag, x-amz-version-id"
    assert answer.headers["access-control-max-age"] == "600"
    assert answer.headers["vary"] == (
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
    )
    # The bucket itself (a browser's POST upload) and a wildcard origin.
    bucket_level = preflight(s3_server, f"/{cors_bucket}", "http://cdn.example.org", "POST")
    assert bucket_level.status_code == 200
    assert bucket_level.headers["access-control-allow-origin"] == "http://cdn.example.org"


def test_the_first_matching_rule_answers_and_a_star_origin_is_answered_with_a_star(
    s3_server: LiveServer, cors_bucket: str
) -> None:
    answer = preflight(s3_server, f"/{cors_bucket}/a.txt", "https://elsewhere.test", "GET")
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers
    assert answer.headers["access-control-allow-methods"] == "GET, HEAD"
    assert "access-control-max-age" not in answer.headers
    # The first rule allows GET to none of its origins; the second allows any origin.
    mine = preflight(s3_server, f"/{cors_bucket}/a.txt", APP, "GET")
    assert mine.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        ("https://evil.example.net", "PUT", None),  # no rule for the origin
        (APP, "DELETE", None),  # nor the method
        (APP, "PUT", "content-type, authorization"),  # nor every header
        ("http://example.org", "PUT", None),  # the wildcard needs a subdomain
        ("https://app.example.com.evil.net", "PUT", None),
        ("https://elsewhere.test", "GET", "x-custom"),  # the * rule allows no header
    ],
)
def test_preflight_no_rule_allows(
    s3_server: LiveServer, cors_bucket: str, origin: str, method: str, headers: str | None
) -> None:
    answer = preflight(s3_server, f"/{cors_bucket}/k", origin, method, headers)
    assert answer.status_code == 403
    document = ET.fromstring(answer.content)
    assert document.findtext("Code") == "AccessForbidden"
    assert (document.findtext("Message") or "").startswith(
        "CORSResponse: This CORS request is not allowed."
    )
    assert document.findtext("Method") == method
    assert document.findtext("ResourceType") == "OBJECT"
    assert "access-control-allow-origin" not in answer.headers


def test_preflight_without_configuration_origin_or_bucket(
    s3_server: LiveServer, bucket: str
) -> None:
    unset = preflight(s3_server, f"/{bucket}/k", APP, "GET")
    assert unset.status_code == 403
    assert ET.fromstring(unset.content).findtext("Message") == (
        "CORSResponse: CORS is not enabled for this bucket."
    )
    missing = preflight(s3_server, "/no-such-bucket-here/k", APP, "GET")
    assert missing.status_code == 403
    assert error_code(missing) == "AccessForbidden"
    no_origin = preflight(s3_server, f"/{bucket}/k", None, "GET")
    assert no_origin.status_code == 400
    assert error_code(no_origin) == "BadRequest"


def test_requests_with_an_origin_get_the_headers_of_their_rule(
    s3: S3Client, s3_server: LiveServer, cors_bucket: str
) -> None:
    s3.put_object(Bucket=cors_bucket, Key="a.txt", Body=b"hello")
    got = send(s3_server, "GET", f"/{cors_bucket}/a.txt", headers={"origin": APP})
    assert got.status_code == 200
    assert got.content == b"hello"
    assert got.headers["access-control-allow-origin"] == "*"
    assert got.headers["access-control-allow-methods"] == "GET, HEAD"
    assert got.headers["vary"].startswith("Origin")
    # Errors too: a browser can only read an error its origin is allowed to see.
    missing = send(s3_server, "GET", f"/{cors_bucket}/nothing", headers={"origin": APP})
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == "*"
    # No Origin, no CORS headers; no rule for the method, none either.
    plain = send(s3_server, "GET", f"/{cors_bucket}/a.txt")
    assert "access-control-allow-origin" not in plain.headers
    deleted = send(s3_server, "DELETE", f"/{cors_bucket}/a.txt", headers={"origin": APP})
    assert deleted.status_code == 204
    assert "access-control-allow-origin" not in deleted.headers


def test_a_rule_exposing_etag_reaches_the_answer_of_a_put(
    s3_server: LiveServer, cors_bucket: str
) -> None:
    put = send(s3_server, "PUT", f"/{cors_bucket}/b.txt", b"data", {"origin": APP})
    assert put.status_code == 200
    assert put.headers["access-control-allow-origin"] == APP
    assert put.headers["access-control-expose-headers"] == "ETag, x-amz-version-id"
    assert put.headers["access-control-allow-credentials"] == "true"


def test_changed_rules_apply_at_once(s3: S3Client, s3_server: LiveServer, bucket: str) -> None:
    path = f"/{bucket}/k"

    def allowed() -> str | None:
        answer = send(s3_server, "GET", path, headers={"origin": APP})
        found: str | None = answer.headers.get("access-control-allow-origin")
        return found

    assert preflight(s3_server, f"/{bucket}/k", APP, "GET").status_code == 403
    assert (
        "access-control-allow-origin"
        not in send(s3_server, "GET", path, headers={"origin": APP}).headers
    )
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES[1:]})
    assert preflight(s3_server, f"/{bucket}/k", APP, "GET").status_code == 200
    assert (
        send(s3_server, "GET", path, headers={"origin": APP}).headers["access-control-allow-origin"]
        == "*"
    )
    s3.delete_bucket_cors(Bucket=bucket)
    assert preflight(s3_server, f"/{bucket}/k", APP, "GET").status_code == 403
    assert (
        "access-control-allow-origin"
        not in send(s3_server, "GET", path, headers={"origin": APP}).headers
    )
