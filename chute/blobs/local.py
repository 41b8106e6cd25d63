"""Blobs as files in one folder: the default backend.

Blob ``0a1b...`` lives at ``<root>/0a/1b/0a1b...``; two levels of fan-out keep every folder
small. Bytes go to ``<root>/.partial/<id>`` first; commit fsyncs the file, renames it into
place (same filesystem, so atomic) and fsyncs the folders whose entries changed. A crash
therefore leaves a whole blob or a partial file (which :meth:`LocalBlobStore.purge`
removes), never a torn blob.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from chute.blobs.base import (
    READ_CHUNK,
    BlobReader,
    BlobStore,
    BlobWriter,
    StoredBlob,
    is_blob_id,
    new_blob_id,
)
from chute.errors import BlobError, BlobNotFound, StorageFull

#: Folder under the root for writes not yet committed; never a valid fan-out name.
PARTIAL_DIR = ".partial"

_FANOUT = re.compile(r"[0-9a-f]{2}")
#: What a write fails with when the disk or the user's quota has no room left.
_FULL = {errno.ENOSPC, errno.EDQUOT}


class LocalBlobStore(BlobStore):
    """Blobs as files under ``root``, durable once ``commit()`` returns."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.partial_dir = root / PARTIAL_DIR
        self.partial_dir.mkdir(parents=True, exist_ok=True)

    def open_write(self, prefix: str = "") -> LocalBlobWriter:
        blob_id = new_blob_id(prefix)
        with _room():
            return LocalBlobWriter(blob_id, self.partial_dir / blob_id, self._path(blob_id))

    def open_read(self, blob_id: str, start: int = 0, end: int | None = None) -> BlobReader:
        try:
            fd = os.open(self._path(blob_id), os.O_RDONLY)
        except FileNotFoundError:
            raise BlobNotFound(f"blob {blob_id} does not exist") from None
        return _FileRange(fd, start, end)

    def size(self, blob_id: str) -> int:
        try:
            return self._path(blob_id).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"blob {blob_id} does not exist") from None

    def delete(self, blob_id: str) -> None:
        try:
            path = self._path(blob_id)
        except BlobNotFound:
            return
        path.unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[StoredBlob]:
        for folder in self._folders(prefix):
            for blob in _stored_blobs(folder):
                if blob.blob_id.startswith(prefix):
                    yield blob

    def partials(self, prefix: str = "") -> Iterator[StoredBlob]:
        blobs = [b for b in _stored_blobs(self.partial_dir) if b.blob_id.startswith(prefix)]
        return iter(blobs)

    def purge(self, blob_id: str) -> None:
        self.delete(blob_id)
        if is_blob_id(blob_id):
            (self.partial_dir / blob_id).unlink(missing_ok=True)

    def local_path(self, blob_id: str) -> Path | None:
        path = self._path(blob_id)
        return path if path.exists() else None

    def check(self) -> None:
        if not os.access(self.partial_dir, os.W_OK | os.X_OK):
            raise BlobError("the blob folder cannot be written")
        with _room():
            room = os.statvfs(self.partial_dir)
        if room.f_bavail == 0 or (room.f_files and room.f_favail == 0):
            raise StorageFull("no room left for blobs")

    def _folders(self, prefix: str) -> Iterator[Path]:
        """The fan-out folders that can hold ids starting with ``prefix``."""
        if len(prefix) >= 4:
            folder = self.root / prefix[:2] / prefix[2:4]
            if folder.is_dir():
                yield folder
            return
        for outer in _fanout_dirs(self.root):
            if outer.name.startswith(prefix[:2]):
                for inner in _fanout_dirs(outer):
                    if (outer.name + inner.name).startswith(prefix):
                        yield inner

    def _path(self, blob_id: str) -> Path:
        if not is_blob_id(blob_id):
            raise BlobNotFound(f"{blob_id!r} is not a blob id")
        return self.root / blob_id[:2] / blob_id[2:4] / blob_id


class LocalBlobWriter(BlobWriter):
    """Writes into a partial file; commit makes it durable, then renames it into place."""

    def __init__(self, blob_id: str, partial: Path, target: Path) -> None:
        super().__init__(blob_id)
        self._partial = partial
        self._target = target
        self._file = partial.open("xb")

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        with _room():
            self._file.write(data)

    def _commit(self) -> None:
        with _room():
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            changed = _make_fanout(self._target.parent)
        try:
            os.rename(self._partial, self._target)
        except FileNotFoundError:
            raise BlobError(f"partial blob {self.blob_id} was swept before its commit") from None
        for folder in changed:
            _fsync_dir(folder)

    def _abort(self) -> None:
        # On a full disk, closing fails to flush what is buffered: it is thrown away anyway.
        with contextlib.suppress(OSError):
            self._file.close()
        self._partial.unlink(missing_ok=True)


class _FileRange(Iterator[bytes]):
    """Bytes ``[start, end)`` of an open file, in chunks of at most :data:`READ_CHUNK`.

    An iterator rather than a generator so the file is closed even if iteration never
    starts: by :meth:`close`, at the end of the range, or when the iterator is collected.
    """

    def __init__(self, fd: int, start: int, end: int | None) -> None:
        self._release = weakref.finalize(self, os.close, fd)
        self._fd = fd
        size = os.fstat(fd).st_size
        self._offset = start
        self._end = size if end is None else min(end, size)

    def __next__(self) -> bytes:
        length = min(READ_CHUNK, self._end - self._offset)
        if length <= 0 or not self._release.alive:
            self.close()
            raise StopIteration
        chunk = os.pread(self._fd, length, self._offset)
        if not chunk:
            self.close()
            raise StopIteration
        self._offset += len(chunk)
        return chunk

    def close(self) -> None:
        """Release the file; the iteration stops."""
        self._release()


@contextmanager
def _room() -> Iterator[None]:
    """A disk or quota with no room left is :class:`~chute.errors.StorageFull`."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise StorageFull("no room left for blobs") from exc
        raise


def _make_fanout(folder: Path) -> list[Path]:
    """Create ``folder`` and its parent if missing; returns the folders to fsync after the
    rename: ``folder`` itself, and the parent of every folder created here."""
    changed = [folder]
    for level in (folder.parent, folder):
        try:
            level.mkdir()
        except FileExistsError:
            continue
        changed.append(level.parent)
    return changed


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fanout_dirs(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return [Path(e.path) for e in entries if _FANOUT.fullmatch(e.name) and e.is_dir()]


def _stored_blobs(folder: Path) -> Iterator[StoredBlob]:
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_blob_id(entry.name):
                continue
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:
                continue
            yield StoredBlob(entry.name, datetime.fromtimestamp(mtime, UTC))
