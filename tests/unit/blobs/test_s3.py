"""What only the S3 backend promises: a writer holds about one part in memory, and keys
that are not Chute's blobs are left alone even under Chute's prefix."""

from __future__ import annotations

import multiprocessing
import os
import socket
import sys
import tracemalloc
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import boto3
import pytest
from mypy_boto3_s3 import S3Client

from chute.blobs.s3 import S3BlobStore
from chute.errors import MissingDependency

MiB = 1024 * 1024
PART_SIZE = 5 * MiB
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def client(s3_bucket: tuple[str, str]) -> Iterator[S3Client]:
    client = boto3.session.Session().client("s3", endpoint_url=s3_bucket[0])
    yield client
    client.close()


def peak_while_writing(endpoint: str, bucket: str, size: int) -> int:
    """Write ``size`` bytes in 1 MiB chunks; returns the traced memory peak in bytes."""
    store = S3BlobStore(bucket, endpoint_url=endpoint, part_size=PART_SIZE)
    chunk = os.urandom(MiB)
    tracemalloc.start()
    try:
        with store.open_write() as writer:
            for _ in range(size // MiB):
                writer.write(chunk)
            assert writer.commit().size == size
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        store.close()


def test_writer_memory_stays_bounded(s3_bucket: tuple[str, str]) -> None:
    # moto runs in this process and keeps every byte it receives; measure the writer in
    # a process of its own.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        peak = pool.submit(peak_while_writing, *s3_bucket, 32 * MiB).result()
    # Two parts (the one filling, the one sending) and a chunk in flight; 32 MiB written.
    assert peak < 2 * PART_SIZE + MiB


def test_foreign_keys_are_left_alone(s3_bucket: tuple[str, str], client: S3Client) -> None:
    endpoint, bucket = s3_bucket
    store = S3BlobStore(bucket, prefix="blobs/", endpoint_url=endpoint, part_size=PART_SIZE)
    foreign_id = uuid.uuid4().hex
    for key in ["blobs/readme.txt", f"blobs/x/{foreign_id}", foreign_id]:
        client.put_object(Bucket=bucket, Key=key, Body=b"not a blob")
    client.create_multipart_upload(Bucket=bucket, Key="blobs/upload-of-someone-else")
    with store.open_write() as writer:
        writer.write(b"a blob")
        ours = writer.commit().blob_id
    assert [blob.blob_id for blob in store.list()] == [ours]
    assert list(store.partials()) == []
    store.purge(ours)
    assert len(client.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 1
    store.close()


def test_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingDependency, match=r"chute\[s3\]"):
        S3BlobStore("bucket")


def test_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="part_size"):
        S3BlobStore("bucket", part_size=PART_SIZE - 1)


def test_a_store_that_cannot_be_reached_is_unavailable() -> None:
    from chute.errors import BlobStoreUnavailable

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"http://127.0.0.1:{port}"
    # One attempt: retries of a refused connection only add backoff.
    store = S3BlobStore(
        "bucket", endpoint_url=address, access_key_id="k", secret_access_key="s", max_attempts=1
    )
    try:
        with pytest.raises(BlobStoreUnavailable) as caught:
            store.check()
        assert (caught.value.status, caught.value.retry_after) == (503, 2)
        assert str(port) not in caught.value.message  # the address stays in the log
        with pytest.raises(BlobStoreUnavailable):
            store.size("0" * 32)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [("SlowDown", 503, "BlobStoreUnavailable"), ("XMinioStorageFull", 507, "StorageFull")],
)
def test_busy_or_full_answers_are_told_apart(code: str, status: int, error: str) -> None:
    from botocore.stub import Stubber

    from chute import errors

    store = S3BlobStore(
        "bucket", endpoint_url="http://127.0.0.1:9", access_key_id="k", secret_access_key="s"
    )
    with Stubber(store._client) as stub:
        stub.add_client_error("head_object", service_error_code=code, http_status_code=status)
        with pytest.raises(getattr(errors, error)):
            store.size("0" * 32)
    store.close()
