"""What the blob registry holds of a blob (the rows live in the catalog, ``blobs``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class BlobKind(StrEnum):
    """Where a blob's bytes are.

    ``store``: in the blob store (local disk, S3, ...), under the blob's ``location``.
    ``inline``: in the catalog, beside the registry row (small objects).
    ``composite``: nowhere of its own; the concatenation of other blobs, its segments.
    """

    STORE = "store"
    INLINE = "inline"
    COMPOSITE = "composite"


@dataclass(frozen=True, slots=True)
class BlobRecord:
    """A blob in the registry. ``size`` and the digests are ``None`` while a store blob's
    bytes are still being written."""

    id: str
    kind: BlobKind
    size: int | None
    md5: str | None
    sha256: str | None
    location: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a composite blob: ``size`` bytes of blob ``blob_id``, in order."""

    blob_id: str
    size: int
