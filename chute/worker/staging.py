"""Inputs and outputs of an attempt inside a worker process.

:class:`BlobInput` reads the source from the blob store (or from bytes that came inline
with the task); :class:`BlobSink` stages outputs durably in the blob store, or keeps a
small one inline so the pool can put it in the catalog with its version.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from chute.blobs import BlobReader, BlobStore
from chute.jobs import StagedOutput


class ReaderStream(io.RawIOBase):
    """A blob reader (an iterator of chunks) as a readable binary file."""

    def __init__(self, reader: BlobReader) -> None:
        self._reader = reader
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            self._pending = next(self._reader, b"")
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


class BlobInput:
    """The source object of a task."""

    def __init__(self, blobs: BlobStore, blob_id: str | None, inline: bytes | None) -> None:
        self.blobs = blobs
        self.blob_id = blob_id
        self.inline = inline

    def open(self) -> IO[bytes]:
        if self.inline is not None or self.blob_id is None:
            return io.BytesIO(self.inline or b"")
        raw = ReaderStream(self.blobs.open_read(self.blob_id))
        return io.BufferedReader(raw, buffer_size=1024 * 1024)

    def path(self) -> Path | None:
        if self.inline is not None or self.blob_id is None:
            return None
        return self.blobs.local_path(self.blob_id)


class BlobSink:
    """Stages outputs: up to ``small_limit`` bytes inline, larger ones as blobs."""

    def __init__(self, blobs: BlobStore, small_limit: int) -> None:
        self.blobs = blobs
        self.small_limit = small_limit

    def write(
        self, key: str, content_type: str, chunks: Iterable[bytes], metadata: dict[str, str]
    ) -> StagedOutput:
        stream = iter(chunks)
        head, complete = _take(stream, self.small_limit)
        if complete:
            data = b"".join(head)
            md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
            sha256 = hashlib.sha256(data).hexdigest()
            return StagedOutput(key, content_type, len(data), md5, sha256, None, data, metadata)
        with self.blobs.open_write() as writer:
            for chunk in head:
                writer.write(chunk)
            for chunk in stream:
                writer.write(chunk)
            info = writer.commit()
        return StagedOutput(
            key, content_type, info.size, info.md5, info.sha256, info.blob_id, None, metadata
        )

    def discard(self, outputs: list[StagedOutput]) -> None:
        for output in outputs:
            if output.blob_id is not None:
                self.blobs.delete(output.blob_id)


def _take(stream: Iterator[bytes], limit: int) -> tuple[list[bytes], bool]:
    """Chunks from ``stream`` until more than ``limit`` bytes; whether it ended first."""
    taken: list[bytes] = []
    size = 0
    if limit <= 0:
        return taken, False
    for chunk in stream:
        taken.append(chunk)
        size += len(chunk)
        if size > limit:
            return taken, False
    return taken, True
