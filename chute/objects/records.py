"""What the object service returns besides catalog records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from chute.blobs import BlobReader
from chute.catalog import EventRow, ObjectVersion, Part, Upload


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


class CompletedPart(NamedTuple):
    """A part as CompleteMultipartUpload lists it: its number, the ETag UploadPart
    answered (quotes optional) and, for an upload with a checksum, its checksum."""

    part_number: int
    etag: str
    checksum: str | None = None


@dataclass(frozen=True, slots=True)
class PartsPage:
    """One page of an upload's parts (ListParts), with the upload they belong to (its
    initiator, owner and checksum algorithm and type)."""

    upload: Upload
    parts: list[Part]
    part_number_marker: int
    max_parts: int
    is_truncated: bool
    #: The last part number of this page: where the next page starts (``None``: empty).
    next_part_number_marker: int | None


@dataclass(slots=True)
class UploadsPage:
    """One page of a bucket's uploads in progress (ListMultipartUploads): by key, then
    initiation order within a key; with a delimiter, keys rolled up into common
    prefixes (each counting as one entry). When truncated, ``next_key_marker`` and
    ``next_upload_id_marker`` resume it (the latter ``None`` after a common prefix)."""

    uploads: list[Upload] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_key_marker: str | None = None
    next_upload_id_marker: str | None = None


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    """How many incomplete uploads an expiry pass aborted; ``skipped``: another process
    was doing it."""

    aborted: int = 0
    skipped: bool = False
