"""The AWS SDK for JavaScript v3 under Node, unchanged: ``js/scenario.mjs`` (its
dependencies pinned in ``js/package-lock.json``) runs every operation once with the SDK's
defaults and prints what it read back; boto3 then checks what was stored."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mypy_boto3_s3 import S3Client

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.clients.conftest import MiB, aws_env, digests, program, run, stored
from tests.services import require

SCENARIO = Path(__file__).parent / "js"
TEXT_KEY = "notes/h\u00e9llo w\u00f6rld.txt"
TEXT = "h\u00e9llo from node, w\u00f6rld\n".encode()
#: Each copy and its source.
COPIES = {"copies/buffer copy.bin": "buffer.bin", "copies/encoded.txt": TEXT_KEY}
DELETED = ["tree/one.txt", "tree/two.txt"]


@dataclass(frozen=True)
class Scenario:
    """One run of the script: the bucket it filled and the summary it printed."""

    bucket: str
    summary: dict[str, Any]

    @property
    def sent(self) -> dict[str, dict[str, Any]]:
        """Size, SHA-256 and ETag of every object the script uploaded, by key."""
        sent: dict[str, dict[str, Any]] = self.summary["sent"]
        return sent

    def step(self, name: str) -> Any:
        return self.summary["steps"][name]

    def wire(self, operation: str) -> list[dict[str, str]]:
        """The headers each request of ``operation`` went out with."""
        requests: list[dict[str, str]] = self.summary["wire"][operation + "Command"]
        return requests


@pytest.fixture(scope="module")
def scenario(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    node = program("node")
    require(
        (SCENARIO / "node_modules").is_dir(),
        f"the SDK's packages (run `npm ci` in {SCENARIO})",
    )
    bucket = f"c-{uuid.uuid4().hex[:16]}"
    env = {
        **aws_env(server, tmp_path_factory.mktemp("js-home")),
        "S3_ENDPOINT": server.url,
        "S3_BUCKET": bucket,
    }
    done = run([node, str(SCENARIO / "scenario.mjs")], env)
    return Scenario(bucket, json.loads(done.stdout))


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def composite_crc32(data: bytes, part_size: int) -> str:
    """S3's checksum of a multipart object: the CRC32 of its parts' CRC32s, and their count."""
    parts = [data[at : at + part_size] for at in range(0, len(data), part_size)]
    joined = b"".join(zlib.crc32(part).to_bytes(4, "big") for part in parts)
    return f"{crc32(joined)}-{len(parts)}"


def remaining(scenario: Scenario) -> dict[str, str]:
    """The SHA-256 of every object the bucket should hold at the end, by key."""
    expected = {key: sent["sha256"] for key, sent in scenario.sent.items()}
    expected.update({copy: expected[source] for copy, source in COPIES.items()})
    for key in DELETED:
        del expected[key]
    return expected


def test_every_object_is_stored_byte_for_byte(scenario: Scenario, s3: S3Client) -> None:
    assert digests(stored(s3, scenario.bucket)) == remaining(scenario)
    read = {key: got["sha256"] for key, got in scenario.summary["read"].items()}
    assert read == {key: sent["sha256"] for key, sent in scenario.sent.items()}
    assert stored(s3, scenario.bucket, "notes/") == {TEXT_KEY[len("notes/") :]: TEXT}


def test_single_part_etags_are_md5s_and_checksums_crc32s(scenario: Scenario, s3: S3Client) -> None:
    for key in ["buffer.bin", "stream.bin", TEXT_KEY, "tree/three.txt"]:
        data = s3.get_object(Bucket=scenario.bucket, Key=key)["Body"].read()
        head = s3.head_object(Bucket=scenario.bucket, Key=key, ChecksumMode="ENABLED")
        assert head["ETag"] == f'"{hashlib.md5(data).hexdigest()}"' == scenario.sent[key]["etag"]
        assert (
            head["ChecksumCRC32"] == crc32(data) == scenario.summary["read"][key]["checksumCRC32"]
        )
    assert scenario.step("putChecksums") == {
        "string": crc32(TEXT),
        "buffer": scenario.summary["read"]["buffer.bin"]["checksumCRC32"],
    }


def test_lib_storage_uploads_in_parts(scenario: Scenario, s3: S3Client) -> None:
    large = s3.head_object(Bucket=scenario.bucket, Key="large.bin")
    assert large["ContentLength"] == 12 * MiB
    assert large["ETag"] == scenario.sent["large.bin"]["etag"]
    assert large["ETag"].endswith('-3"')
    assert scenario.step("upload")["parts"] == [1, 2, 3]
    data = s3.get_object(Bucket=scenario.bucket, Key="large.bin")["Body"].read()
    assert scenario.summary["read"]["large.bin"]["checksumCRC32"] == composite_crc32(data, 5 * MiB)
    assert scenario.summary["read"]["large.bin"]["checksumType"] == "COMPOSITE"
    unknown = s3.head_object(Bucket=scenario.bucket, Key="stream-unknown.bin")
    assert unknown["ETag"].endswith('-2"')
    assert [
        request["x-amz-checksum-algorithm"] for request in scenario.wire("CreateMultipartUpload")
    ] == ["CRC32", "CRC32"]


def test_a_stream_goes_aws_chunked_with_a_trailing_checksum(scenario: Scenario) -> None:
    streamed = [
        r for r in scenario.wire("PutObject") if "aws-chunked" in r.get("content-encoding", "")
    ]
    assert streamed == [
        {
            "content-encoding": "aws-chunked",
            "transfer-encoding": "chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-decoded-content-length": str(scenario.sent["stream.bin"]["size"]),
            "x-amz-sdk-checksum-algorithm": "CRC32",
            "x-amz-trailer": "x-amz-checksum-crc32",
        }
    ]
    assert (
        scenario.step("stream")["checksum"]
        == scenario.summary["read"]["stream.bin"]["checksumCRC32"]
    )


def test_range_listing_and_copy(scenario: Scenario) -> None:
    assert scenario.step("range") == {
        "size": 1000,
        "contentRange": "bytes 1000-1999/100000",
        "contentLength": 1000,
    }
    assert scenario.step("list") == {
        "keys": ["tree/one.txt", "tree/three.txt", "tree/two.txt"],
        "prefixes": ["tree/other/", "tree/sub/"],
        "pages": 3,
    }
    assert scenario.step("copy") == {
        copy: {"etag": scenario.sent[source]["etag"], "sha256": scenario.sent[source]["sha256"]}
        for copy, source in COPIES.items()
    }


def test_delete_objects_with_a_crc32_and_no_md5(scenario: Scenario) -> None:
    assert scenario.step("deleted") == ["absent", *DELETED]
    [request] = scenario.wire("DeleteObjects")
    assert "content-md5" not in request
    assert request["x-amz-sdk-checksum-algorithm"] == "CRC32"
    assert request["x-amz-checksum-crc32"]


def test_presigned_get_and_a_missing_key(scenario: Scenario) -> None:
    assert scenario.step("presigned") == {"status": 200, "sha256": hashlib.sha256(TEXT).hexdigest()}
    assert scenario.step("missing") == {"name": "NoSuchKey", "status": 404}
