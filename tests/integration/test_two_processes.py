"""Two Chute processes on one catalog (two ``Catalog`` objects, each with its own
committer and connections): concurrent writes to the same keys neither deadlock nor
leave anything inconsistent, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import hashlib
from concurrent.futures import ThreadPoolExecutor

from chute.blobs.memory import MemoryBlobStore
from chute.catalog import Catalog, Versioning
from chute.errors import NoSuchKey
from chute.objects.service import ObjectService
from tests.context import CTX

KEYS = ["k0", "k1"]


def test_two_processes_hammer_the_same_keys(
    service: ObjectService, catalog_url: str, blobs: MemoryBlobStore
) -> None:
    other = Catalog(catalog_url)
    services = [service, ObjectService(other, blobs, "eu-west-1", 2**20)]
    service.create_bucket(CTX, "shared", Versioning.ENABLED)

    def work(i: int) -> None:
        chosen = services[i % 2]
        key = KEYS[(i // 2) % 2]
        if i % 7 == 0:
            chosen.delete(CTX, "shared", key)
        elif i % 11 == 0:
            # The source may be a delete marker just now: NoSuchKey, as in S3.
            with contextlib.suppress(NoSuchKey):
                chosen.copy(CTX, "shared", KEYS[0], "shared", f"copy-{i}")
        else:
            chosen.put(CTX, "shared", key, [f"payload {i}".encode()])

    service.put(CTX, "shared", KEYS[0], [b"seed"])
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(400)))
    other.close()

    for key in KEYS:
        versions = service.detail(CTX, "shared", key).versions
        assert [v.is_latest for v in versions].count(True) == 1
        for version in versions:
            if not version.is_delete_marker:
                data = b"".join(service.open(CTX, "shared", key, version.version_id).body)
                assert hashlib.sha256(data).hexdigest() == version.sha256
    listed = service.list_objects(CTX, "shared").objects
    for version in listed:
        assert b"".join(service.open(CTX, "shared", version.key).body)  # every blob readable
