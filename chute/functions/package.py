"""A function's code and layers as folders: a folder is used where it is, a zip is
unpacked once into a cache named by its SHA-256, so the same bytes are never unpacked
twice and a changed zip never mixes with the old files.

Unpacking refuses what would escape the target folder (absolute paths, ``..``,
symbolic links) and stops at Lambda's limit on unzipped size, counting the bytes
actually written, so a zip that lies about its sizes (a zip bomb) is stopped too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from chute.blobs import BlobStore
from chute.errors import InvalidParameterValue

#: Lambda's limit on a function's unzipped code and layers.
MAX_UNZIPPED_BYTES = 250 * 1000 * 1000
#: Most entries a zip may hold.
MAX_ENTRIES = 50_000
_COPY_CHUNK = 1024 * 1024


def code_folder(source: Path, cache: Path) -> Path:
    """The folder holding ``source``'s files: ``source`` itself if it is a folder, else
    the zip unpacked under ``cache``."""
    if source.is_dir():
        return source
    if not source.is_file():
        raise InvalidParameterValue(f"code {source} is neither a folder nor a zip file")
    digest = hashlib.sha256()
    with source.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_COPY_CHUNK), b""):
            digest.update(chunk)
    target = cache / digest.hexdigest()
    if not target.is_dir():
        unpack(source, target)
    return target


def blob_folder(blobs: BlobStore, location: str, sha256: str, cache: Path) -> Path:
    """The folder holding the files of the zip at ``location`` in the blob store, unpacked
    under ``cache`` once (checked against ``sha256``: a blob that changed is refused)."""
    target = cache / sha256
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache, prefix=".download-", suffix=".zip") as out:
        digest = hashlib.sha256()
        for chunk in blobs.open_read(location):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        if digest.hexdigest() != sha256:
            raise InvalidParameterValue(f"the code in blob {location} is not what was uploaded")
        unpack(Path(out.name), target)
    return target


def unpack(archive: Path, target: Path) -> None:
    """Unpack ``archive`` into the new folder ``target``, atomically: a refused or cut
    off unpacking leaves nothing at ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=target.parent))
    try:
        _extract(archive, staging)
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # another process won the race with the same bytes
                raise
            shutil.rmtree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _extract(archive: Path, into: Path) -> None:
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidParameterValue(f"Could not unzip {archive.name}: {exc}") from None
    with bundle:
        entries = bundle.infolist()
        if len(entries) > MAX_ENTRIES:
            raise InvalidParameterValue(f"{archive.name} holds over {MAX_ENTRIES} entries")
        written = 0
        for entry in entries:
            path = _inside(into, entry)
            try:
                if entry.is_dir():
                    path.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)
                written = _copy(bundle, entry, path, written, archive.name)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise InvalidParameterValue(f"Could not unzip {archive.name}: {exc}") from None
            except OSError as exc:  # a file and a folder of one name, a file named "."
                raise InvalidParameterValue(
                    f"Could not unzip {archive.name}: entry {entry.filename!r}: {exc.strerror}"
                ) from None
            path.chmod(_file_mode(entry))
    _open_folders(into)


#: Unpacked code is read-only to the functions (they run as another user where Chute
#: runs as root): folders rwxr-xr-x, files rw-r--r--, or rwxr-xr-x if executable.
_FOLDER_MODE = 0o755


def _file_mode(entry: zipfile.ZipInfo) -> int:
    executable = (entry.external_attr >> 16) & stat.S_IXUSR
    return 0o755 if executable else 0o644


def _open_folders(root: Path) -> None:
    """Give every folder under ``root`` (``root`` too) :data:`_FOLDER_MODE`, whatever
    the umask made of it."""
    root.chmod(_FOLDER_MODE)
    for folder, names, _ in os.walk(root):
        for name in names:
            os.chmod(os.path.join(folder, name), _FOLDER_MODE)


def check_entries(entries: Iterable[zipfile.ZipInfo]) -> None:
    """Refuse entries that would land outside their folder, or are links."""
    root = Path("/")
    for entry in entries:
        _inside(root, entry)


def _inside(into: Path, entry: zipfile.ZipInfo) -> Path:
    """Where ``entry`` goes under ``into``; refused if it would land elsewhere or is a
    symbolic link."""
    name = entry.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (parts and ":" in parts[0]) or ".." in parts:
        raise InvalidParameterValue(f"zip entry {entry.filename!r} points outside the code")
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise InvalidParameterValue(f"zip entry {entry.filename!r} is a symbolic link")
    return into.joinpath(*parts)


def _copy(
    bundle: zipfile.ZipFile, entry: zipfile.ZipInfo, path: Path, written: int, name: str
) -> int:
    with bundle.open(entry) as source, path.open("wb") as out:
        while chunk := source.read(_COPY_CHUNK):
            written += len(chunk)
            if written > MAX_UNZIPPED_BYTES:
                raise InvalidParameterValue(
                    f"{name} unzips to over {MAX_UNZIPPED_BYTES} bytes (Lambda's limit)"
                )
            out.write(chunk)
    return written
