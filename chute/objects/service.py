"""The object service: the one way into buckets and objects, for every front end.

Both API front ends call this service, so every client sees one store and one event log.
It is a thin facade over one module per concept: :mod:`~chute.objects.buckets`,
:mod:`~chute.objects.writes` (puts, copies, deletes and versioning),
:mod:`~chute.objects.reads`, :mod:`~chute.objects.listing`,
:mod:`~chute.objects.event_log` and :mod:`~chute.objects.sweep`. Its methods are
synchronous and block on disk, network and database: front ends run them in threads.

Every call takes the :class:`~chute.context.RequestContext` of who asked, reads
included: authorisation and the audit log are built on it.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from chute.access import Access
from chute.blobs import BlobStore
from chute.blobs.checksums import ExpectedChecksum
from chute.catalog import Bucket, Catalog, EventRow, ObjectVersion, Versioning
from chute.clock import Clock, system_clock
from chute.context import RequestContext
from chute.errors import AccessDenied
from chute.hooks import Hooks
from chute.objects import listing
from chute.objects.blob_reads import BlobReaders
from chute.objects.buckets import Buckets, require_bucket
from chute.objects.event_log import EventLog
from chute.objects.reads import Reads
from chute.objects.records import DeleteResult, ObjectDetail, ObjectRead, SweepReport
from chute.objects.sweep import Sweeper
from chute.objects.writes import Writes
from chute.settings import SMALL_BLOB_LIMIT


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

    @property
    def max_object_size(self) -> int:
        """The largest object a put accepts, in bytes (the front ends refuse larger
        uploads before reading them)."""
        return self.writes.max_object_size

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
        self.buckets.delete(name)

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

    def list_objects(
        self,
        context: RequestContext,
        bucket: str,
        prefix: str = "",
        delimiter: str | None = None,
        start_after: str | None = None,
        token: str | None = None,
        max_keys: int = listing.MAX_KEYS,
    ) -> listing.Listing:
        """A page of keys in order (see :func:`chute.objects.listing.list_objects`)."""
        with self.catalog.read() as session:
            target = require_bucket(session, bucket)
            _require_listing(context, target, prefix)
            return listing.list_objects(
                session, target.id, prefix, delimiter or None, start_after, token, max_keys
            )

    def list_versions(
        self,
        context: RequestContext,
        bucket: str,
        prefix: str = "",
        key_marker: str | None = None,
        version_id_marker: str | None = None,
        max_keys: int = listing.MAX_KEYS,
    ) -> listing.VersionListing:
        """A page of all versions and delete markers, keys in order, newest first."""
        with self.catalog.read() as session:
            target = require_bucket(session, bucket)
            _require_listing(context, target, prefix)
            return listing.list_versions(
                session, target.id, prefix, key_marker, version_id_marker, max_keys
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

    def sweep(self, context: RequestContext, grace: timedelta) -> SweepReport:
        """Remove garbage blobs older than ``grace`` (see :mod:`chute.objects.sweep`)."""
        context.permissions.require(Access.ADMIN)
        return self.sweeper.sweep(grace)

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
