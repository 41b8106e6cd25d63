"""Reading a blob through the registry, whatever its kind: store blobs from the blob
store, inline blobs from the catalog, composite blobs segment after segment."""

from __future__ import annotations

from chute.blobs.base import BlobReader, BlobStore
from chute.blobs.composite import segment_reader
from chute.blobs.inline import inline_reader
from chute.blobs.records import BlobKind, Segment
from chute.catalog import Catalog
from chute.errors import BlobNotFound


class BlobReaders:
    """Opens blobs by registry id (the object service reads every version through it)."""

    def __init__(self, catalog: Catalog, store: BlobStore) -> None:
        self.catalog = catalog
        self.store = store

    def open(self, blob_id: str, start: int, end: int) -> BlobReader:
        """Bytes ``[start, end)`` of blob ``blob_id``; ``BlobNotFound`` before any byte
        if it is gone (so the caller can still answer with an error)."""
        with self.catalog.read() as session:
            record = session.blobs.get(blob_id)
            if record is None:
                raise BlobNotFound(f"blob {blob_id} is not registered")
            if record.kind is BlobKind.INLINE:
                data = session.blobs.data(blob_id)
                if data is None:
                    raise BlobNotFound(f"inline blob {blob_id} has no bytes")
                return inline_reader(data, start, end)
            if record.kind is BlobKind.COMPOSITE:
                segments = session.blobs.segments(blob_id)
                return segment_reader(segments, start, end, self._open_segment)
        assert record.location is not None
        return self.store.open_read(record.location, start, end)

    def segments(self, blob_id: str) -> list[Segment]:
        """A composite blob's segments, in order (none for other kinds)."""
        with self.catalog.read() as session:
            return session.blobs.segments(blob_id)

    def _open_segment(self, segment: Segment, start: int, end: int) -> BlobReader:
        return self.open(segment.blob_id, start, end)
