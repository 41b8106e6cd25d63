"""Hostile requests to the S3 API: each gets S3's error, and nothing is stored."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from mypy_boto3_s3 import S3Client

from chute.blobs.checksums import ChecksumAlgorithm, checksum_of
from tests.e2e.conftest import LiveServer
from tests.e2e.s3.signing import error_code, send


def md5_header(body: bytes) -> dict[str, str]:
    return {"content-md5": base64.b64encode(hashlib.md5(body).digest()).decode()}


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Delete><Object><Key>&lol3;</Key></Object></Delete>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&x;</Key></Object></Delete>"""


@pytest.mark.parametrize(
    "body",
    [b"<Delete><Object><Key>a</Key>", b"not xml at all", b"", BILLION_LAUGHS, EXTERNAL_ENTITY],
    ids=["truncated", "garbage", "empty", "entity-expansion", "external-entity"],
)
def test_malformed_xml(s3_server: LiveServer, s3: S3Client, bucket: str, body: bytes) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    answer = send(s3_server, "POST", f"/{bucket}?delete", body, md5_header(body))
    assert answer.status_code == 400
    assert error_code(answer) == "MalformedXML"
    assert "passwd" not in answer.text
    assert "lol" not in answer.text
    assert s3.head_object(Bucket=bucket, Key="a")["ContentLength"] == 1


def test_oversized_xml_is_refused_before_reading(s3_server: LiveServer, bucket: str) -> None:
    body = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 200_000 + b"</Delete>"
    answer = send(s3_server, "POST", f"/{bucket}?delete", body, md5_header(body))
    assert answer.status_code == 400
    assert error_code(answer) == "MaxMessageLengthExceeded"


def test_more_than_1000_keys_in_one_delete(s3_server: LiveServer, bucket: str) -> None:
    body = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>"
    answer = send(s3_server, "POST", f"/{bucket}?delete", body, md5_header(body))
    assert error_code(answer) == "MalformedXML"


def test_delete_objects_needs_an_integrity_header(s3_server: LiveServer, bucket: str) -> None:
    body = b"<Delete><Object><Key>k</Key></Object></Delete>"
    missing = send(s3_server, "POST", f"/{bucket}?delete", body)
    assert (missing.status_code, error_code(missing)) == (400, "InvalidRequest")
    wrong = send(s3_server, "POST", f"/{bucket}?delete", body, md5_header(b"other"))
    assert error_code(wrong) == "BadDigest"
    crc = send(s3_server, "POST", f"/{bucket}?delete", body, {"x-amz-checksum-crc32": "AAAAAA=="})
    assert error_code(crc) == "BadDigest"


def test_a_body_that_differs_from_its_signed_hash(
    s3_server: LiveServer, s3: S3Client, bucket: str
) -> None:
    answer = send(
        s3_server,
        "PUT",
        f"/{bucket}/k",
        b"actual",
        payload_hash=hashlib.sha256(b"other").hexdigest(),
    )
    assert (answer.status_code, error_code(answer)) == (400, "XAmzContentSHA256Mismatch")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_invalid_content_md5(s3_server: LiveServer, bucket: str) -> None:
    answer = send(s3_server, "PUT", f"/{bucket}/k", b"x", {"content-md5": "not-base64!"})
    assert (answer.status_code, error_code(answer)) == (400, "InvalidDigest")


def test_errors_carry_request_and_host_ids(s3_server: LiveServer) -> None:
    answer = send(s3_server, "GET", "/no-such-bucket-at-all/k")
    assert answer.status_code == 404
    assert "<RequestId>" in answer.text
    assert "<HostId>" in answer.text
    assert answer.headers["x-amz-request-id"] in answer.text
    assert "<Resource>/no-such-bucket-at-all/k</Resource>" in answer.text


def test_unknown_method(s3_server: LiveServer, bucket: str) -> None:
    answer = send(s3_server, "PATCH", f"/{bucket}/k", b"x")
    assert (answer.status_code, error_code(answer)) == (405, "MethodNotAllowed")


def aws_chunked(data: bytes, chunk: int, trailer: str) -> bytes:
    """An unsigned aws-chunked body with a trailing checksum, as botocore sends over TLS."""
    body = b""
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        body += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return body + b"0\r\n" + trailer.encode() + b"\r\n\r\n"


def chunked_headers(data: bytes, algorithm: str = "crc32") -> dict[str, str]:
    return {
        "content-encoding": "aws-chunked",
        "x-amz-trailer": f"x-amz-checksum-{algorithm}",
        "x-amz-decoded-content-length": str(len(data)),
    }


def test_unsigned_trailer_body_is_decoded_and_checked(
    s3_server: LiveServer, s3: S3Client, bucket: str
) -> None:
    data = os.urandom(200_000)
    crc = checksum_of(ChecksumAlgorithm.CRC32, data)
    body = aws_chunked(data, 65536, f"x-amz-checksum-crc32:{crc}")
    kind = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    answer = send(
        s3_server, "PUT", f"/{bucket}/chunked", body, chunked_headers(data), payload_hash=kind
    )
    assert answer.status_code == 200, answer.text
    got = s3.get_object(Bucket=bucket, Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ChecksumCRC32"] == crc
    assert "ContentEncoding" not in got


def test_a_trailer_that_does_not_match_stores_nothing(
    s3_server: LiveServer, s3: S3Client, bucket: str
) -> None:
    data = os.urandom(100_000)
    body = aws_chunked(data, 65536, "x-amz-checksum-crc32:AAAAAA==")
    kind = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    answer = send(
        s3_server, "PUT", f"/{bucket}/bad", body, chunked_headers(data), payload_hash=kind
    )
    assert (answer.status_code, error_code(answer)) == (400, "BadDigest")
    short = aws_chunked(
        data[:-1], 65536, f"x-amz-checksum-crc32:{checksum_of(ChecksumAlgorithm.CRC32, data[:-1])}"
    )
    answer = send(
        s3_server, "PUT", f"/{bucket}/bad", short, chunked_headers(data), payload_hash=kind
    )
    assert answer.status_code == 400
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
