"""Plain records the catalog returns; callers never see rows or SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from chute.names import NULL_VERSION

__all__ = ["NULL_VERSION", "Bucket", "EventRow", "NewVersion", "ObjectVersion", "Versioning"]


class Versioning(StrEnum):
    """A bucket's versioning state, as S3 defines it.

    ``unversioned``: one version per key, id ``null``, overwritten in place.
    ``enabled``: every write adds a version; deletes add a delete marker.
    ``suspended``: new writes get id ``null`` (replacing any earlier ``null`` version);
    versions made while enabled are kept.
    """

    UNVERSIONED = "unversioned"
    ENABLED = "enabled"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket and its versioning state."""

    id: int
    name: str
    versioning: Versioning
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """One version of a key: object bytes (``blob_id``) or a delete marker."""

    id: int
    bucket_id: int
    key: str
    version_id: str
    is_latest: bool
    is_delete_marker: bool
    blob_id: str | None
    size: int
    etag: str
    sha256: str
    content_type: str
    user_metadata: dict[str, str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What a write adds to the catalog."""

    key: str
    version_id: str
    blob_id: str | None
    size: int
    etag: str
    sha256: str
    content_type: str
    user_metadata: dict[str, str] = field(default_factory=dict)
    is_delete_marker: bool = False


@dataclass(frozen=True, slots=True)
class EventRow:
    """One stored event; ``chute.events`` renders it as an S3 event record."""

    id: int
    event_time: datetime
    event_name: str
    region: str
    bucket: str
    key: str
    version_id: str | None
    size: int | None
    etag: str | None
    principal: str
    source_ip: str
    request_id: str

    @classmethod
    def from_mapping(cls, row: Any) -> EventRow:
        return cls(**{name: row[name] for name in cls.__slots__})
