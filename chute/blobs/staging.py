"""Taking bytes in: the one function that stages a body as a blob, for uploads and for
the outputs of worker attempts alike.

Up to ``inline_limit`` bytes are kept in memory and become an inline blob (the caller
puts them in the catalog with the version); a larger body streams into a new blob in the
blob store, hashed on the way, holding no chunk longer than its write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from chute.blobs.base import BlobInfo, BlobStore
from chute.blobs.inline import inline_info
from chute.errors import EntityTooLarge


@dataclass(frozen=True, slots=True)
class StagedBlob:
    """A body taken in: its blob, and its bytes if it is inline (``None``: in the store)."""

    info: BlobInfo
    inline: bytes | None


def stage(
    chunks: Iterable[bytes],
    store: BlobStore,
    inline_limit: int,
    *,
    max_size: int | None = None,
    prefix: str = "",
    reserve: Callable[[str], None] | None = None,
) -> StagedBlob:
    """Stage ``chunks`` as a blob; raises ``EntityTooLarge`` past ``max_size`` bytes.

    A store blob gets an id starting with ``prefix``; ``reserve`` is called with that id
    before any byte is written (to register it, so a write cut off is found later). A
    store write that fails is aborted: nothing is left behind."""
    stream = iter(chunks)
    head, complete = _take(stream, inline_limit)
    if complete:
        data = b"".join(head)
        _check(len(data), max_size)
        return StagedBlob(inline_info(data), data)
    with store.open_write(prefix) as writer:
        if reserve is not None:
            reserve(writer.blob_id)
        for chunk in head:
            writer.write(chunk)
        head.clear()
        for chunk in stream:
            writer.write(chunk)
            _check(writer.size, max_size)
        _check(writer.size, max_size)
        return StagedBlob(writer.commit(), None)


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


def _check(size: int, max_size: int | None) -> None:
    if max_size is not None and size > max_size:
        raise EntityTooLarge(f"object of {size} bytes exceeds the maximum of {max_size} bytes")
