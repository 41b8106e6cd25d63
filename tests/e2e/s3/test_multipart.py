"""Multipart uploads over the S3 API with boto3."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from mypy_boto3_s3 import S3Client
from mypy_boto3_s3.type_defs import CompletedPartTypeDef

from chute.blobs.checksums import ChecksumAlgorithm, checksum_of
from tests.e2e.s3.test_objects import code_of

MiB = 1024 * 1024


def s3_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def test_upload_list_complete_and_read_parts(s3: S3Client, bucket: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="big", ContentType="video/mp4", Metadata={"a": "b"}
    )
    upload_id = upload["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket)
    assert [u["UploadId"] for u in listed["Uploads"]] == [upload_id]
    etags = []
    for number, data in enumerate(parts, 1):
        answer = s3.upload_part(
            Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=number, Body=data
        )
        etags.append(answer["ETag"])
        assert answer["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    page = s3.list_parts(Bucket=bucket, Key="big", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2]
    assert page["IsTruncated"] is True
    rest = s3.list_parts(
        Bucket=bucket, Key="big", UploadId=upload_id, PartNumberMarker=page["NextPartNumberMarker"]
    )
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert done["ETag"] == s3_etag(parts)
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["Body"].read() == b"".join(parts)
    assert (got["ContentType"], got["Metadata"]) == ("video/mp4", {"a": "b"})
    second = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)
    assert second["Body"].read() == parts[1]
    assert second["PartsCount"] == 3
    across = s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={5 * MiB - 3}-{5 * MiB + 2}")
    assert across["Body"].read() == parts[0][-3:] + parts[1][:3]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_upload_file_and_download_file_with_threads(
    s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(20 * MiB + 17))
    config = TransferConfig(
        multipart_threshold=8 * MiB, multipart_chunksize=5 * MiB, max_concurrency=10
    )
    s3.upload_file(str(source), bucket, "file.bin", Config=config)
    target = tmp_path / "target.bin"
    s3.download_file(bucket, "file.bin", str(target), Config=config)
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )
    assert s3.head_object(Bucket=bucket, Key="file.bin")["ETag"].endswith('-5"')


def test_part_rules(s3: S3Client, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for number in (0, 10001):
        with pytest.raises(ClientError) as bad:
            s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=b"x")
        assert code_of(bad.value) == "InvalidArgument"
    small = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"tiny")[
        "ETag"
    ]
    last = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"end")[
        "ETag"
    ]
    cases: dict[str, list[CompletedPartTypeDef]] = {
        "EntityTooSmall": [{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}],
        "InvalidPart": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}],
        "InvalidPartOrder": [{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}],
    }
    for code, listed in cases.items():
        with pytest.raises(ClientError) as refused:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": listed}
            )
        assert code_of(refused.value) == code
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    with pytest.raises(ClientError) as aborted:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert code_of(aborted.value) == "NoSuchUpload"
    with pytest.raises(ClientError) as completed:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": small}]},
        )
    assert code_of(completed.value) == "NoSuchUpload"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [
        ("CRC32", "COMPOSITE"),
        ("CRC32C", "FULL_OBJECT"),
        ("SHA256", "COMPOSITE"),
        ("CRC64NVME", "FULL_OBJECT"),
    ],
)
def test_checksums_of_multipart_objects(
    s3: S3Client, bucket: str, algorithm: str, kind: str
) -> None:
    client: Any = s3  # boto3's stubs know no checksum field chosen at run time
    parts = [os.urandom(5 * MiB), os.urandom(100)]
    upload_id = client.create_multipart_upload(
        Bucket=bucket, Key="c", ChecksumAlgorithm=algorithm, ChecksumType=kind
    )["UploadId"]
    listed = []
    for number, data in enumerate(parts, 1):
        answer = client.upload_part(
            Bucket=bucket,
            Key="c",
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm=algorithm,
        )
        listed.append(
            {
                "PartNumber": number,
                "ETag": answer["ETag"],
                f"Checksum{algorithm}": answer[f"Checksum{algorithm}"],
            }
        )
    done = client.complete_multipart_upload(
        Bucket=bucket,
        Key="c",
        UploadId=upload_id,
        MultipartUpload={"Parts": listed},
        ChecksumType=kind,
    )
    value = done[f"Checksum{algorithm}"]
    if kind == "COMPOSITE":
        assert value.endswith("-2")
    else:
        whole = b"".join(parts)
        assert value == checksum_of(ChecksumAlgorithm(algorithm), whole)
    head = client.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == value


def test_upload_part_copy_with_a_range(s3: S3Client, bucket: str) -> None:
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    first = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )
    second = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes={5 * MiB}-{6 * MiB - 1}",
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
                {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
            ]
        },
    )
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == source
