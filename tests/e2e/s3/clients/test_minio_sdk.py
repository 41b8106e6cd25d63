"""The MinIO Python SDK, which many self-hosted tools embed: buckets, streamed puts of
unknown length (multipart), stats with metadata, listings, copies, batch deletes,
versioning, presigned URLs and the errors it raises."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from mypy_boto3_s3 import S3Client

from tests.e2e.conftest import LiveServer
from tests.e2e.s3.clients.conftest import LARGE, MiB, library
from tests.e2e.s3.conftest import REGION, server_credentials


@pytest.fixture
def minio(server: LiveServer) -> Any:
    sdk = library("minio")
    access_key, secret_key = server_credentials(server)
    return sdk.Minio(
        urlsplit(server.url).netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=False,
        region=REGION,
    )


def test_put_stat_get_and_list(minio: Any, s3: S3Client, bucket_name: str) -> None:
    minio.make_bucket(bucket_name)
    assert minio.bucket_exists(bucket_name)
    minio.put_object(
        bucket_name, "docs/readme.md", io.BytesIO(b"# hi"), 4,
        content_type="text/markdown", metadata={"owner": "team-a"},
    )  # fmt: skip
    data = bytes(range(256)) * (LARGE // 256)
    # Unknown length: the SDK uploads part by part.
    minio.put_object(bucket_name, "big.bin", io.BytesIO(data), -1, part_size=5 * MiB)

    stat = minio.stat_object(bucket_name, "docs/readme.md")
    assert (stat.size, stat.content_type) == (4, "text/markdown")
    assert stat.metadata["x-amz-meta-owner"] == "team-a"
    assert s3.head_object(Bucket=bucket_name, Key="big.bin")["ETag"].endswith('-3"')
    answer = minio.get_object(bucket_name, "big.bin")
    try:
        assert answer.read() == data
    finally:
        answer.close()
        answer.release_conn()
    ranged = minio.get_object(bucket_name, "big.bin", offset=MiB, length=10)
    try:
        assert ranged.read() == data[MiB : MiB + 10]
    finally:
        ranged.close()
        ranged.release_conn()

    top = [(o.object_name, o.is_dir) for o in minio.list_objects(bucket_name)]
    assert top == [("big.bin", False), ("docs/", True)]
    every = [o.object_name for o in minio.list_objects(bucket_name, recursive=True)]
    assert every == ["big.bin", "docs/readme.md"]
    v1 = [o.object_name for o in minio.list_objects(bucket_name, use_api_v1=True, recursive=True)]
    assert v1 == every


def test_copy_and_batch_delete(minio: Any, s3: S3Client, bucket_name: str) -> None:
    from minio.commonconfig import CopySource
    from minio.deleteobjects import DeleteObject

    minio.make_bucket(bucket_name)
    for index in range(30):
        minio.put_object(bucket_name, f"k/{index:02}", io.BytesIO(b"v"), 1)
    minio.copy_object(bucket_name, "copied", CopySource(bucket_name, "k/07"))
    assert s3.get_object(Bucket=bucket_name, Key="copied")["Body"].read() == b"v"
    errors = list(minio.remove_objects(bucket_name, [DeleteObject(f"k/{i:02}") for i in range(30)]))
    assert errors == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket_name)["Contents"]] == ["copied"]


def test_versioning_and_presigned_urls(minio: Any, bucket_name: str) -> None:
    from minio.commonconfig import ENABLED
    from minio.versioningconfig import VersioningConfig

    minio.make_bucket(bucket_name)
    minio.set_bucket_versioning(bucket_name, VersioningConfig(ENABLED))
    assert minio.get_bucket_versioning(bucket_name).status == ENABLED
    first = minio.put_object(bucket_name, "v.txt", io.BytesIO(b"one"), 3)
    minio.put_object(bucket_name, "v.txt", io.BytesIO(b"two"), 3)
    versions = list(minio.list_objects(bucket_name, include_version=True))
    assert len(versions) == 2
    old = minio.get_object(bucket_name, "v.txt", version_id=first.version_id)
    try:
        assert old.read() == b"one"
    finally:
        old.close()
        old.release_conn()

    url = minio.presigned_get_object(bucket_name, "v.txt")
    assert httpx.get(url).content == b"two"
    upload = minio.presigned_put_object(bucket_name, "via-url.txt")
    assert httpx.put(upload, content=b"put through a URL").status_code == 200
    assert minio.stat_object(bucket_name, "via-url.txt").size == len(b"put through a URL")


def test_errors_are_s3_errors(minio: Any, bucket_name: str) -> None:
    from minio.error import S3Error

    with pytest.raises(S3Error) as missing_bucket:
        minio.stat_object(bucket_name, "x")
    assert missing_bucket.value.code in {"NoSuchBucket", "NoSuchKey"}
    minio.make_bucket(bucket_name)
    with pytest.raises(S3Error) as missing_key:
        minio.get_object(bucket_name, "nothing")
    assert missing_key.value.code == "NoSuchKey"
    with pytest.raises(S3Error) as taken:
        minio.make_bucket(bucket_name)
    assert taken.value.code == "BucketAlreadyOwnedByYou"
