"""Inputs and outputs of an attempt inside a worker process.

:class:`BlobInput` reads the source from the blob store (or from bytes that came inline
with the task, or segment after segment for a source stored in segments);
:class:`BlobSink` stages outputs with :func:`chute.blobs.stage`: durably in the blob
store under the attempt's prefix, or a small one inline so the broker puts it in the
catalog with its version.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from chute.blobs import BlobReader, BlobStore, Segment, inline_reader, stage
from chute.blobs.composite import segment_reader
from chute.jobs import SourceSegment, StagedOutput


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
    """The source object of a task: one blob, inline bytes, or ``segments`` read one
    after the other (a completed multipart upload), never a byte copied ahead."""

    def __init__(
        self,
        blobs: BlobStore,
        blob_id: str | None,
        inline: bytes | None,
        segments: Sequence[SourceSegment] = (),
    ) -> None:
        self.blobs = blobs
        self.blob_id = blob_id
        self.inline = inline
        self.segments = {segment.blob_id: segment for segment in segments}
        self._order = [Segment(segment.blob_id, segment.size) for segment in segments]

    def open(self) -> IO[bytes]:
        if self._order:
            size = sum(segment.size for segment in self._order)
            reader = segment_reader(self._order, 0, size, self._open_segment)
        elif self.inline is not None or self.blob_id is None:
            return io.BytesIO(self.inline or b"")
        else:
            reader = self.blobs.open_read(self.blob_id)
        return io.BufferedReader(ReaderStream(reader), buffer_size=1024 * 1024)

    def path(self) -> Path | None:
        if self._order or self.inline is not None or self.blob_id is None:
            return None
        return self.blobs.local_path(self.blob_id)

    def _open_segment(self, segment: Segment, start: int, end: int) -> BlobReader:
        found = self.segments[segment.blob_id]
        if found.inline is not None or found.location is None:
            return inline_reader(found.inline or b"", start, end)
        return self.blobs.open_read(found.location, start, end)


class BlobSink:
    """Stages one attempt's outputs: up to ``inline_limit`` bytes inline, larger ones as
    blobs whose ids start with the attempt's ``prefix``."""

    def __init__(self, blobs: BlobStore, inline_limit: int, prefix: str) -> None:
        self.blobs = blobs
        self.inline_limit = inline_limit
        self.prefix = prefix

    def write(
        self, key: str, content_type: str, chunks: Iterable[bytes], metadata: dict[str, str]
    ) -> StagedOutput:
        staged = stage(chunks, self.blobs, self.inline_limit, prefix=self.prefix)
        info = staged.info
        blob_id = None if staged.inline is not None else info.blob_id
        return StagedOutput(
            key, content_type, info.size, info.md5, info.sha256, blob_id, staged.inline, metadata
        )

    def discard(self, outputs: list[StagedOutput]) -> None:
        for output in outputs:
            if output.blob_id is not None:
                self.blobs.delete(output.blob_id)
