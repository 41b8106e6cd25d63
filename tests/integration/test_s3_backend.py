"""The object service over the s3 blob backend (moto's S3 server on loopback) and a real
catalog: what a scaled-out Chute on an S3-compatible store does."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest

from chute.blobs.s3 import S3BlobStore
from chute.catalog import Catalog, Versioning
from chute.objects.service import ObjectService
from tests.context import CTX
from tests.registry import cut_off_write

PART = 5 * 2**20


@pytest.fixture
def s3_service(catalog: Catalog, s3_bucket: tuple[str, str]) -> ObjectService:
    endpoint, bucket = s3_bucket
    store = S3BlobStore(bucket, prefix="blobs/", endpoint_url=endpoint, part_size=PART)
    return ObjectService(catalog, store, "us-east-1", max_object_size=2**30, small_blob_limit=0)


def test_objects_on_s3_blobs(s3_service: ObjectService) -> None:
    s3_service.create_bucket(CTX, "media", Versioning.ENABLED)
    data = os.urandom(2 * PART + 123)  # crosses multipart part boundaries
    chunks = [data[i : i + 2**20] for i in range(0, len(data), 2**20)]
    first = s3_service.put(CTX, "media", "video.bin", iter(chunks), expected_size=len(data))
    assert first.sha256 == hashlib.sha256(data).hexdigest()
    assert first.etag == hashlib.md5(data).hexdigest()
    ranged = s3_service.open(CTX, "media", "video.bin", byte_range=(PART - 10, PART + 10))
    assert b"".join(ranged.body) == data[PART - 10 : PART + 10]

    copy = s3_service.copy(CTX, "media", "video.bin", "media", "copy.bin")
    assert copy.blob_id == first.blob_id
    s3_service.put(CTX, "media", "video.bin", [b"second"])
    assert b"".join(s3_service.open(CTX, "media", "video.bin").body) == b"second"
    assert b"".join(s3_service.open(CTX, "media", "video.bin", first.version_id).body) == data

    s3_service.delete(CTX, "media", "video.bin", first.version_id)
    assert b"".join(s3_service.open(CTX, "media", "copy.bin").body) == data  # shared blob kept
    s3_service.delete(CTX, "media", "copy.bin", copy.version_id)
    in_use = {v.blob_id for v in s3_service.detail(CTX, "media", "video.bin").versions}
    assert {b.blob_id for b in s3_service.blobs.list()} == in_use - {None}


def test_sweep_on_s3_blobs(s3_service: ObjectService) -> None:
    s3_service.create_bucket(CTX, "media")
    kept = s3_service.put(CTX, "media", "k", [b"kept"])
    orphan = cut_off_write(s3_service, b"orphan")
    report = s3_service.sweep(CTX, timedelta(0))
    assert report.orphan_blobs == 1
    assert [b.blob_id for b in s3_service.blobs.list()] == [kept.blob_id]
    assert orphan.blob_id != kept.blob_id


def test_the_sweep_never_trusts_the_stores_clock(s3_service: ObjectService) -> None:
    # moto reports every multipart upload as begun in 2010; a sweep that asked the store
    # how old an upload was would abort this one in flight. The registry says: just now.
    s3_service.create_bucket(CTX, "media")
    writer = cut_off_write(s3_service, os.urandom(PART + 1), commit=False)
    assert [b.blob_id for b in s3_service.blobs.partials()] == [writer.blob_id]
    assert s3_service.sweep(CTX, timedelta(hours=1)).orphan_blobs == 0
    assert [b.blob_id for b in s3_service.blobs.partials()] == [writer.blob_id]
    writer.commit()  # the upload was left alone: it completes
    assert s3_service.sweep(CTX, timedelta(0)).orphan_blobs == 1  # nothing references it
    assert [b.blob_id for b in s3_service.blobs.partials()] == []
    assert list(s3_service.blobs.list()) == []
