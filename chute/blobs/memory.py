"""Blobs in a dictionary: real code that unit tests run instead of a disk or S3.

It keeps the same contract as the other backends (it passes the conformance suite) and
shows tests what they cannot see elsewhere: :attr:`MemoryBlobStore.partial_count` tells
whether aborted writes cleaned up after themselves.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from chute.blobs.base import (
    READ_CHUNK,
    BlobReader,
    BlobStore,
    BlobWriter,
    StoredBlob,
    new_blob_id,
)
from chute.errors import BlobError, BlobNotFound


@dataclass(frozen=True, slots=True)
class _Blob:
    data: bytes
    created: datetime


class MemoryBlobStore(BlobStore):
    """Blobs held in memory, lost with the process; safe to share between threads."""

    name = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, _Blob] = {}
        self._partials: dict[str, datetime] = {}

    @property
    def partial_count(self) -> int:
        """How many writes are open: started, neither committed nor aborted nor swept."""
        with self._lock:
            return len(self._partials)

    def open_write(self, prefix: str = "") -> MemoryBlobWriter:
        blob_id = new_blob_id(prefix)
        with self._lock:
            self._partials[blob_id] = datetime.now(UTC)
        return MemoryBlobWriter(self, blob_id)

    def open_read(self, blob_id: str, start: int = 0, end: int | None = None) -> BlobReader:
        data = self._get(blob_id).data
        stop = len(data) if end is None else min(end, len(data))
        return _chunks(data, start, stop)

    def size(self, blob_id: str) -> int:
        return len(self._get(blob_id).data)

    def delete(self, blob_id: str) -> None:
        with self._lock:
            self._blobs.pop(blob_id, None)

    def list(self, prefix: str = "") -> Iterator[StoredBlob]:
        with self._lock:
            listing = [
                StoredBlob(blob_id, blob.created)
                for blob_id, blob in self._blobs.items()
                if blob_id.startswith(prefix)
            ]
        return iter(listing)

    def partials(self, prefix: str = "") -> Iterator[StoredBlob]:
        with self._lock:
            found = [
                StoredBlob(blob_id, started)
                for blob_id, started in self._partials.items()
                if blob_id.startswith(prefix)
            ]
        return iter(found)

    def purge(self, blob_id: str) -> None:
        with self._lock:
            self._blobs.pop(blob_id, None)
            self._partials.pop(blob_id, None)

    def _get(self, blob_id: str) -> _Blob:
        with self._lock:
            blob = self._blobs.get(blob_id)
        if blob is None:
            raise BlobNotFound(f"blob {blob_id} does not exist")
        return blob

    def _commit(self, blob_id: str, data: bytes) -> None:
        with self._lock:
            if self._partials.pop(blob_id, None) is None:
                raise BlobError(f"partial blob {blob_id} was swept before its commit")
            self._blobs[blob_id] = _Blob(data, datetime.now(UTC))

    def _abort(self, blob_id: str) -> None:
        with self._lock:
            self._partials.pop(blob_id, None)


class MemoryBlobWriter(BlobWriter):
    """Collects a blob's bytes; the store sees them only on commit."""

    def __init__(self, store: MemoryBlobStore, blob_id: str) -> None:
        super().__init__(blob_id)
        self._store = store
        self._buffer = bytearray()

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        self._buffer += data

    def _commit(self) -> None:
        self._store._commit(self.blob_id, bytes(self._buffer))
        self._buffer = bytearray()

    def _abort(self) -> None:
        self._store._abort(self.blob_id)
        self._buffer = bytearray()


def _chunks(data: bytes, start: int, stop: int) -> Generator[bytes, None, None]:
    for offset in range(start, stop, READ_CHUNK):
        yield data[offset : min(offset + READ_CHUNK, stop)]
