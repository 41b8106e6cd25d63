"""What an attempt reads: a source in one blob, inline, or in segments."""

from __future__ import annotations

from chute.blobs.memory import MemoryBlobStore
from chute.jobs import SourceSegment
from chute.worker.staging import BlobInput


def _stored(store: MemoryBlobStore, data: bytes) -> str:
    with store.open_write() as writer:
        writer.write(data)
        return writer.commit().blob_id


def test_a_source_in_segments_reads_as_one() -> None:
    store = MemoryBlobStore()
    first, second = _stored(store, b"x" * 3_000_000), _stored(store, b"middle")
    segments = [
        SourceSegment(first, 3_000_000, first),
        SourceSegment("inline-1", 4, None, b"tail"),
        SourceSegment(second, 6, second),
    ]
    source = BlobInput(store, None, None, segments)
    assert source.path() is None
    with source.open() as stream:
        assert stream.read(5) == b"xxxxx"
        assert stream.read() == b"x" * (3_000_000 - 5) + b"tailmiddle"


def test_one_blob_or_inline() -> None:
    store = MemoryBlobStore()
    blob_id = _stored(store, b"stored")
    with BlobInput(store, blob_id, None).open() as stream:
        assert stream.read() == b"stored"
    with BlobInput(store, None, b"inline").open() as stream:
        assert stream.read() == b"inline"
