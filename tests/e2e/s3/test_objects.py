"""Objects over the S3 API with boto3: put, get, head, copy, delete, conditions."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from mypy_boto3_s3 import S3Client
from mypy_boto3_s3.type_defs import CopySourceTypeDef

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.conftest import s3_client


def code_of(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def test_put_and_get_round_trip_every_header(s3: S3Client, bucket: str) -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    s3.put_object(
        Bucket=bucket,
        Key="docs/report.txt",
        Body=b"hello world",
        ContentType="text/plain",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="r.txt"',
        ContentEncoding="identity",
        ContentLanguage="en",
        Expires=expires,
        Metadata={"Owner": "ops", "n": "1"},
        StorageClass="STANDARD",
    )
    got = s3.get_object(Bucket=bucket, Key="docs/report.txt")
    assert got["Body"].read() == b"hello world"
    assert got["ContentType"] == "text/plain"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="r.txt"'
    assert got["ContentEncoding"] == "identity"
    assert got["ContentLanguage"] == "en"
    assert dict(got)["ExpiresString"] == "Tue, 01 Jan 2030 00:00:00 GMT"
    assert got["Metadata"] == {"owner": "ops", "n": "1"}
    assert got["ETag"] == f'"{hashlib.md5(b"hello world").hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="docs/report.txt")
    assert head["ContentLength"] == 11
    assert head["Metadata"] == {"owner": "ops", "n": "1"}


def test_checksums_only_when_asked_and_never_on_a_range(
    s3: S3Client, s3_server: LiveServer, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"123456789", ChecksumAlgorithm="CRC32C")
    # boto3 asks for checksums by default; this client does not.
    quiet = s3_client(s3_server, response_checksum_validation="when_required")
    plain = quiet.get_object(Bucket=bucket, Key="k")
    assert "ChecksumCRC32C" not in plain
    full = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert full["ChecksumCRC32C"] == "4waSgw=="  # CRC32C("123456789") = 0xE3069283
    ranged = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED", Range="bytes=0-3")
    assert ranged["Body"].read() == b"1234"
    assert "ChecksumCRC32C" not in ranged
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == "4waSgw=="


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_each_checksum_algorithm_is_verified_and_kept(
    s3: S3Client, bucket: str, algorithm: str
) -> None:
    body = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key=algorithm, Body=body, ChecksumAlgorithm=algorithm)  # type: ignore[arg-type]
    got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got[f"Checksum{algorithm}"]  # type: ignore[literal-required]


def test_a_wrong_checksum_or_md5_stores_nothing(s3: S3Client, bucket: str) -> None:
    with pytest.raises(ClientError) as wrong:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"abc", ChecksumCRC32="AAAAAA==")
    assert code_of(wrong.value) == "BadDigest"
    with pytest.raises(ClientError) as md5:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"abc", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert code_of(md5.value) == "BadDigest"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_ranges_and_part_number(s3: S3Client, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=2-4")["Body"].read() == b"234"
    suffix = s3.get_object(Bucket=bucket, Key="r", Range="bytes=-3")
    assert suffix["Body"].read() == b"789"
    assert suffix["ContentRange"] == "bytes 7-9/10"
    with pytest.raises(ClientError) as past:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=20-")
    assert code_of(past.value) == "InvalidRange"
    whole = s3.get_object(Bucket=bucket, Key="r", PartNumber=1)
    assert whole["Body"].read() == b"0123456789"
    with pytest.raises(ClientError) as part:
        s3.get_object(Bucket=bucket, Key="r", PartNumber=2)
    assert code_of(part.value) == "InvalidPartNumber"


def test_conditional_reads(s3: S3Client, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"x")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"x"
    with pytest.raises(ClientError) as mismatch:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"nope"')
    assert code_of(mismatch.value) == "PreconditionFailed"
    with pytest.raises(ClientError) as same:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert same.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as unchanged:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=modified + timedelta(seconds=1))
    assert unchanged.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    earlier = modified - timedelta(days=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=earlier)["ContentLength"] == 1
    with pytest.raises(ClientError) as changed:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=earlier)
    assert code_of(changed.value) == "PreconditionFailed"


def test_response_overrides(s3: S3Client, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket,
        Key="o",
        ResponseContentType="application/json",
        ResponseContentDisposition="inline",
        ResponseCacheControl="no-store",
    )
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-store"


def test_copy_keeps_or_replaces_metadata(s3: S3Client, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", Metadata={"a": "1"}, ContentType="text/x")
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    kept = s3.head_object(Bucket=bucket, Key="kept")
    assert (kept["Metadata"], kept["ContentType"]) == ({"a": "1"}, "text/x")
    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/y",
    )
    replaced = s3.head_object(Bucket=bucket, Key="replaced")
    assert (replaced["Metadata"], replaced["ContentType"]) == ({"b": "2"}, "text/y")
    assert s3.get_object(Bucket=bucket, Key="replaced")["Body"].read() == b"data"


def test_copy_onto_itself_needs_replace(s3: S3Client, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="self", Body=b"d", Metadata={"v": "1"})
    with pytest.raises(ClientError) as refused:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert code_of(refused.value) == "InvalidRequest"
    s3.copy_object(
        Bucket=bucket,
        Key="self",
        CopySource={"Bucket": bucket, "Key": "self"},
        MetadataDirective="REPLACE",
        Metadata={"v": "2"},
    )
    assert s3.head_object(Bucket=bucket, Key="self")["Metadata"] == {"v": "2"}


def test_copy_source_conditions(s3: S3Client, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"d")["ETag"]
    source: CopySourceTypeDef = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="a", CopySource=source, CopySourceIfMatch=etag)
    for condition in (
        {"CopySourceIfMatch": '"other"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfUnmodifiedSince": datetime(2000, 1, 1, tzinfo=UTC)},
        {"CopySourceIfModifiedSince": datetime(2100, 1, 1, tzinfo=UTC)},
    ):
        with pytest.raises(ClientError) as failed:
            s3.copy_object(Bucket=bucket, Key="b", CopySource=source, **condition)
        assert code_of(failed.value) == "PreconditionFailed", condition


def test_delete_objects_in_a_batch(s3: S3Client, bucket: str) -> None:
    for index in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{index}", Body=b"x")
    objects = [{"Key": f"k{index}"} for index in range(5)] + [{"Key": "never-there"}]
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})  # type: ignore[typeddict-item]
    assert sorted(d["Key"] for d in answer["Deleted"]) == sorted(o["Key"] for o in objects)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="q", Body=b"x")
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "q"}], "Quiet": True})
    assert "Deleted" not in quiet


def test_missing_things_have_their_codes(s3: S3Client, bucket: str) -> None:
    with pytest.raises(ClientError) as key:
        s3.get_object(Bucket=bucket, Key="nothing")
    assert code_of(key.value) == "NoSuchKey"
    with pytest.raises(ClientError) as no_bucket:
        s3.get_object(Bucket="no-such-bucket-here", Key="k")
    assert code_of(no_bucket.value) == "NoSuchBucket"
    with pytest.raises(ClientError) as head:
        s3.head_object(Bucket=bucket, Key="nothing")
    assert head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_keys_with_odd_characters(s3: S3Client, bucket: str) -> None:
    keys = [
        "a b",
        "a+b",
        "100%",
        "é/ü",
        "tab\there",
        "new\nline",
        "ret\rurn",
        "q?x=1",
        "#hash",
        "~/x",
    ]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(keys, key=lambda k: k.encode())
    v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert v1 == listed


def test_a_key_of_1025_bytes_is_refused(s3: S3Client, bucket: str) -> None:
    with pytest.raises(ClientError) as long:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert code_of(long.value) in ("KeyTooLongError", "InvalidKey")
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"x")


def test_storage_class_is_accepted_and_listed_as_standard(s3: S3Client, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="ia", Body=b"x", StorageClass="STANDARD_IA")
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert listed["StorageClass"] == "STANDARD"
    with pytest.raises(ClientError) as bad:
        s3.put_object(Bucket=bucket, Key="x", Body=b"x", StorageClass="NONSENSE")  # type: ignore[arg-type]
    assert code_of(bad.value) == "InvalidStorageClass"


def test_large_object_round_trip(s3: S3Client, bucket: str) -> None:
    data = os.urandom(12 * 1024 * 1024 + 5)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    got = s3.get_object(Bucket=bucket, Key="big")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
