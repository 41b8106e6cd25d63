"""The object service: the one way into buckets and objects, for every front end.

Both API front ends call this service, so every client sees one store and one event log.
It is a thin facade over one module per concept: :mod:`~chute.objects.buckets`,
:mod:`~chute.objects.writes` (puts, copies, deletes and versioning),
:mod:`~chute.objects.multipart`, :mod:`~chute.objects.reads`,
:mod:`~chute.objects.listing`, :mod:`~chute.objects.event_log` and
:mod:`~chute.objects.sweep`. Its methods are
synchronous and block on disk, network and database: front ends run them in threads.

Every call takes the :class:`~chute.context.RequestContext` of who asked, reads
included: authorisation and the audit log are built on it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

from chute.access import Access
from chute.blobs import BlobStore
from chute.blobs.checksums import ChecksumAlgorithm, ChecksumType, ExpectedChecksum
from chute.catalog import Bucket, Catalog, EventRow, ObjectVersion, Part, Upload, Versioning
from chute.clock import Clock, system_clock
from chute.context import RequestContext
from chute.errors import AccessDenied
from chute.events import EventName
from chute.hooks import Hooks
from chute.objects import listing
from chute.objects.blob_reads import BlobReaders
from chute.objects.buckets import Buckets, require_bucket
from chute.objects.event_log import EventLog
from chute.objects.health import Readiness, probe
from chute.objects.multipart import MAX_PART_SIZE, ListedPart, Multipart
from chute.objects.reads import Reads
from chute.objects.records import (
    DeleteResult,
    ExpiryReport,
    ObjectDetail,
    ObjectRead,
    PartsPage,
    SweepReport,
    UploadsPage,
)
from chute.objects.sweep import Sweeper
from chute.objects.writes import Writes
from chute.settings import MIN_PART_SIZE, SMALL_BLOB_LIMIT


class ObjectService:
    """Buckets and objects over a blob store and the catalog."""

    def __init__(
        self,
        catalog: Catalog,
        blobs: BlobStore,
        region: str,
        max_object_size: int,
        small_blob_limit: int = SMALL_BLOB_LIMIT,
        clock: Clock = system_clock,
        hooks: Hooks | None = None,
        min_part_size: int = MIN_PART_SIZE,
    ) -> None:
        self.catalog = catalog
        self.blobs = blobs
        self.hooks = hooks or Hooks()
        self.buckets = Buckets(catalog, clock)
        self.event_log = EventLog(catalog, region, clock, self.hooks)
        self.writes = Writes(
            catalog, blobs, self.event_log, clock, max_object_size, small_blob_limit
        )
        self.reads = Reads(catalog, BlobReaders(catalog, blobs))
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.sweeper = Sweeper(catalog, blobs, clock, holder)
        self.multipart = Multipart(catalog, self.writes, self.reads, clock, min_part_size, holder)

    @property
    def max_object_size(self) -> int:
        """The largest object a put accepts, in bytes (the front ends refuse larger
        uploads before reading them)."""
        return self.writes.max_object_size

    @property
    def max_part_size(self) -> int:
        """The largest part of a multipart upload, in bytes (S3's 5 GiB)."""
        return MAX_PART_SIZE

    # --- buckets -------------------------------------------------------------------

    def create_bucket(
        self,
        context: RequestContext,
        name: str,
        versioning: Versioning = Versioning.UNVERSIONED,
        location: str | None = None,
    ) -> Bucket:
        """Create a bucket; ``BucketAlreadyExists`` if the name is taken."""
        context.permissions.require(Access.ADMIN, name)
        return self.buckets.create(name, versioning, location)

    def ensure_bucket(self, context: RequestContext, name: str) -> Bucket:
        """The bucket ``name``, created if missing (for buckets named in the config)."""
        context.permissions.require(Access.ADMIN, name)
        return self.buckets.ensure(name)

    def get_bucket(self, context: RequestContext, name: str) -> Bucket:
        """The bucket ``name``, to anyone with some access to it (HeadBucket)."""
        bucket = self.buckets.get(name)
        if not (context.permissions.sees(name) or bucket.public_read):
            raise AccessDenied()
        return bucket

    def list_buckets(self, context: RequestContext) -> list[Bucket]:
        """The buckets ``context`` has some access to."""
        return [b for b in self.buckets.list() if context.permissions.sees(b.name)]

    def delete_bucket(self, context: RequestContext, name: str) -> None:
        """Delete an empty bucket (no versions, no delete markers)."""
        context.permissions.require(Access.ADMIN, name)
        self.writes.free(self.buckets.delete(name))

    def set_versioning(self, context: RequestContext, name: str, state: Versioning) -> Bucket:
        """Enable or suspend versioning (never back to unversioned, as in S3)."""
        context.permissions.require(Access.ADMIN, name)
        return self.buckets.set_versioning(name, state)

    def set_public_read(self, context: RequestContext, name: str, public: bool) -> Bucket:
        """Let anyone read the bucket's objects without a key, or stop that."""
        context.permissions.require(Access.ADMIN, name)
        return self.buckets.configure(name, public_read=public)

    def set_cors(
        self, context: RequestContext, name: str, rules: list[dict[str, Any]] | None
    ) -> Bucket:
        """Set (``None``: remove) the bucket's CORS rules."""
        context.permissions.require(Access.ADMIN, name)
        return self.buckets.configure(name, cors=rules)

    def cors_rules(self, context: RequestContext, name: str) -> list[dict[str, Any]] | None:
        """The bucket's CORS rules (``None``: none set), to anyone: browsers ask for them
        in preflight requests, which carry no credentials. ``NoSuchBucket`` if there is
        no such bucket."""
        return self.buckets.get(name).cors

    def notifications(self, context: RequestContext, name: str) -> dict[str, Any] | None:
        """The bucket's notification configuration (``None``: none), to its admins."""
        context.permissions.require(Access.ADMIN, name)
        return self.buckets.get(name).notifications

    def set_notifications(
        self, context: RequestContext, name: str, configuration: dict[str, Any] | None
    ) -> Bucket:
        """Set (``None``: remove) the bucket's notification configuration, validated by
        the caller against what it may name."""
        context.permissions.require(Access.ADMIN, name)
        return self.buckets.configure(name, notifications=configuration)

    # --- writes --------------------------------------------------------------------

    def put(
        self,
        context: RequestContext,
        bucket: str,
        key: str,
        body: Iterable[bytes],
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        expected_size: int | None = None,
        md5: str | None = None,
        sha256: str | None = None,
        headers: dict[str, str] | None = None,
        checksum: ExpectedChecksum | None = None,
        event: EventName = EventName.OBJECT_CREATED_PUT,
    ) -> ObjectVersion:
        """Store ``body`` as the new latest version of ``bucket/key`` (see
        :meth:`Writes.put`)."""
        context.permissions.require(Access.WRITE, bucket, key)
        return self.writes.put(
            bucket,
            key,
            body,
            context=context,
            content_type=content_type,
            metadata=metadata,
            expected_size=expected_size,
            md5=md5,
            sha256=sha256,
            headers=headers,
            checksum=checksum,
            event=event,
        )

    def copy(
        self,
        context: RequestContext,
        source_bucket: str,
        source_key: str,
        bucket: str,
        key: str,
        *,
        source_version_id: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> ObjectVersion:
        """Copy an object server-side, sharing its blob (see :meth:`Writes.copy`)."""
        context.permissions.require(Access.WRITE, bucket, key)
        self._require_read(context, source_bucket, source_key)
        source = self.reads.head(source_bucket, source_key, source_version_id)
        return self.writes.copy(
            source,
            bucket,
            key,
            context=context,
            content_type=content_type,
            metadata=metadata,
            headers=headers,
        )

    def delete(
        self, context: RequestContext, bucket: str, key: str, version_id: str | None = None
    ) -> DeleteResult:
        """Delete a key or one version, as S3 does (see :meth:`Writes.delete`)."""
        context.permissions.require(Access.WRITE, bucket, key)
        return self.writes.delete(bucket, key, version_id, context)

    # --- multipart uploads ---------------------------------------------------------

    def create_multipart_upload(
        self,
        context: RequestContext,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        checksum_algorithm: ChecksumAlgorithm | None = None,
        checksum_type: ChecksumType | None = None,
    ) -> Upload:
        """Begin a multipart upload (see :meth:`Multipart.create`)."""
        context.permissions.require(Access.WRITE, bucket, key)
        return self.multipart.create(
            context,
            bucket,
            key,
            content_type=content_type,
            metadata=metadata,
            headers=headers,
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
        )

    def upload_part(
        self,
        context: RequestContext,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        body: Iterable[bytes],
        *,
        expected_size: int | None = None,
        md5: str | None = None,
        sha256: str | None = None,
        checksum: ExpectedChecksum | None = None,
    ) -> Part:
        """Store one part of an upload (see :meth:`Multipart.upload_part`)."""
        context.permissions.require(Access.WRITE, bucket, key)
        return self.multipart.upload_part(
            bucket,
            key,
            upload_id,
            part_number,
            body,
            expected_size=expected_size,
            md5=md5,
            sha256=sha256,
            checksum=checksum,
        )

    def upload_part_copy(
        self,
        context: RequestContext,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source_bucket: str,
        source_key: str,
        *,
        source_version_id: str | None = None,
        byte_range: tuple[int, int] | None = None,
        source_check: Callable[[ObjectVersion], None] | None = None,
    ) -> Part:
        """Make bytes ``[start, end)`` of another object (all of it by default) a part
        (see :meth:`Multipart.upload_part_copy`). ``source_check`` is called with the
        source version before any byte moves: the ``x-amz-copy-source-if-*``
        conditions, raising to refuse."""
        context.permissions.require(Access.WRITE, bucket, key)
        self._require_read(context, source_bucket, source_key)
        source = self.reads.head(source_bucket, source_key, source_version_id)
        if source_check is not None:
            source_check(source)
        return self.multipart.upload_part_copy(
            bucket, key, upload_id, part_number, source, byte_range
        )

    def complete_multipart_upload(
        self,
        context: RequestContext,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[ListedPart],
        *,
        expected_checksum: tuple[ChecksumAlgorithm, str] | None = None,
        checksum_type: ChecksumType | None = None,
    ) -> ObjectVersion:
        """Compose the listed parts into the new latest version (see
        :meth:`Multipart.complete`)."""
        context.permissions.require(Access.WRITE, bucket, key)
        return self.multipart.complete(
            context,
            bucket,
            key,
            upload_id,
            parts,
            expected_checksum=expected_checksum,
            checksum_type=checksum_type,
        )

    def abort_multipart_upload(
        self, context: RequestContext, bucket: str, key: str, upload_id: str
    ) -> None:
        """Remove an upload and free its parts; ``NoSuchUpload`` if there is none."""
        context.permissions.require(Access.WRITE, bucket, key)
        self.multipart.abort(bucket, key, upload_id)

    def list_parts(
        self,
        context: RequestContext,
        bucket: str,
        key: str,
        upload_id: str,
        *,
        part_number_marker: int = 0,
        max_parts: int = 1000,
    ) -> PartsPage:
        """A page of an upload's parts, in order (see :meth:`Multipart.list_parts`).
        Needs read access to the key itself: a public-read bucket shows objects, not
        uploads in progress."""
        context.permissions.require(Access.READ, bucket, key)
        return self.multipart.list_parts(bucket, key, upload_id, part_number_marker, max_parts)

    def list_multipart_uploads(
        self,
        context: RequestContext,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        key_marker: str | None = None,
        upload_id_marker: str | None = None,
        max_uploads: int = 1000,
    ) -> UploadsPage:
        """A page of a bucket's uploads in progress (see
        :meth:`Multipart.list_uploads`); needs read access to all of ``prefix``."""
        if not context.permissions.allows_listing(bucket, prefix):
            raise AccessDenied()
        return self.multipart.list_uploads(
            bucket, prefix, delimiter or None, key_marker, upload_id_marker, max_uploads
        )

    # --- reads ---------------------------------------------------------------------

    def head(
        self, context: RequestContext, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectVersion:
        """The version a GET would serve (latest by default)."""
        self._require_read(context, bucket, key)
        return self.reads.head(bucket, key, version_id)

    def open(
        self,
        context: RequestContext,
        bucket: str,
        key: str,
        version_id: str | None = None,
        byte_range: tuple[int, int] | None = None,
    ) -> ObjectRead:
        """Open an object for reading: all of it, or bytes ``[start, end)``."""
        self._require_read(context, bucket, key)
        return self.reads.read(self.reads.head(bucket, key, version_id), byte_range)

    def read(
        self,
        context: RequestContext,
        version: ObjectVersion,
        byte_range: tuple[int, int] | None = None,
    ) -> ObjectRead:
        """Open the bytes of a version :meth:`head` returned (and so allowed)."""
        return self.reads.read(version, byte_range)

    def part_range(
        self, context: RequestContext, version: ObjectVersion, part_number: int
    ) -> tuple[int, int, int]:
        """Where part ``part_number`` of a version :meth:`head` returned is: ``(start,
        end, parts_count)`` (see :meth:`Reads.part_range`), to :meth:`read` it."""
        return self.reads.part_range(version, part_number)

    def list_objects(
        self,
        context: RequestContext,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        start_after: str | None = None,
        token: str | None = None,
        max_keys: int = listing.MAX_KEYS,
    ) -> listing.Listing:
        """A page of keys and common prefixes in order (ListObjectsV2; ListObjects passes
        its ``marker`` as ``start_after``): see :func:`chute.objects.listing.list_objects`."""
        with self.catalog.read() as session:
            target = require_bucket(session, bucket)
            _require_listing(context, target, prefix)
            return listing.list_objects(
                session,
                target.id,
                prefix=prefix,
                delimiter=delimiter or None,
                start_after=start_after,
                token=token,
                max_keys=max_keys,
            )

    def list_versions(
        self,
        context: RequestContext,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        key_marker: str | None = None,
        version_id_marker: str | None = None,
        max_keys: int = listing.MAX_KEYS,
    ) -> listing.VersionListing:
        """A page of all versions and delete markers, keys in order, newest first, and
        common prefixes (ListObjectVersions): see
        :func:`chute.objects.listing.list_versions`."""
        with self.catalog.read() as session:
            target = require_bucket(session, bucket)
            _require_listing(context, target, prefix)
            return listing.list_versions(
                session,
                target.id,
                prefix=prefix,
                delimiter=delimiter or None,
                key_marker=key_marker,
                version_id_marker=version_id_marker,
                max_keys=max_keys,
            )

    def detail(self, context: RequestContext, bucket: str, key: str) -> ObjectDetail:
        """Every version of a key and every event about it."""
        self._require_read(context, bucket, key)
        return self.reads.detail(bucket, key)

    def events(
        self,
        context: RequestContext,
        after: int = 0,
        limit: int = 100,
        bucket: str | None = None,
        key: str | None = None,
    ) -> list[EventRow]:
        """Events after the cursor ``after``, oldest first: of one bucket (or key) to
        whoever may read it, of every bucket to an administrator."""
        if bucket is None:
            context.permissions.require(Access.ADMIN)
        else:
            self._require_read(context, bucket, key or "")
        return self.event_log.after(after, limit, bucket, key)

    # --- upkeep --------------------------------------------------------------------

    def readiness(self) -> Readiness:
        """Whether the catalog database and the blob store answer now."""
        return Readiness((probe("catalog", self.catalog.ping), probe("blobs", self.blobs.check)))

    def sweep(self, context: RequestContext, grace: timedelta) -> SweepReport:
        """Remove garbage blobs older than ``grace`` (see :mod:`chute.objects.sweep`)."""
        context.permissions.require(Access.ADMIN)
        return self.sweeper.sweep(grace)

    def expire_uploads(self, context: RequestContext, older_than: timedelta) -> ExpiryReport:
        """Abort the multipart uploads begun more than ``older_than`` ago."""
        context.permissions.require(Access.ADMIN)
        return self.multipart.expire(older_than)

    # --- access --------------------------------------------------------------------

    def _require_read(self, context: RequestContext, bucket: str, key: str) -> None:
        """``AccessDenied`` unless ``context`` may read ``key``, or the bucket is
        public-read (looked up only then: the common case costs no query)."""
        if context.permissions.allows(Access.READ, bucket, key):
            return
        if not self.buckets.get(bucket).public_read:
            raise AccessDenied()


def _require_listing(context: RequestContext, bucket: Bucket, prefix: str) -> None:
    if not (context.permissions.allows_listing(bucket.name, prefix) or bucket.public_read):
        raise AccessDenied()
