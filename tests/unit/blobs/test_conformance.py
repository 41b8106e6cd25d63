"""The contract every blob backend keeps: each test runs on memory, local files and S3."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

import pytest

from chute.blobs import READ_CHUNK, BlobInfo, BlobStore, BlobWriter
from chute.blobs.local import LocalBlobStore
from chute.blobs.memory import MemoryBlobStore
from chute.blobs.s3 import S3BlobStore
from chute.errors import BlobError, BlobNotFound

MiB = 1024 * 1024
#: S3's smallest part: small enough to cross parts quickly, the same for every backend.
PART_SIZE = 5 * MiB
#: Before moto's fixed multipart "Initiated" time (2010), after any real write.
PAST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)

#: How many writes a backend holds that were neither committed nor aborted.
PartialCount = Callable[[], int]


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


class _Boom(Exception):
    pass


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    """An empty store of each backend in turn."""
    store = _open_store(request.param, request, tmp_path)
    yield store
    store.close()


@pytest.fixture
def partials(store: BlobStore, request: pytest.FixtureRequest) -> Iterator[PartialCount]:
    """Counts what the backend keeps of unfinished writes, seen from outside the store."""
    if isinstance(store, MemoryBlobStore):
        yield lambda: store.partial_count
    elif isinstance(store, LocalBlobStore):
        yield lambda: len(list(store.partial_dir.iterdir()))
    else:
        yield from _s3_uploads(*request.getfixturevalue("s3_bucket"))


def _open_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if backend == "memory":
        return MemoryBlobStore()
    if backend == "local":
        return LocalBlobStore(tmp_path / "blobs")
    endpoint, bucket = request.getfixturevalue("s3_bucket")
    return S3BlobStore(bucket, prefix="blobs/", endpoint_url=endpoint, part_size=PART_SIZE)


def _s3_uploads(endpoint: str, bucket: str) -> Iterator[PartialCount]:
    import boto3

    client = boto3.session.Session().client("s3", endpoint_url=endpoint)
    yield lambda: len(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
    client.close()


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 1_000_003 + size).randbytes(size)


def put(store: BlobStore, data: bytes, chunk: int = MiB + 7) -> BlobInfo:
    """Store ``data`` written in ``chunk``-sized pieces (odd, so writes straddle parts)."""
    with store.open_write() as writer:
        for offset in range(0, len(data), chunk):
            writer.write(data[offset : offset + chunk])
        return writer.commit()


def start_partial(store: BlobStore) -> BlobWriter:
    """A write left open after more than one part, so every backend holds a leftover."""
    writer = store.open_write()
    writer.write(payload(PART_SIZE))
    writer.write(b"x")
    return writer


def blob_ids(store: BlobStore) -> set[str]:
    return {blob.blob_id for blob in store.list()}


@pytest.mark.parametrize(
    "size",
    [0, 1, 1000, PART_SIZE, PART_SIZE + 1, 2 * PART_SIZE + 12345],
    ids=["empty", "one-byte", "small", "one-part", "part-plus-one", "several-parts"],
)
def test_round_trip(store: BlobStore, size: int) -> None:
    data = payload(size)
    info = put(store, data)
    assert (info.size, info.md5, info.sha256) == (
        size,
        hashlib.md5(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )
    chunks = list(store.open_read(info.blob_id))
    assert all(0 < len(chunk) <= READ_CHUNK for chunk in chunks)
    assert b"".join(chunks) == data
    assert store.size(info.blob_id) == size


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (100, None),
        (10, 20),
        (0, 1),
        (READ_CHUNK - 1, READ_CHUNK + 1),
        (5, 2 * READ_CHUNK + 5),
        (3 * READ_CHUNK - 5, 3 * READ_CHUNK + 1000),
        (3 * READ_CHUNK + 100, None),
        (3 * READ_CHUNK + 100, 3 * READ_CHUNK + 200),
        (42, 42),
    ],
    ids=[
        "start-only",
        "start-end",
        "first-byte",
        "across-chunks",
        "two-chunks",
        "end-past-size",
        "start-at-size",
        "start-past-size",
        "empty-range",
    ],
)
def test_ranged_read(store: BlobStore, start: int, end: int | None) -> None:
    data = payload(3 * READ_CHUNK + 100)
    info = put(store, data)
    chunks = list(store.open_read(info.blob_id, start, end))
    assert all(0 < len(chunk) <= READ_CHUNK for chunk in chunks)
    assert b"".join(chunks) == data[start:end]


@pytest.mark.parametrize("end", [None, 10, 0])
def test_unknown_blob_fails_at_call_time(store: BlobStore, end: int | None) -> None:
    missing = uuid.uuid4().hex
    with pytest.raises(BlobNotFound):
        store.open_read(missing, 0, end)
    with pytest.raises(BlobNotFound):
        store.size(missing)


def test_reader_closed_early_stops(store: BlobStore) -> None:
    info = put(store, payload(3 * READ_CHUNK))
    reader = store.open_read(info.blob_id)
    assert len(next(reader)) == READ_CHUNK
    assert isinstance(reader, _Closable)
    reader.close()
    assert list(reader) == []
    unread = store.open_read(info.blob_id)
    assert isinstance(unread, _Closable)
    unread.close()


def test_abort_leaves_nothing(store: BlobStore, partials: PartialCount) -> None:
    writer = start_partial(store)
    assert partials() == 1
    writer.abort()
    writer.abort()
    assert partials() == 0
    assert blob_ids(store) == set()
    with pytest.raises(BlobNotFound):
        store.open_read(writer.blob_id)


def test_exception_inside_with_block_aborts(store: BlobStore, partials: PartialCount) -> None:
    writer = store.open_write()
    with pytest.raises(_Boom):
        _write_then_fail(writer)
    assert partials() == 0
    assert blob_ids(store) == set()
    with pytest.raises(BlobNotFound):
        store.size(writer.blob_id)


def _write_then_fail(writer: BlobWriter) -> None:
    with writer:
        writer.write(payload(PART_SIZE + 1))
        writer.write(b"more")
        raise _Boom


def test_with_block_without_commit_aborts(store: BlobStore, partials: PartialCount) -> None:
    with store.open_write() as writer:
        writer.write(b"never committed")
    assert partials() == 0
    with pytest.raises(BlobNotFound):
        store.open_read(writer.blob_id)


def test_closed_writer_refuses_more(store: BlobStore) -> None:
    with store.open_write() as writer:
        writer.write(b"done")
        info = writer.commit()
    with pytest.raises(BlobError):
        writer.write(b"late")
    with pytest.raises(BlobError):
        writer.commit()
    assert store.read_all(info.blob_id) == b"done"
    aborted = store.open_write()
    aborted.abort()
    with pytest.raises(BlobError):
        aborted.write(b"late")


def test_delete_is_idempotent(store: BlobStore) -> None:
    gone = put(store, b"delete me")
    kept = put(store, b"keep me")
    store.delete(gone.blob_id)
    store.delete(gone.blob_id)
    store.delete(uuid.uuid4().hex)
    with pytest.raises(BlobNotFound):
        store.open_read(gone.blob_id)
    assert store.read_all(kept.blob_id) == b"keep me"
    assert blob_ids(store) == {kept.blob_id}


def test_list_returns_committed_blobs(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    committed = {put(store, payload(100, seed)).blob_id for seed in range(3)}
    deleted = put(store, b"deleted").blob_id
    store.delete(deleted)
    with store.open_write() as open_writer:
        open_writer.write(b"not committed")
        listing = list(store.list())
    after = datetime.now(UTC) + timedelta(seconds=2)
    assert {blob.blob_id for blob in listing} == committed
    assert all(blob.modified.utcoffset() == timedelta(0) for blob in listing)
    assert all(before <= blob.modified <= after for blob in listing)


def test_purge_removes_an_unfinished_write_and_nothing_else(
    store: BlobStore, partials: PartialCount
) -> None:
    kept = put(store, b"committed blobs are not partial")
    abandoned = start_partial(store)
    other = start_partial(store)
    assert partials() == 2
    store.purge(abandoned.blob_id)
    assert partials() == 1
    with pytest.raises(BlobError):
        abandoned.commit()
    abandoned.abort()
    store.purge(kept.blob_id)  # a committed blob goes too
    assert blob_ids(store) == set()
    store.purge(uuid.uuid4().hex)  # purging what never existed is not an error
    other.abort()
    assert partials() == 0


def test_a_prefix_selects_an_attempts_blobs(store: BlobStore) -> None:
    prefix = "0123456789abcdef"
    mine = []
    for data in (b"one", b"two"):
        with store.open_write(prefix) as writer:
            writer.write(data)
            mine.append(writer.commit().blob_id)
    other = put(store, b"someone else's")
    assert all(blob_id.startswith(prefix) and len(blob_id) == 32 for blob_id in mine)
    assert {blob.blob_id for blob in store.list(prefix)} == set(mine)
    assert other.blob_id in blob_ids(store)
    with store.open_write(prefix) as unfinished:
        unfinished.write(b"half")
        found = {blob.blob_id for blob in store.partials(prefix)}
        # a backend whose writes leave nothing behind reports no partials at all
        assert found in ({unfinished.blob_id}, set())
        assert not set(store.partials("fedcba9876543210"))
    with pytest.raises(BlobError):
        store.open_write("not hex!")


def test_every_writer_gets_a_new_id(store: BlobStore) -> None:
    ids = set()
    for _ in range(50):
        with store.open_write() as writer:
            ids.add(writer.blob_id)
    assert len(ids) == 50


def test_concurrent_writers(store: BlobStore) -> None:
    sources = [payload(300_000 * (n + 1), seed=n) for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        infos = list(pool.map(lambda data: put(store, data, chunk=64 * 1024), sources))
    assert len({info.blob_id for info in infos}) == 8
    for info, data in zip(infos, sources, strict=True):
        assert info.md5 == hashlib.md5(data).hexdigest()
        assert store.read_all(info.blob_id) == data
    assert blob_ids(store) == {info.blob_id for info in infos}
