"""What the object service returns besides catalog records."""

from __future__ import annotations

from dataclasses import dataclass

from chute.blobs import BlobReader
from chute.catalog import EventRow, ObjectVersion


@dataclass(slots=True)
class ObjectRead:
    """An open read: the version, the byte range served, and the bytes."""

    version: ObjectVersion
    start: int
    end: int
    body: BlobReader
    is_partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """What a delete did: removed ``version_id``, or added a delete marker."""

    version_id: str | None
    delete_marker: bool


@dataclass(frozen=True, slots=True)
class ObjectDetail:
    """A key's versions (newest first) and its events (oldest first)."""

    bucket: str
    key: str
    versions: list[ObjectVersion]
    events: list[EventRow]


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What a sweep removed: registered blobs nothing pointed at, and blobs found under
    the prefixes of attempts that never answered. ``skipped``: another process was
    sweeping, so this one did nothing."""

    orphan_blobs: int = 0
    leftover_blobs: int = 0
    skipped: bool = False
