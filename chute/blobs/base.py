"""The blob store interface: immutable bytes, named by Chute, never by user key.

A blob is written once through a :class:`BlobWriter` (bytes streamed in, MD5 and SHA-256
computed on the way) and becomes readable only after ``commit()`` returns, at which point
it is durable. Blobs are never modified; the catalog maps (bucket, key, version) to them.
Every backend (``local``, ``memory``, ``s3``) passes one conformance suite
(``tests/unit/blobs/test_conformance.py``).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from chute.errors import BlobError

#: Size of the chunks readers yield. Big enough to amortise per-chunk overhead, small
#: enough that memory does not grow with the object size.
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What is known about a committed blob."""

    blob_id: str
    size: int
    md5: str
    sha256: str


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """One entry of a blob listing, used by the orphan sweep."""

    blob_id: str
    modified: datetime


class BlobReader(Protocol):
    """A stream of a blob's bytes that can be closed before its end (releasing the file
    or connection behind it)."""

    def __iter__(self) -> Iterator[bytes]: ...

    def __next__(self) -> bytes: ...

    def close(self) -> None: ...


def empty_reader() -> BlobReader:
    """A reader with no bytes (an empty range)."""
    nothing: tuple[bytes, ...] = ()
    return (chunk for chunk in nothing)


class BlobWriter(ABC):
    """Streams one blob's bytes in; nothing is visible until :meth:`commit`.

    Subclasses implement ``_write``, ``_commit`` and ``_abort``; this class keeps the size
    and the MD5 and SHA-256 digests as the bytes pass, so every backend hashes alike.
    Used as a context manager, a writer that was not committed is aborted on exit.
    """

    def __init__(self, blob_id: str) -> None:
        self.blob_id = blob_id
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` to the blob."""
        if self._done:
            raise BlobError("write to a blob writer that is already closed")
        self._write(data)
        self._md5.update(data)
        self._sha256.update(data)
        self.size += data.nbytes if isinstance(data, memoryview) else len(data)

    def commit(self) -> BlobInfo:
        """Make the blob durable and readable; returns its size and digests.

        A commit that fails aborts the writer: the partial blob is removed."""
        if self._done:
            raise BlobError("commit of a blob writer that is already closed")
        try:
            self._commit()
        except BaseException:
            self.abort()
            raise
        self._done = True
        return BlobInfo(self.blob_id, self.size, self._md5.hexdigest(), self._sha256.hexdigest())

    def abort(self) -> None:
        """Throw the partial blob away. Safe to call more than once."""
        if not self._done:
            self._done = True
            self._abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()

    @abstractmethod
    def _write(self, data: bytes | bytearray | memoryview) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...


class BlobStore(ABC):
    """Immutable bytes behind a small interface; one module per backend."""

    #: Backend name as written in configuration (``local``, ``memory``, ``s3``).
    name: str

    @abstractmethod
    def open_write(self) -> BlobWriter:
        """Start a new blob with a fresh, Chute-chosen id."""

    @abstractmethod
    def open_read(self, blob_id: str, start: int = 0, end: int | None = None) -> BlobReader:
        """Stream bytes ``[start, end)`` of a blob (``end=None``: to its end).

        Raises :class:`~chute.errors.BlobNotFound` at call time, before any byte is
        yielded, so a caller can still answer with an error. The reader yields chunks of at
        most :data:`READ_CHUNK` bytes; close it to release the file or connection early.
        """

    @abstractmethod
    def size(self, blob_id: str) -> int:
        """The blob's size in bytes; raises ``BlobNotFound``."""

    @abstractmethod
    def delete(self, blob_id: str) -> None:
        """Remove a blob. Deleting a missing blob is not an error."""

    @abstractmethod
    def list(self) -> Iterator[StoredBlob]:
        """Every committed blob and when it was written (for the orphan sweep)."""

    def sweep_partial(self, older_than: datetime) -> int:
        """Remove leftovers of writes that never committed, started before ``older_than``.

        Returns how many were removed. Backends without such leftovers keep this default.
        """
        return 0

    def read_all(self, blob_id: str) -> bytes:
        """The whole blob in memory: for small blobs and tests only."""
        return b"".join(self.open_read(blob_id))

    def local_path(self, blob_id: str) -> Path | None:
        """The blob's file on this machine, if the backend keeps one (read it only)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections and files."""
