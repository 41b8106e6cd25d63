"""The blob store interface: immutable bytes, named by Chute, never by user key.

A blob is written once through a :class:`BlobWriter` (bytes streamed in, MD5 and SHA-256
computed on the way) and becomes readable only after ``commit()`` returns, at which point
it is durable. Blobs are never modified; the catalog maps (bucket, key, version) to them.
Every backend (``local``, ``memory``, ``s3``) passes one conformance suite
(``tests/unit/blobs/test_conformance.py``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from chute.errors import BlobError

#: Blob ids are 32 lowercase hex digits: only ids of this form map to files or keys, so
#: no id can name anything outside the store.
BLOB_ID_LENGTH = 32
_BLOB_ID = re.compile(r"[0-9a-f]{32}")
#: Longest id prefix a caller may choose (the rest stays random).
MAX_PREFIX = 16

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


class Digests:
    """The size, MD5 and SHA-256 of bytes as they pass: every place that takes bytes in
    (blob writers, inline blobs, in-memory outputs) hashes through this one class."""

    __slots__ = ("_md5", "_sha256", "size")

    def __init__(self, data: bytes = b"") -> None:
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        if data:
            self.update(data)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._md5.update(data)
        self._sha256.update(data)
        self.size += data.nbytes if isinstance(data, memoryview) else len(data)

    def info(self, blob_id: str) -> BlobInfo:
        """What is known of the bytes seen so far, as blob ``blob_id``."""
        return BlobInfo(blob_id, self.size, self._md5.hexdigest(), self._sha256.hexdigest())


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
        self._digests = Digests()
        self._done = False

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._digests.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` to the blob."""
        if self._done:
            raise BlobError("write to a blob writer that is already closed")
        self._write(data)
        self._digests.update(data)

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
        return self._digests.info(self.blob_id)

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
    def open_write(self, prefix: str = "") -> BlobWriter:
        """Start a new blob with a fresh, Chute-chosen id that starts with ``prefix``
        (see :func:`new_blob_id`)."""

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
    def list(self, prefix: str = "") -> Iterator[StoredBlob]:
        """Every committed blob whose id starts with ``prefix``, and when it was written."""

    def partials(self, prefix: str = "") -> Iterator[StoredBlob]:
        """Writes begun and neither committed nor aborted (a writer that died) whose ids
        start with ``prefix``, and when they began as the store tells it. Backends whose
        writes leave nothing behind keep this."""
        return iter(())

    def purge(self, blob_id: str) -> None:
        """Remove a blob and whatever an unfinished write of it left (for the sweep)."""
        self.delete(blob_id)

    def read_all(self, blob_id: str) -> bytes:
        """The whole blob in memory: for small blobs and tests only."""
        return b"".join(self.open_read(blob_id))

    def local_path(self, blob_id: str) -> Path | None:
        """The blob's file on this machine, if the backend keeps one (read it only)."""
        return None

    def check(self) -> None:  # noqa: B027 - optional hook, a memory store is always there
        """Raise if the store cannot take writes now (unreachable, full): the server's
        readiness check. Backends with something to reach or to fill override it."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections and files."""


def new_blob_id(prefix: str = "") -> str:
    """A fresh blob id starting with ``prefix`` (up to 16 hex digits): the blobs an attempt
    stages share its prefix, so the sweep can find them if the attempt never answers."""
    if len(prefix) > MAX_PREFIX or not _BLOB_ID.fullmatch(prefix.ljust(BLOB_ID_LENGTH, "0")):
        raise BlobError(f"{prefix!r} is not a blob id prefix (up to 16 hex digits)")
    return prefix + uuid.uuid4().hex[: BLOB_ID_LENGTH - len(prefix)]


def is_blob_id(text: str) -> bool:
    """Whether ``text`` has the form of a blob id."""
    return _BLOB_ID.fullmatch(text) is not None
