"""Reading a composite blob: the concatenation of its segments, each read where it is.

Both readers of composite blobs use this: the object service (which opens each segment
through the registry) and worker processes (which open them from what their task says
of each segment, never asking the catalog).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

from chute.blobs.base import BlobReader, empty_reader
from chute.blobs.records import Segment

#: Opens bytes ``[start, end)`` of one segment.
SegmentOpener = Callable[[Segment, int, int], BlobReader]


def segment_reader(
    segments: Sequence[Segment], start: int, end: int, open_segment: SegmentOpener
) -> BlobReader:
    """Bytes ``[start, end)`` of the concatenation of ``segments``. Each segment is opened
    when reached, the first at once, so a missing first segment fails before any byte."""
    pieces: list[tuple[Segment, int, int]] = []
    offset = 0
    for segment in segments:
        low, high = max(start, offset), min(end, offset + segment.size)
        if low < high:
            pieces.append((segment, low - offset, high - offset))
        offset += segment.size
    if not pieces:
        return empty_reader()
    first = open_segment(*pieces[0])
    return _chain(open_segment, first, pieces[1:])


def _chain(
    open_segment: SegmentOpener, first: BlobReader, rest: list[tuple[Segment, int, int]]
) -> Generator[bytes, None, None]:
    current = first
    try:
        yield from current
        for piece in rest:
            current = open_segment(*piece)
            yield from current
    finally:
        current.close()
