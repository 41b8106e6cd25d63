"""The object service: the one place that stores, reads, versions and deletes objects.

Both API front ends call this service, so every client sees one store and one event log.
Its methods are synchronous and block on disk, network and database: front ends run them
in worker threads.

A write streams the bytes into a new blob, commits the blob (durable), then records the
object version and its event in one catalog transaction (the transactional outbox). If
anything fails before that commit, the blob is deleted; if the process dies in between,
the blob is an orphan that :meth:`ObjectService.sweep` removes later. Nothing half-written
is ever visible. Small objects skip the blob store: their bytes go into the catalog in
that same transaction.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chute.blobs import READ_CHUNK, BlobInfo, BlobReader, BlobStore
from chute.catalog import (
    NULL_VERSION,
    Bucket,
    Catalog,
    CatalogSession,
    EventRow,
    NewVersion,
    ObjectVersion,
    Versioning,
)
from chute.clock import Clock, system_clock
from chute.errors import (
    BadDigest,
    BlobNotFound,
    BucketNotEmpty,
    ChuteError,
    EntityTooLarge,
    IncompleteBody,
    InvalidArgument,
    MethodNotAllowed,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
)
from chute.events import EventName
from chute.names import (
    check_bucket_name,
    check_content_type,
    check_key,
    check_metadata,
)
from chute.objects import listing
from chute.objects.ranges import parse_range
from chute.settings import SMALL_BLOB_LIMIT

log = logging.getLogger(__name__)

DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: Ids of blobs kept in the catalog; store blob ids are bare hex, so they never clash.
SMALL_BLOB_PREFIX = "c-"


#: ``(session, event, version)``: sees each event in the transaction that records it.
EventHook = Callable[[CatalogSession, EventRow, ObjectVersion], None]


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asked for a change, recorded in its event."""

    principal: str = "anonymous"
    source_ip: str = "127.0.0.1"
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16].upper())


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
    """What a sweep removed."""

    orphan_blobs: int
    partial_writes: int


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
    ) -> None:
        self.catalog = catalog
        self.blobs = blobs
        self.region = region
        self.max_object_size = max_object_size
        self.clock = clock
        #: Objects up to this size keep their bytes in the catalog (see ``small_blobs``).
        self.small_blob_limit = small_blob_limit
        #: Called with every event inside its transaction (the pipeline router), so the
        #: jobs an event triggers commit with it.
        self.on_event: EventHook | None = None

    # --- buckets -------------------------------------------------------------------

    def create_bucket(self, name: str, versioning: Versioning = Versioning.UNVERSIONED) -> Bucket:
        """Create a bucket; ``BucketAlreadyExists`` if the name is taken."""
        check_bucket_name(name)
        return self.catalog.run_write(
            lambda session: session.create_bucket(name, versioning, self.clock())
        )

    def ensure_bucket(self, name: str) -> Bucket:
        """The bucket ``name``, created if missing (for buckets named in the config)."""
        check_bucket_name(name)
        return self.catalog.run_write(
            lambda session: (
                session.get_bucket(name)
                or session.create_bucket(name, Versioning.UNVERSIONED, self.clock())
            )
        )

    def get_bucket(self, name: str) -> Bucket:
        with self.catalog.read() as session:
            return _bucket(session, name)

    def list_buckets(self) -> list[Bucket]:
        with self.catalog.read() as session:
            return session.list_buckets()

    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket (no versions, no delete markers)."""

        def work(session: CatalogSession) -> None:
            bucket = _bucket(session, name)
            if session.bucket_has_versions(bucket.id):
                raise BucketNotEmpty(f"bucket {name!r} is not empty")
            session.delete_bucket(bucket.id)

        self.catalog.run_write(work)

    def set_versioning(self, name: str, state: Versioning) -> Bucket:
        """Enable or suspend versioning. As in S3, a bucket that has been versioned can
        never go back to unversioned."""

        def work(session: CatalogSession) -> Bucket:
            bucket = _bucket(session, name)
            if state is Versioning.UNVERSIONED and bucket.versioning is not state:
                raise InvalidArgument("versioning can be enabled or suspended, not turned off")
            session.set_versioning(bucket.id, state)
            return Bucket(bucket.id, bucket.name, state, bucket.created_at)

        return self.catalog.run_write(work)

    # --- writes --------------------------------------------------------------------

    def put(
        self,
        bucket: str,
        key: str,
        body: Iterable[bytes],
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        expected_size: int | None = None,
        content_md5: str | None = None,
        context: RequestContext | None = None,
    ) -> ObjectVersion:
        """Store ``body`` as the new latest version of ``bucket/key``.

        The bytes stream straight into the blob store (or, up to ``small_blob_limit``,
        go to the catalog with the version); ``expected_size`` (Content-Length) and
        ``content_md5`` (base64, as in HTTP) are checked before anything is recorded.
        """
        check_key(key)
        content_type = check_content_type(content_type or DEFAULT_CONTENT_TYPE)
        metadata = check_metadata(metadata or {})
        md5 = _decode_md5(content_md5)
        if expected_size is not None and expected_size > self.max_object_size:
            raise EntityTooLarge(self._too_large(expected_size))
        if not isinstance(body, list | tuple):
            self.get_bucket(bucket)  # fail before consuming a stream into a missing bucket
        info, small = self._store_body(body, expected_size)
        if md5 is not None and md5 != info.md5:
            self._delete_blobs([info.blob_id])
            raise BadDigest()
        new = NewVersion(
            key=key,
            version_id=NULL_VERSION,
            blob_id=info.blob_id,
            size=info.size,
            etag=info.md5,
            sha256=info.sha256,
            content_type=content_type,
            user_metadata=metadata,
        )
        return self._record_write(bucket, new, EventName.OBJECT_CREATED_PUT, context, small=small)

    def _store_body(
        self, body: Iterable[bytes], expected_size: int | None
    ) -> tuple[BlobInfo, bytes | None]:
        """Take in the body: a small one stays in memory (its bytes go to the catalog with
        the version), a larger one streams into a new blob in the blob store."""
        chunks = iter(body)
        buffered: list[bytes] = []
        size = 0
        if self.small_blob_limit > 0:
            for chunk in chunks:
                buffered.append(chunk)
                size += len(chunk)
                if size > self.small_blob_limit:
                    break
            else:
                data = b"".join(buffered)
                self._check_size(len(data), expected_size)
                return _small_blob_info(data), data
        with self.blobs.open_write() as writer:
            for chunk in buffered:
                writer.write(chunk)
            buffered.clear()  # hold no block longer than its write
            for chunk in chunks:
                writer.write(chunk)
                if writer.size > self.max_object_size:
                    raise EntityTooLarge(self._too_large(writer.size))
            self._check_size(writer.size, expected_size)
            return writer.commit(), None

    def _check_size(self, size: int, expected_size: int | None) -> None:
        if size > self.max_object_size:
            raise EntityTooLarge(self._too_large(size))
        if expected_size is not None and size != expected_size:
            raise IncompleteBody(f"received {size} bytes; Content-Length said {expected_size}")

    def copy(
        self,
        source_bucket: str,
        source_key: str,
        bucket: str,
        key: str,
        *,
        source_version_id: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        context: RequestContext | None = None,
    ) -> ObjectVersion:
        """Copy an object server-side: the new version shares the source's immutable blob,
        so no byte moves. ``metadata``/``content_type`` replace the source's when given."""
        check_key(key)
        if content_type is not None:
            check_content_type(content_type)
        if metadata is not None:
            metadata = check_metadata(metadata)
        source = self.head(source_bucket, source_key, source_version_id)
        new = NewVersion(
            key=key,
            version_id=NULL_VERSION,
            blob_id=source.blob_id,
            size=source.size,
            etag=source.etag,
            sha256=source.sha256,
            content_type=content_type or source.content_type,
            user_metadata=source.user_metadata if metadata is None else dict(metadata),
        )
        return self._record_write(
            bucket, new, EventName.OBJECT_CREATED_COPY, context, source=source
        )

    def delete(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        context: RequestContext | None = None,
    ) -> DeleteResult:
        """Delete a key as S3 does: a specific version is removed for good; without a
        version id, a versioned bucket gets a delete marker and an unversioned one loses
        the object. Deleting a missing key is not an error."""
        check_key(key)

        def work(session: CatalogSession) -> tuple[DeleteResult, list[str]]:
            freed: list[str] = []
            target = _bucket(session, bucket)
            if version_id is not None:
                result = self._delete_version(session, target, key, version_id, freed, context)
            elif target.versioning is Versioning.ENABLED:
                result = self._add_delete_marker(session, target, key, _new_version_id(), context)
            elif target.versioning is Versioning.SUSPENDED:
                self._drop_null_version(session, target, key, freed)
                result = self._add_delete_marker(session, target, key, NULL_VERSION, context)
            else:
                result = self._delete_unversioned(session, target, key, freed, context)
            return result, _unused_blobs(session, freed)

        result, freed = self.catalog.run_write(work)
        self._delete_blobs(freed)
        return result

    # --- reads ---------------------------------------------------------------------

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion:
        """The version a GET would serve (latest by default)."""
        check_key(key)
        with self.catalog.read() as session:
            target = _bucket(session, bucket)
            if version_id is None:
                version = session.latest_version(target.id, key)
                if version is None:
                    raise NoSuchKey(f"no key {key!r} in bucket {bucket!r}")
                if version.is_delete_marker:
                    raise NoSuchKey(f"key {key!r} is deleted", delete_marker=True)
                return version
            version = session.get_version(target.id, key, version_id)
        if version is None:
            raise NoSuchVersion(f"no version {version_id!r} of key {key!r}")
        if version.is_delete_marker:
            raise MethodNotAllowed(f"version {version_id!r} of {key!r} is a delete marker")
        return version

    def open(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        range_header: str | None = None,
    ) -> ObjectRead:
        """Open an object for reading, honouring an HTTP ``Range`` header."""
        return self.read(self.head(bucket, key, version_id), range_header)

    def read(self, version: ObjectVersion, range_header: str | None = None) -> ObjectRead:
        """Open the bytes of a version :meth:`head` returned (so conditions checked against
        it hold for the bytes served), honouring an HTTP ``Range`` header."""
        byte_range = parse_range(range_header, version.size)
        start, end = byte_range or (0, version.size)
        assert version.blob_id is not None
        try:
            body = self._open_blob(version.blob_id, start, end)
        except BlobNotFound:
            # Overwritten or deleted between the lookup and now: its blob is gone.
            raise NoSuchKey(f"{version.key!r} was replaced while it was being read") from None
        return ObjectRead(version, start, end, body, byte_range is not None)

    def _open_blob(self, blob_id: str, start: int, end: int) -> BlobReader:
        if not is_small_blob(blob_id):
            return self.blobs.open_read(blob_id, start, end)
        with self.catalog.read() as session:
            data = session.small_blob(blob_id)
        if data is None:
            raise BlobNotFound(blob_id)
        return (data[i : min(i + READ_CHUNK, end)] for i in range(start, end, READ_CHUNK))

    def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str | None = None,
        start_after: str | None = None,
        token: str | None = None,
        max_keys: int = listing.MAX_KEYS,
    ) -> listing.Listing:
        """A page of keys in order (see :func:`chute.objects.listing.list_objects`)."""
        with self.catalog.read() as session:
            target = _bucket(session, bucket)
            return listing.list_objects(
                session, target.id, prefix, delimiter or None, start_after, token, max_keys
            )

    def list_versions(
        self,
        bucket: str,
        prefix: str = "",
        key_marker: str | None = None,
        version_id_marker: str | None = None,
        max_keys: int = listing.MAX_KEYS,
    ) -> listing.VersionListing:
        """A page of all versions and delete markers, keys in order, newest first."""
        with self.catalog.read() as session:
            target = _bucket(session, bucket)
            after_id = None
            if key_marker is not None and version_id_marker is not None:
                marker = session.get_version(target.id, key_marker, version_id_marker)
                if marker is None:
                    raise InvalidArgument("version-id-marker does not name a version of key")
                after_id = marker.id
            return listing.list_versions(session, target.id, prefix, key_marker, after_id, max_keys)

    def detail(self, bucket: str, key: str) -> ObjectDetail:
        """Every version of a key and every event about it."""
        check_key(key)
        with self.catalog.read() as session:
            target = _bucket(session, bucket)
            versions = session.versions_of(target.id, key)
            events = session.events_after(0, 1000, bucket=bucket, key=key)
        if not versions and not events:
            raise NoSuchKey(f"no key {key!r} in bucket {bucket!r}")
        return ObjectDetail(bucket, key, versions, events)

    def events(
        self, after: int = 0, limit: int = 100, bucket: str | None = None, key: str | None = None
    ) -> list[EventRow]:
        """Events after the cursor ``after``, oldest first."""
        if not 1 <= limit <= 1000:
            raise InvalidArgument("limit must be between 1 and 1000")
        with self.catalog.read() as session:
            return session.events_after(after, limit, bucket, key)

    # --- maintenance ---------------------------------------------------------------

    def sweep(self, grace: timedelta) -> SweepReport:
        """Remove blobs no version points to, and leftovers of writes that never
        committed, if older than ``grace`` (younger ones may be about to commit)."""
        cutoff = self.clock() - grace
        partial = self.blobs.sweep_partial(cutoff)
        candidates = [b.blob_id for b in self.blobs.list() if b.modified < cutoff]
        orphans = 0
        for start in range(0, len(candidates), 500):
            batch = candidates[start : start + 500]
            with self.catalog.read() as session:
                used = session.blobs_in_use(batch)
            for blob_id in batch:
                if blob_id not in used:
                    self.blobs.delete(blob_id)
                    orphans += 1
        return SweepReport(orphan_blobs=orphans, partial_writes=partial)

    # --- internals -----------------------------------------------------------------

    def _record_write(
        self,
        bucket: str,
        new: NewVersion,
        event: EventName,
        context: RequestContext | None,
        source: ObjectVersion | None = None,
        small: bytes | None = None,
    ) -> ObjectVersion:
        def work(session: CatalogSession) -> tuple[ObjectVersion, list[str]]:
            return self.write_version(session, bucket, new, event, context, source, small)

        try:
            version, freed = self.catalog.run_write(work)
        except ChuteError:
            # The write was refused (missing bucket, vanished copy source): nothing points
            # at the new blob. Other failures may have struck during the commit, whose
            # outcome is then unknown; the sweep removes the blob if it is unreferenced.
            if source is None and new.blob_id is not None:
                self._delete_blobs([new.blob_id])
            raise
        self._delete_blobs(freed)
        return version

    def write_version(
        self,
        session: CatalogSession,
        bucket: str,
        new: NewVersion,
        event: EventName,
        context: RequestContext | None,
        source: ObjectVersion | None = None,
        small: bytes | None = None,
    ) -> tuple[ObjectVersion, list[str]]:
        """Record ``new`` (whose bytes are already durable) as the latest version of its
        key, with its event, inside the caller's transaction. Returns the version and the
        store blobs it left unreferenced, to delete once the transaction has committed."""
        freed: list[str] = []
        target = _bucket(session, bucket)
        if small is not None and new.blob_id is not None:
            session.add_small_blob(new.blob_id, small)
        if source is not None and not _still_there(session, source):
            raise NoSuchKey(f"the copy source {source.key!r} was deleted meanwhile")
        adding = new
        if target.versioning is Versioning.ENABLED:
            adding = dataclasses.replace(new, version_id=_new_version_id())
        else:
            self._drop_null_version(session, target, new.key, freed)
        unversioned = target.versioning is Versioning.UNVERSIONED
        version = session.add_version(
            target.id, adding, self.clock(), demote_latest=not unversioned
        )
        self._record_event(session, event, target, version, context)
        return version, _unused_blobs(session, freed)

    def delete_blobs_later(self, blob_ids: list[str]) -> None:
        """Delete store blobs a committed transaction left unreferenced."""
        self._delete_blobs(blob_ids)

    def _drop_null_version(
        self, session: CatalogSession, bucket: Bucket, key: str, freed: list[str]
    ) -> None:
        """Remove the key's ``null`` version, which a new write or marker replaces (so no
        older version is promoted to latest meanwhile)."""
        old = session.get_version(bucket.id, key, NULL_VERSION)
        if old is not None:
            session.remove_version(old, promote=False)
            _free_blob(old, freed)

    def _delete_version(
        self,
        session: CatalogSession,
        bucket: Bucket,
        key: str,
        version_id: str,
        freed: list[str],
        context: RequestContext | None,
    ) -> DeleteResult:
        version = session.get_version(bucket.id, key, version_id)
        if version is None:
            raise NoSuchVersion(f"no version {version_id!r} of key {key!r}")
        session.remove_version(version)
        _free_blob(version, freed)
        self._record_event(session, EventName.OBJECT_REMOVED_DELETE, bucket, version, context)
        return DeleteResult(version_id, version.is_delete_marker)

    def _delete_unversioned(
        self,
        session: CatalogSession,
        bucket: Bucket,
        key: str,
        freed: list[str],
        context: RequestContext | None,
    ) -> DeleteResult:
        version = session.latest_version(bucket.id, key)
        if version is not None:
            session.remove_version(version)
            _free_blob(version, freed)
            self._record_event(session, EventName.OBJECT_REMOVED_DELETE, bucket, version, context)
        return DeleteResult(None, False)

    def _add_delete_marker(
        self,
        session: CatalogSession,
        bucket: Bucket,
        key: str,
        version_id: str,
        context: RequestContext | None,
    ) -> DeleteResult:
        marker = NewVersion(
            key=key,
            version_id=version_id,
            blob_id=None,
            size=0,
            etag="",
            sha256="",
            content_type="",
            is_delete_marker=True,
        )
        version = session.add_version(bucket.id, marker, self.clock())
        self._record_event(
            session, EventName.OBJECT_REMOVED_DELETE_MARKER, bucket, version, context
        )
        return DeleteResult(version_id, True)

    def _record_event(
        self,
        session: CatalogSession,
        name: EventName,
        bucket: Bucket,
        version: ObjectVersion,
        context: RequestContext | None,
    ) -> None:
        context = context or RequestContext()
        created = name.startswith("ObjectCreated")
        fields: dict[str, Any] = {
            "event_time": self.clock(),
            "event_name": name.value,
            "region": self.region,
            "bucket": bucket.name,
            "key": version.key,
            "version_id": (
                None if bucket.versioning is Versioning.UNVERSIONED else version.version_id
            ),
            "size": version.size if created else None,
            "etag": version.etag if created else None,
            "principal": context.principal,
            "source_ip": context.source_ip,
            "request_id": context.request_id,
        }
        event_id = session.record_event(**fields)
        if self.on_event is not None:
            self.on_event(session, EventRow(id=event_id, **fields), version)

    def _delete_blobs(self, blob_ids: list[str]) -> None:
        """Delete store blobs after a commit (small blobs go with their transaction)."""
        for blob_id in blob_ids:
            if is_small_blob(blob_id):
                continue
            try:
                self.blobs.delete(blob_id)
            except Exception:  # the sweep will get it; the write itself succeeded
                log.warning("could not delete unreferenced blob %s", blob_id, exc_info=True)

    def _too_large(self, size: int) -> str:
        return f"object of {size} bytes exceeds the maximum of {self.max_object_size} bytes"


def _bucket(session: CatalogSession, name: str) -> Bucket:
    bucket = session.get_bucket(name)
    if bucket is None:
        raise NoSuchBucket(f"no bucket {name!r}")
    return bucket


def _free_blob(version: ObjectVersion, freed: list[str]) -> None:
    """Note ``version``'s blob as possibly unused; :func:`_unused_blobs` decides."""
    if version.blob_id is not None:
        freed.append(version.blob_id)


def _unused_blobs(session: CatalogSession, candidates: list[str]) -> list[str]:
    """Of the blobs a transaction stopped pointing at, those nothing points at any more.
    Call it last in the transaction: a copy may share a blob with the version it replaced."""
    if not candidates:
        return []
    unused = [blob_id for blob_id in set(candidates) if not session.blob_in_use(blob_id)]
    for blob_id in unused:
        if is_small_blob(blob_id):
            session.delete_small_blob(blob_id)
    return [blob_id for blob_id in unused if not is_small_blob(blob_id)]


def is_small_blob(blob_id: str) -> bool:
    """Whether a blob id names bytes kept in the catalog rather than the blob store."""
    return blob_id.startswith(SMALL_BLOB_PREFIX)


def _small_blob_info(data: bytes) -> BlobInfo:
    return BlobInfo(
        blob_id=SMALL_BLOB_PREFIX + uuid.uuid4().hex,
        size=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _still_there(session: CatalogSession, version: ObjectVersion) -> bool:
    bucket_version = session.get_version(version.bucket_id, version.key, version.version_id)
    return bucket_version is not None and bucket_version.blob_id == version.blob_id


def _new_version_id() -> str:
    return uuid.uuid4().hex


def _decode_md5(content_md5: str | None) -> str | None:
    if content_md5 is None:
        return None
    try:
        digest = base64.b64decode(content_md5, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise InvalidArgument("Content-MD5 must be the base64 of a 16-byte MD5 digest")
    return digest.hex()
