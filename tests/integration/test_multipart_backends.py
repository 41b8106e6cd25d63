"""Completing a multipart upload writes no byte on any blob backend (memory, local files,
S3 through moto): the object is its parts' blobs, read one after the other."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chute.blobs import BlobStore
from chute.blobs.local import LocalBlobStore
from chute.blobs.memory import MemoryBlobStore
from chute.blobs.s3 import S3BlobStore
from chute.catalog import Catalog
from chute.objects.service import ObjectService
from tests.context import CTX
from tests.registry import registered

MIN = 4096
PARTS = [os.urandom(MIN), os.urandom(MIN + 17), os.urandom(99)]
WHOLE = b"".join(PARTS)


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore()
    elif request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
    else:
        endpoint, bucket = request.getfixturevalue("s3_bucket")
        s3 = S3BlobStore(bucket, prefix="blobs/", endpoint_url=endpoint, part_size=5 * 2**20)
        yield s3
        s3.close()


def _stored(store: BlobStore) -> set[str]:
    return {blob.blob_id for blob in store.list()}


def test_completion_writes_no_byte(
    catalog: Catalog, store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = ObjectService(
        catalog, store, "us-east-1", max_object_size=2**20, small_blob_limit=0,
        min_part_size=MIN,
    )  # fmt: skip
    service.create_bucket(CTX, "bk1")
    upload = service.create_multipart_upload(CTX, "bk1", "big.bin")
    parts = [
        service.upload_part(CTX, "bk1", "big.bin", upload.id, number, [data])
        for number, data in enumerate(PARTS, 1)
    ]
    before = _stored(store)
    assert before == {p.blob_id for p in parts}
    writes: list[tuple[Any, ...]] = []
    opened = store.open_write

    def counted(*args: Any) -> Any:
        writes.append(args)
        return opened(*args)

    monkeypatch.setattr(store, "open_write", counted)

    listed = [(p.part_number, p.etag, None) for p in parts]
    version = service.complete_multipart_upload(CTX, "bk1", "big.bin", upload.id, listed)

    assert writes == []
    assert _stored(store) == before
    assert b"".join(service.open(CTX, "bk1", "big.bin").body) == WHOLE
    across = (MIN - 7, 2 * MIN + 20)
    assert b"".join(service.read(CTX, version, across).body) == WHOLE[slice(*across)]
    start, end, count = service.part_range(CTX, version, 2)
    assert (count, b"".join(service.read(CTX, version, (start, end)).body)) == (3, PARTS[1])

    monkeypatch.undo()
    service.delete(CTX, "bk1", "big.bin")
    assert _stored(store) == set()
    assert registered(catalog) == {}


def test_abort_frees_the_parts(catalog: Catalog, store: BlobStore) -> None:
    service = ObjectService(catalog, store, "us-east-1", max_object_size=2**20, small_blob_limit=0)
    service.create_bucket(CTX, "bk1")
    upload = service.create_multipart_upload(CTX, "bk1", "big.bin")
    for number, data in enumerate(PARTS, 1):
        service.upload_part(CTX, "bk1", "big.bin", upload.id, number, [data])
    service.abort_multipart_upload(CTX, "bk1", "big.bin", upload.id)
    assert _stored(store) == set()
    assert registered(catalog) == {}
