"""Concurrent writers on SQLite and PostgreSQL: last writer wins, nothing inconsistent."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from chute.blobs.memory import MemoryBlobStore
from chute.catalog import Versioning
from chute.objects.service import ObjectService
from tests.context import CTX

WRITERS = 32


def _write_all(service: ObjectService) -> list[str]:
    payloads = [f"writer {i} ".encode() * (100 + i) for i in range(WRITERS)]
    with ThreadPoolExecutor(WRITERS) as pool:
        versions = list(pool.map(lambda p: service.put(CTX, "bk1", "same", [p]), payloads))
    return [v.version_id for v in versions]


@pytest.mark.parametrize("versioning", [Versioning.UNVERSIONED, Versioning.ENABLED])
def test_32_writers_same_key(
    service: ObjectService, blobs: MemoryBlobStore, versioning: Versioning
) -> None:
    service.create_bucket(CTX, "bk1", versioning)
    _write_all(service)
    detail = service.detail(CTX, "bk1", "same")
    expected_versions = WRITERS if versioning is Versioning.ENABLED else 1
    assert len(detail.versions) == expected_versions
    assert [v.is_latest for v in detail.versions].count(True) == 1
    assert detail.versions[0].is_latest  # the newest is the latest: last writer wins
    for version in detail.versions:
        data = b"".join(service.open(CTX, "bk1", "same", version.version_id).body)
        assert hashlib.sha256(data).hexdigest() == version.sha256
        assert hashlib.md5(data).hexdigest() == version.etag
    assert len(detail.events) == WRITERS
    # The winner's event is the last one, and no blob is left without a version.
    assert detail.events[-1].etag == detail.versions[0].etag
    assert {b.blob_id for b in blobs.list()} == {v.blob_id for v in detail.versions}
