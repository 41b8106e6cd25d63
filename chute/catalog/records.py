"""Plain records the catalog returns; callers never see rows or SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from chute.blobs.checksums import Checksum, ChecksumAlgorithm, ChecksumType
from chute.names import NULL_VERSION, after_prefix
from chute.wire import compact

__all__ = [
    "NULL_VERSION",
    "Bucket",
    "EventRow",
    "FunctionLogEntry",
    "NewFunctionLog",
    "NewVersion",
    "ObjectVersion",
    "Part",
    "Rollup",
    "StoredKey",
    "Upload",
    "Versioning",
]


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
    """A bucket, its versioning state and what the S3 API configures on it."""

    id: int
    name: str
    versioning: Versioning
    created_at: datetime
    #: The LocationConstraint it was created with (``None``: the default region).
    location: str | None = None
    #: Anyone may read its objects, without a key.
    public_read: bool = False
    #: S3 CORS rules (``CORSRule`` entries as plain data).
    cors: list[dict[str, Any]] | None = None
    #: The S3 notification configuration, as plain data.
    notifications: dict[str, Any] | None = None


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
    #: Stored content headers (``cache-control``, ``content-disposition``, ...).
    headers: dict[str, str] = field(default_factory=dict)
    checksum: Checksum | None = None
    #: How many parts a multipart upload composed it of (``None``: one piece).
    parts_count: int | None = None


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
    headers: dict[str, str] = field(default_factory=dict)
    checksum: Checksum | None = None
    parts_count: int | None = None


@dataclass(frozen=True, slots=True)
class Rollup:
    """How a listing rolls keys up into common prefixes (S3's delimiter).

    A key under ``prefix`` whose rest holds ``delimiter`` is listed as its common
    prefix: the key up to and including the first delimiter after ``prefix``. Every key
    sharing that prefix is listed once, as the prefix.
    """

    prefix: str
    delimiter: str

    def common_prefix(self, key: str) -> str | None:
        """The common prefix ``key`` (a key under :attr:`prefix`) rolls up into, if any."""
        at = key.find(self.delimiter, len(self.prefix))
        return None if at < 0 else key[: at + len(self.delimiter)]

    @property
    def past(self) -> str | None:
        """What replaces the delimiter of a common prefix in the least key past every key
        under it (that prefix's :func:`~chute.names.after_prefix`), or ``None`` for a
        delimiter made only of U+10FFFF, where the bound depends on the key before it."""
        return after_prefix(self.delimiter)


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
    #: How deep in a chain of function invocations the change was made (the request's
    #: ``RequestContext.chain``): known as it is recorded, not stored.
    chain: int = 0

    @classmethod
    def from_mapping(cls, row: Any) -> EventRow:
        return cls(**{name: row[name] for name in cls.__slots__ if name in row})


@dataclass(frozen=True, slots=True)
class Upload:
    """A multipart upload in progress: what the object will be once it is completed."""

    #: The upload id: opaque and unguessable; ids of one key sort in initiation order.
    id: str
    bucket_id: int
    key: str
    content_type: str
    user_metadata: dict[str, str]
    #: Content headers the object will be stored with.
    headers: dict[str, str]
    #: The checksum the upload was created with (``None``: none; then no part keeps one).
    checksum_algorithm: ChecksumAlgorithm | None
    checksum_type: ChecksumType | None
    #: Who initiated it (S3's Initiator and Owner).
    principal: str
    initiated_at: datetime


@dataclass(frozen=True, slots=True)
class Part:
    """One uploaded part of a multipart upload: a registered blob."""

    upload_id: str
    part_number: int
    blob_id: str
    size: int
    #: Hex MD5 of the part's bytes, which is also its ETag.
    md5: str
    #: Base64 checksum of the part in the upload's algorithm (``None``: it has none).
    checksum: str | None
    #: When it was uploaded (S3's LastModified).
    created_at: datetime

    @property
    def etag(self) -> str:
        """The part's ETag (unquoted), as UploadPart answers and Complete must list."""
        return self.md5


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An access key as the catalog keeps it: the secret still encrypted (the security
    layer holds the key that opens it), the grants as plain data."""

    id: str
    #: The secret, encrypted (see :mod:`chute.security.master_key`).
    secret: bytes = field(repr=False)
    name: str
    #: Grants as :meth:`chute.access.Grant.to_json` writes them.
    grants: list[dict[str, Any]]
    #: The key Chute made for itself on first start (one at most).
    is_root: bool
    enabled: bool
    created_at: datetime
    #: Temporary credentials stop working at this moment (``None``: never).
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredFunction:
    """A function made through the Lambda API, as the catalog keeps it. Its
    configuration is plain data; what it means is the functions layer's business."""

    name: str
    config: dict[str, Any]
    code_blob_id: str
    code_sha256: str
    code_size: int
    #: Layer version ARNs, in order.
    layers: list[str]
    revision: str
    #: Resource-based policy statements (AddPermission), as Lambda writes them.
    policy: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StoredLayerVersion:
    """One published version of a layer: its zip, a registered store blob."""

    name: str
    version: int
    blob_id: str
    sha256: str
    size: int
    description: str
    runtimes: list[str]
    created_at: datetime


@compact
@dataclass(frozen=True, slots=True)
class NewFunctionLog:
    """One function invocation's log, to be kept: it crosses from a worker process to
    the one that records its attempt, so it pickles compactly."""

    function: str
    request_id: str
    log_stream: str
    #: When the invocation started.
    logged_at: datetime
    #: The whole log, lines joined by newlines (already capped in size).
    text: str


@dataclass(frozen=True, slots=True)
class FunctionLogEntry:
    """A kept invocation log; its ``id`` is the cursor to read on after it."""

    id: int
    function: str
    request_id: str
    log_stream: str
    logged_at: datetime
    text: str
