"""Signature Version 4 refusals over HTTP, against a real server: presigned URLs that
expired, were altered or carry headers they did not sign; the wrong region, service,
clock, secret or key; two auth mechanisms at once; a disabled key; a key limited to a
prefix writing outside it; and an aws-chunked body whose chunk signature breaks
mid-stream. Each answer is S3's status and code, and nothing is stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from mypy_boto3_s3 import S3Client

from chute.security.sigv4 import SigningKey, derive_key
from tests.e2e.conftest import ROOT_AUTH, ROOT_KEY, LiveServer
from tests.e2e.s3.conftest import REGION, s3_client, server_credentials
from tests.e2e.s3.signing import error_code, signed_headers
from tests.unit.security.vectors import signed_body

API = "/_/api/v1"


def presigned(s3v4: S3Client, bucket: str, key: str, expires: int = 60) -> str:
    """A SigV4 presigned GET URL of ``key``."""
    return s3v4.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
    )


@pytest.fixture(scope="module")
def s3v4(s3_server: LiveServer) -> S3Client:
    """A client that presigns with SigV4 (boto3 presigns with Version 2 unless told)."""
    return s3_client(s3_server, signature_version="s3v4")


@pytest.fixture
def shared(s3: S3Client, bucket: str) -> str:
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared")
    return bucket


# --- Signature Version 2 --------------------------------------------------------------


def test_boto3_s_default_presigned_urls_work(s3: S3Client, shared: str) -> None:
    url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": shared, "Key": "shared.txt", "ResponseContentType": "text/x-shared"},
    )
    assert "AWSAccessKeyId=" in url
    got = httpx.get(url)
    assert (got.status_code, got.content) == (200, b"shared")
    assert got.headers["content-type"] == "text/x-shared"
    put = s3.generate_presigned_url("put_object", Params={"Bucket": shared, "Key": "up.txt"})
    assert httpx.put(put, content=b"uploaded").status_code == 200
    assert s3.get_object(Bucket=shared, Key="up.txt")["Body"].read() == b"uploaded"


def test_an_altered_or_expired_version_2_url_is_refused(
    s3: S3Client, shared: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = s3.generate_presigned_url("get_object", Params={"Bucket": shared, "Key": "shared.txt"})
    altered = httpx.get(url.replace("shared.txt", "other.txt"))
    assert (altered.status_code, error_code(altered)) == (403, "SignatureDoesNotMatch")
    monkeypatch.setattr("botocore.auth.time.time", lambda: 0.0)  # signed in 1970
    old = s3.generate_presigned_url("get_object", Params={"Bucket": shared, "Key": "shared.txt"})
    monkeypatch.undo()
    expired = httpx.get(old)
    assert (expired.status_code, error_code(expired)) == (403, "AccessDenied")
    assert "Request has expired" in expired.text


# --- SigV4 presigned URLs -------------------------------------------------------------


def test_a_presigned_url_reads_its_object(s3v4: S3Client, shared: str) -> None:
    got = httpx.get(presigned(s3v4, shared, "shared.txt"))
    assert (got.status_code, got.content) == (200, b"shared")


def test_an_expired_presigned_url_is_access_denied(
    s3_server: LiveServer, shared: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    two_hours_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: two_hours_ago)
    request = AWSRequest("GET", f"{s3_server.url}/{shared}/shared.txt")
    credentials = Credentials(*server_credentials(s3_server))
    S3SigV4QueryAuth(credentials, "s3", REGION, expires=3600).add_auth(request)
    monkeypatch.undo()
    got = httpx.get(request.prepare().url)
    assert (got.status_code, error_code(got)) == (403, "AccessDenied")
    assert "Request has expired" in got.text


def test_a_lifetime_over_seven_days_is_refused(s3v4: S3Client, shared: str) -> None:
    got = httpx.get(presigned(s3v4, shared, "shared.txt", expires=7 * 24 * 3600 + 1))
    assert (got.status_code, error_code(got)) == (400, "AuthorizationQueryParametersError")
    assert (
        httpx.get(presigned(s3v4, shared, "shared.txt", expires=7 * 24 * 3600)).status_code == 200
    )


@pytest.mark.parametrize(
    "alter",
    [
        lambda url: url.replace("shared.txt", "other.txt"),
        lambda url: url + "&response-content-type=text%2Fhtml",
        lambda url: re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=600", url),
        lambda url: re.sub(r"X-Amz-Signature=[0-9a-f]{4}", "X-Amz-Signature=0000", url),
    ],
    ids=["key", "added-parameter", "lifetime", "signature"],
)
def test_an_altered_presigned_url_does_not_match(s3v4: S3Client, shared: str, alter: Any) -> None:
    got = httpx.get(alter(presigned(s3v4, shared, "shared.txt")))
    assert (got.status_code, error_code(got)) == (403, "SignatureDoesNotMatch")


def test_an_unsigned_amz_header_on_a_presigned_url_is_refused(s3v4: S3Client, shared: str) -> None:
    got = httpx.get(presigned(s3v4, shared, "shared.txt"), headers={"x-amz-meta-extra": "1"})
    assert (got.status_code, error_code(got)) == (403, "AccessDenied")
    assert "not signed" in got.text


def test_header_and_query_auth_together_are_refused(
    s3_server: LiveServer, s3v4: S3Client, shared: str
) -> None:
    url = presigned(s3v4, shared, "shared.txt")
    path = url[len(s3_server.url) :]
    headers = signed_headers(s3_server, "GET", path)
    got = httpx.get(url, headers=headers)
    assert (got.status_code, error_code(got)) == (400, "InvalidArgument")
    assert "Only one auth mechanism allowed" in got.text


# --- header auth ----------------------------------------------------------------------


def s3_error(call: Any) -> tuple[int, str]:
    with pytest.raises(Exception) as caught:  # noqa: PT011  (botocore's ClientError)
        call()
    response = caught.value.response  # type: ignore[attr-defined]
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_the_wrong_region_is_named_in_the_answer(s3_server: LiveServer, bucket: str) -> None:
    other = s3_client(s3_server, region="eu-west-3")
    status, code = s3_error(lambda: other.put_object(Bucket=bucket, Key="k", Body=b"x"))
    assert (status, code) == (400, "AuthorizationHeaderMalformed")


def test_another_service_s_signature_is_refused(s3_server: LiveServer, bucket: str) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=f"{s3_server.url}/{bucket}")
    # A service Chute does not serve (one it serves, such as sqs, gets the request).
    SigV4Auth(Credentials(*server_credentials(s3_server)), "dynamodb", REGION).add_auth(request)
    got = httpx.get(f"{s3_server.url}/{bucket}", headers=dict(request.headers.items()))
    assert (got.status_code, error_code(got)) == (400, "AuthorizationHeaderMalformed")
    assert 'incorrect service "dynamodb"' in got.text


def test_a_clock_off_by_more_than_fifteen_minutes(
    s3_server: LiveServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    late = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=16)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: late)
    headers = signed_headers(s3_server, "PUT", f"/{bucket}/skewed", b"x")
    monkeypatch.undo()
    got = httpx.put(f"{s3_server.url}/{bucket}/skewed", content=b"x", headers=headers)
    assert (got.status_code, error_code(got)) == (403, "RequestTimeTooSkewed")
    assert "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>" in got.text


def test_a_wrong_secret_and_an_unknown_key(s3_server: LiveServer, bucket: str) -> None:
    wrong_secret = s3_client(s3_server, secret_key="not-the-secret")
    unknown = s3_client(s3_server, access_key="CKNOSUCHKEY000000000")
    assert s3_error(lambda: wrong_secret.list_objects_v2(Bucket=bucket)) == (
        403,
        "SignatureDoesNotMatch",
    )
    assert s3_error(lambda: unknown.list_objects_v2(Bucket=bucket)) == (403, "InvalidAccessKeyId")


def test_the_signed_host_includes_its_port(s3_server: LiveServer, bucket: str) -> None:
    port = s3_server.port
    headers = signed_headers(s3_server, "GET", f"/{bucket}", host=f"127.0.0.1:{port + 1}")
    headers.pop("Host", None)
    got = httpx.get(f"{s3_server.url}/{bucket}", headers=headers)
    assert (got.status_code, error_code(got)) == (403, "SignatureDoesNotMatch")


# --- keys -----------------------------------------------------------------------------


@pytest.fixture
def limited(s3_server: LiveServer, bucket: str) -> Iterator[tuple[S3Client, str]]:
    """A client whose key may read and write ``uploads/`` in ``bucket`` only, and the
    key's id."""
    made = httpx.post(
        f"{s3_server.url}{API}/keys",
        headers=ROOT_AUTH,
        json={
            "name": "uploads-only",
            "grants": [
                {"access": ["read", "write"], "buckets": [bucket], "prefixes": ["uploads/"]}
            ],
        },
    )
    assert made.status_code == 201, made.text
    body = made.json()
    yield (
        s3_client(s3_server, access_key=body["id"], secret_key=body["secret"]),
        body["id"],
    )
    httpx.delete(f"{s3_server.url}{API}/keys/{body['id']}", headers=ROOT_AUTH)


def test_a_key_limited_to_a_prefix_writes_there_only(
    limited: tuple[S3Client, str], s3: S3Client, bucket: str
) -> None:
    client, _ = limited
    client.put_object(Bucket=bucket, Key="uploads/a.txt", Body=b"in")
    assert client.get_object(Bucket=bucket, Key="uploads/a.txt")["Body"].read() == b"in"
    assert s3_error(lambda: client.put_object(Bucket=bucket, Key="other/a.txt", Body=b"x")) == (
        403,
        "AccessDenied",
    )
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"secret")
    assert s3_error(lambda: client.get_object(Bucket=bucket, Key="private.txt")) == (
        403,
        "AccessDenied",
    )
    assert s3_error(lambda: client.delete_object(Bucket=bucket, Key="private.txt")) == (
        403,
        "AccessDenied",
    )
    assert s3_error(lambda: client.create_bucket(Bucket=f"{bucket}-mine")) == (403, "AccessDenied")
    listed = client.list_objects_v2(Bucket=bucket, Prefix="uploads/")
    assert [o["Key"] for o in listed["Contents"]] == ["uploads/a.txt"]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="other/")["KeyCount"] == 0


def test_a_disabled_key_is_refused(
    s3_server: LiveServer, limited: tuple[S3Client, str], bucket: str
) -> None:
    client, key_id = limited
    client.put_object(Bucket=bucket, Key="uploads/before.txt", Body=b"ok")
    disabled = httpx.post(f"{s3_server.url}{API}/keys/{key_id}/disable", headers=ROOT_AUTH)
    assert disabled.status_code == 200
    status, code = s3_error(
        lambda: client.put_object(Bucket=bucket, Key="uploads/after.txt", Body=b"x")
    )
    assert (status, code) == (403, "InvalidAccessKeyId")


# --- signed aws-chunked bodies --------------------------------------------------------


def test_a_chunk_signature_broken_mid_stream_stores_nothing(
    s3_server: LiveServer, s3: S3Client, bucket: str
) -> None:
    chunks = [b"a" * 65536, b"b" * 65536, b"c" * 100]
    path = f"/{bucket}/chunked.bin"
    headers = signed_headers(
        s3_server, "PUT", path, headers={
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(sum(map(len, chunks))),
        }, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    )  # fmt: skip
    key = _seed(headers)

    good = signed_body(key, chunks)
    answer = httpx.put(s3_server.url + path, content=good, headers=headers)
    assert answer.status_code == 200, answer.text
    assert s3.get_object(Bucket=bucket, Key="chunked.bin")["Body"].read() == b"".join(chunks)

    headers = signed_headers(
        s3_server, "PUT", f"/{bucket}/broken.bin", headers={
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(sum(map(len, chunks))),
        }, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    )  # fmt: skip
    body = signed_body(_seed(headers), chunks)
    second = body.index(b";chunk-signature=", 100) + len(b";chunk-signature=")
    broken = body[:second] + b"0" * 64 + body[second + 64 :]
    answer = httpx.put(f"{s3_server.url}/{bucket}/broken.bin", content=broken, headers=headers)
    assert (answer.status_code, error_code(answer)) == (403, "SignatureDoesNotMatch")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="broken")["KeyCount"] == 0


def _seed(headers: dict[str, str]) -> SigningKey:
    """The signing key and seed signature of a request botocore signed with the root
    key."""
    secret = ROOT_KEY.secret_key
    timestamp = headers["X-Amz-Date"]
    seed = headers["Authorization"].rpartition("Signature=")[2]
    scope = f"{timestamp[:8]}/{REGION}/s3/aws4_request"
    return SigningKey(derive_key(secret, timestamp[:8], REGION, "s3"), timestamp, scope, seed)


def test_the_root_client_still_works(s3_server: LiveServer) -> None:
    assert s3_client(s3_server).list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
