"""Small objects are inline blobs, their bytes in the catalog (SQLite and PostgreSQL): same
semantics as store blobs, written and freed in the transaction of their version."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from chute.blobs import BlobKind
from chute.blobs.memory import MemoryBlobStore
from chute.catalog import Catalog, Versioning
from chute.errors import IncompleteBody, NoSuchBucket
from chute.objects.service import ObjectService
from tests.context import CTX
from tests.registry import kind_of, registered, unreferenced

LIMIT = 1024


@pytest.fixture
def small(catalog: Catalog, blobs: MemoryBlobStore) -> ObjectService:
    return ObjectService(catalog, blobs, "eu-west-1", 2**20, small_blob_limit=LIMIT)


def rows(catalog: Catalog) -> int:
    return len(registered(catalog, BlobKind.INLINE))


def read(
    service: ObjectService,
    key: str,
    version_id: str | None = None,
    rng: tuple[int, int] | None = None,
) -> bytes:
    return b"".join(service.open(CTX, "bk1", key, version_id, rng).body)


def test_small_and_large_objects(
    small: ObjectService, blobs: MemoryBlobStore, catalog: Catalog
) -> None:
    small.create_bucket(CTX, "bk1")
    tiny = small.put(CTX, "bk1", "tiny", [b"a" * 600, b"b" * 424])  # exactly the limit
    big = small.put(CTX, "bk1", "big", [b"c" * 600, b"d" * 600])
    assert kind_of(catalog, tiny.blob_id) is BlobKind.INLINE
    assert kind_of(catalog, big.blob_id) is BlobKind.STORE
    assert tiny.sha256 == hashlib.sha256(b"a" * 600 + b"b" * 424).hexdigest()
    assert tiny.etag == hashlib.md5(b"a" * 600 + b"b" * 424).hexdigest()
    assert read(small, "tiny") == b"a" * 600 + b"b" * 424
    assert read(small, "tiny", rng=(598, 602)) == b"aabb"
    assert read(small, "big") == b"c" * 600 + b"d" * 600
    assert [b.blob_id for b in blobs.list()] == [big.blob_id]
    assert rows(catalog) == 1
    empty = small.put(CTX, "bk1", "empty", [])
    assert (empty.size, read(small, "empty")) == (0, b"")


def test_small_blobs_are_freed_with_their_last_version(
    small: ObjectService, catalog: Catalog
) -> None:
    small.create_bucket(CTX, "bk1", Versioning.ENABLED)
    v1 = small.put(CTX, "bk1", "k", [b"one"])
    small.copy(CTX, "bk1", "k", "bk1", "copy")
    small.put(CTX, "bk1", "k", [b"two"])
    assert rows(catalog) == 2  # the copy shares v1's bytes
    small.delete(CTX, "bk1", "k", v1.version_id)
    assert read(small, "copy") == b"one"
    assert rows(catalog) == 2
    small.delete(CTX, "bk1", "copy", small.head(CTX, "bk1", "copy").version_id)
    assert rows(catalog) == 1
    small.set_versioning(CTX, "bk1", Versioning.SUSPENDED)
    small.put(CTX, "bk1", "n", [b"null one"])
    small.put(CTX, "bk1", "n", [b"null two"])
    assert read(small, "n") == b"null two"
    assert rows(catalog) == 2  # the replaced null version's bytes went with it
    assert unreferenced(catalog) == set()
    assert small.sweep(CTX, timedelta(0)).orphan_blobs == 0


def test_refused_small_writes_leave_nothing(small: ObjectService, catalog: Catalog) -> None:
    with pytest.raises(NoSuchBucket):
        small.put(CTX, "nope", "k", [b"x"])
    small.create_bucket(CTX, "bk1")
    with pytest.raises(IncompleteBody):
        small.put(CTX, "bk1", "k", [b"x" * 10], expected_size=11)
    assert rows(catalog) == 0
    assert registered(catalog) == {}
    assert small.events(CTX) == []


def test_limit_zero_keeps_everything_in_the_blob_store(
    catalog: Catalog, blobs: MemoryBlobStore
) -> None:
    service = ObjectService(catalog, blobs, "eu-west-1", 2**20, small_blob_limit=0)
    service.create_bucket(CTX, "bk1")
    empty = service.put(CTX, "bk1", "empty", [])
    assert kind_of(catalog, empty.blob_id) is BlobKind.STORE
    assert rows(catalog) == 0
    assert [b.blob_id for b in blobs.list()] == [empty.blob_id]
