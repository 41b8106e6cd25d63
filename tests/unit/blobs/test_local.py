"""What only the local backend promises: paths stay under the root, files on disk, bounded
memory, and file handles released."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from chute.blobs.local import LocalBlobStore
from chute.errors import BlobNotFound

MiB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "store" / "blobs")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file next to the store that no blob id may reach."""
    path = tmp_path / "outside"
    path.write_bytes(b"not a blob")
    return path


HOSTILE_IDS = [
    "../../etc/passwd",
    "/etc/passwd",
    "ab\x00cd",
    "",
    "../../../outside",
    "0123456789abcdef0123456789abcdef/../../../../outside",
    "0123456789ABCDEF0123456789ABCDEF",
    "0123456789abcdef0123456789abcdef\n",
]


@pytest.mark.parametrize("blob_id", HOSTILE_IDS)
def test_hostile_ids_are_not_found(store: LocalBlobStore, outside: Path, blob_id: str) -> None:
    with pytest.raises(BlobNotFound):
        store.open_read(blob_id)
    with pytest.raises(BlobNotFound):
        store.size(blob_id)
    store.delete(blob_id)
    assert outside.read_bytes() == b"not a blob"


def test_absolute_path_as_id_cannot_reach_a_file(store: LocalBlobStore, outside: Path) -> None:
    with pytest.raises(BlobNotFound):
        store.open_read(str(outside))
    store.delete(str(outside))
    assert outside.exists()


def test_committed_blob_is_a_file_under_the_root(store: LocalBlobStore) -> None:
    with store.open_write() as writer:
        writer.write(b"on disk")
        info = writer.commit()
    blob_id = info.blob_id
    path = store.root / blob_id[:2] / blob_id[2:4] / blob_id
    assert path.read_bytes() == b"on disk"
    assert list(store.partial_dir.iterdir()) == []


def test_purge_removes_the_partial_file_of_that_id_only(store: LocalBlobStore) -> None:
    old, new = store.open_write(), store.open_write()
    old.write(b"abandoned long ago")
    new.write(b"still being written")
    assert {b.blob_id for b in store.partials()} == {old.blob_id, new.blob_id}
    store.purge(old.blob_id)
    assert [p.name for p in store.partial_dir.iterdir()] == [new.blob_id]
    old.abort()
    new.abort()


def test_memory_stays_bounded(store: LocalBlobStore) -> None:
    chunk = os.urandom(MiB)
    tracemalloc.start()
    try:
        with store.open_write() as writer:
            for _ in range(64):
                writer.write(chunk)
            info = writer.commit()
        digest = hashlib.sha256()
        for piece in store.open_read(info.blob_id):
            digest.update(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == 64 * MiB
    assert digest.hexdigest() == info.sha256
    assert peak < 8 * MiB


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_readers_release_their_file(store: LocalBlobStore) -> None:
    with store.open_write() as writer:
        writer.write(os.urandom(3 * MiB))
        info = writer.commit()
    before = len(os.listdir("/proc/self/fd"))
    reader = store.open_read(info.blob_id)
    assert len(os.listdir("/proc/self/fd")) == before + 1
    del reader
    assert len(os.listdir("/proc/self/fd")) == before
    started = store.open_read(info.blob_id)
    next(started)
    del started
    assert len(os.listdir("/proc/self/fd")) == before
    assert sum(map(len, store.open_read(info.blob_id))) == 3 * MiB
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_full_disk_is_storage_full(store: LocalBlobStore) -> None:
    from chute.errors import StorageFull

    writer = store.open_write()
    real = writer._file
    # /dev/full fails every write with ENOSPC, as a full disk does.
    writer._file = open("/dev/full", "wb")  # noqa: SIM115
    try:
        with pytest.raises(StorageFull) as caught:
            writer.write(b"x" * (64 * 1024))  # past the file's buffer
        assert (caught.value.status, caught.value.code) == (507, "XChuteStorageFull")
    finally:
        writer.abort()
        real.close()
    assert list(store.partials()) == []


def test_check_passes_on_a_writable_folder(store: LocalBlobStore) -> None:
    store.check()
