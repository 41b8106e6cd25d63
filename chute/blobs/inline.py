"""Inline blobs: small blobs whose bytes live in the catalog, in their registry row.

An inline blob is written in the same transaction as the version that references it: no
file, no extra fsync, nothing to orphan. This module is the one place that knows how
inline bytes are made and read; everything else sees a blob like any other.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime

from chute.blobs.base import READ_CHUNK, BlobInfo, BlobReader, Digests, new_blob_id
from chute.blobs.records import BlobKind, BlobRecord


def inline_info(data: bytes) -> BlobInfo:
    """A new inline blob of ``data``: a fresh id, its size and digests."""
    return Digests(data).info(new_blob_id())


def inline_record(info: BlobInfo, created: datetime) -> BlobRecord:
    """The registry row of an inline blob (its bytes go beside it)."""
    return BlobRecord(
        info.blob_id, BlobKind.INLINE, info.size, info.md5, info.sha256, None, created
    )


def inline_reader(data: bytes, start: int = 0, end: int | None = None) -> BlobReader:
    """Bytes ``[start, end)`` of an inline blob, in chunks like any blob reader."""
    stop = len(data) if end is None else min(end, len(data))
    return _chunks(data, start, stop)


def _chunks(data: bytes, start: int, stop: int) -> Generator[bytes, None, None]:
    for offset in range(start, stop, READ_CHUNK):
        yield data[offset : min(offset + READ_CHUNK, stop)]
