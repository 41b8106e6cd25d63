"""Reading a composite blob: the bytes of its segments in order, any range of them, each
segment opened only when reached."""

from __future__ import annotations

import pytest

from chute.blobs import BlobReader, Segment, inline_reader
from chute.blobs.composite import SegmentOpener, segment_reader
from chute.errors import BlobNotFound

DATA = {"a": b"0123456789", "b": b"", "c": b"abc", "d": b"XYZWV"}
SEGMENTS = [Segment(blob_id, len(data)) for blob_id, data in DATA.items()]
WHOLE = b"".join(DATA.values())


def _open(opened: list[str]) -> SegmentOpener:
    def open_segment(segment: Segment, start: int, end: int) -> BlobReader:
        opened.append(segment.blob_id)
        if segment.blob_id not in DATA:
            raise BlobNotFound(segment.blob_id)
        return inline_reader(DATA[segment.blob_id], start, end)

    return open_segment


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, len(WHOLE)), (0, 1), (9, 11), (9, 14), (10, 13), (12, 18), (17, 18), (5, 5)],
)
def test_any_range_of_the_segments(start: int, end: int) -> None:
    opened: list[str] = []
    assert b"".join(segment_reader(SEGMENTS, start, end, _open(opened))) == WHOLE[start:end]
    assert "b" not in opened  # an empty segment is never opened


def test_segments_are_opened_when_reached() -> None:
    opened: list[str] = []
    reader = segment_reader(SEGMENTS, 0, len(WHOLE), _open(opened))
    assert opened == ["a"]  # the first at once: a missing one fails before any byte
    assert next(reader) == DATA["a"]
    reader.close()
    assert opened == ["a"]


def test_a_missing_first_segment_fails_at_once() -> None:
    with pytest.raises(BlobNotFound):
        segment_reader([Segment("gone", 4), *SEGMENTS], 0, 8, _open([]))
