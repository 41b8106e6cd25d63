"""Reading a blob through the registry, whatever its kind: store blobs from the blob
store, inline blobs from the catalog, composite blobs segment after segment."""

from __future__ import annotations

from collections.abc import Generator

from chute.blobs.base import BlobReader, BlobStore, empty_reader
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
                return self._composite(segments, start, end)
        assert record.location is not None
        return self.store.open_read(record.location, start, end)

    def _composite(self, segments: list[Segment], start: int, end: int) -> BlobReader:
        """The segments overlapping ``[start, end)``, each opened when reached; the first
        is opened at once, so a missing one fails before any byte."""
        pieces: list[tuple[str, int, int]] = []
        offset = 0
        for segment in segments:
            low, high = max(start, offset), min(end, offset + segment.size)
            if low < high:
                pieces.append((segment.blob_id, low - offset, high - offset))
            offset += segment.size
        if not pieces:
            return empty_reader()
        first = self.open(*pieces[0])
        return _chain(self, first, pieces[1:])


def _chain(
    readers: BlobReaders, first: BlobReader, rest: list[tuple[str, int, int]]
) -> Generator[bytes, None, None]:
    current = first
    try:
        yield from current
        for piece in rest:
            current = readers.open(*piece)
            yield from current
    finally:
        current.close()
