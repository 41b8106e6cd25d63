"""Writes: puts, copies and deletes, with S3's versioning semantics.

A put stages the body as a blob (inline up to the inline limit, else in the blob store,
registered before its first byte is written), then records the version and its event in
one catalog transaction (the transactional outbox). If anything fails before that
commit, the blob is deleted; if the process dies in between, the registry row it left
is found by the sweep. Nothing half-written is ever visible.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from chute.blobs import BlobStore, StagedBlob, inline_record, stage
from chute.blobs.checksums import ExpectedChecksum
from chute.blobs.records import BlobKind, BlobRecord
from chute.catalog import (
    NULL_VERSION,
    Bucket,
    Catalog,
    CatalogSession,
    NewVersion,
    ObjectVersion,
    Versioning,
)
from chute.clock import Clock
from chute.context import RequestContext
from chute.errors import (
    BadDigest,
    BlobError,
    ChuteError,
    EntityTooLarge,
    IncompleteBody,
    NoSuchKey,
    NoSuchVersion,
    XAmzContentSHA256Mismatch,
)
from chute.events import EventName
from chute.names import check_content_type, check_headers, check_key, check_metadata
from chute.objects.buckets import require_bucket
from chute.objects.event_log import EventLog
from chute.objects.records import DeleteResult

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: How often an upload in progress renews its blob's reservation: the sweep removes a
#: reservation only once it is older than the grace period (an hour by default).
RENEW_SECONDS = 60.0
#: A write's work in its transaction: the version written and the blobs it freed.
Written = tuple[ObjectVersion, list[BlobRecord]]


def plain_etag(md5: str) -> str:
    """The ETag of an object stored in one piece: the hex MD5 of its bytes, as in S3.
    (A multipart object's ETag is not an MD5 of its bytes; keep the two apart.)"""
    return md5


class Writes:
    """Puts, copies and deletes of object versions."""

    def __init__(
        self,
        catalog: Catalog,
        store: BlobStore,
        events: EventLog,
        clock: Clock,
        max_object_size: int,
        inline_limit: int,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.events = events
        self.clock = clock
        self.max_object_size = max_object_size
        #: Objects up to this size keep their bytes in the catalog (inline blobs).
        self.inline_limit = inline_limit

    # --- put and copy ----------------------------------------------------------------

    def put(
        self,
        bucket: str,
        key: str,
        body: Iterable[bytes],
        *,
        context: RequestContext,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        expected_size: int | None = None,
        md5: str | None = None,
        sha256: str | None = None,
        headers: dict[str, str] | None = None,
        checksum: ExpectedChecksum | None = None,
        event: EventName = EventName.OBJECT_CREATED_PUT,
    ) -> ObjectVersion:
        """Store ``body`` as the new latest version of ``bucket/key``.

        ``expected_size`` (Content-Length), ``md5`` (hex, from Content-MD5), ``sha256``
        (hex, the signed payload hash) and ``checksum`` (an ``x-amz-checksum-*`` value,
        checked as the body ends) are checked before anything is recorded; ``headers``
        are content headers kept with the version. ``event`` names how it arrived
        (``ObjectCreated:Post`` for a browser's form)."""
        check_key(key)
        content_type = check_content_type(content_type or DEFAULT_CONTENT_TYPE)
        metadata = check_metadata(metadata or {})
        headers = check_headers(headers or {})
        if checksum is not None:
            body = checksum.through(body)
        if expected_size is not None and expected_size > self.max_object_size:
            raise EntityTooLarge(self._too_large(expected_size))
        if not isinstance(body, list | tuple):
            with self.catalog.read() as session:  # fail before consuming a stream
                require_bucket(session, bucket)
        staged = self.stage(body)
        try:
            check_body(staged, expected_size, md5, sha256)
        except ChuteError:
            self.discard(staged)
            raise
        info = staged.info
        new = NewVersion(
            key, NULL_VERSION, info.blob_id, info.size, plain_etag(info.md5), info.sha256,
            content_type, metadata, headers=headers,
            checksum=checksum.result() if checksum is not None else None,
        )  # fmt: skip

        def work(session: CatalogSession) -> Written:
            self.register(session, staged, reserved=True)
            return self.write_version(session, bucket, new, event, context)

        return self.commit(work, staged)

    def copy(
        self,
        source: ObjectVersion,
        bucket: str,
        key: str,
        *,
        context: RequestContext,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> ObjectVersion:
        """Copy ``source`` server-side: the new version shares its immutable blob, so no
        byte moves. ``metadata``, ``content_type`` and ``headers`` replace the source's
        when given."""
        check_key(key)
        if content_type is not None:
            check_content_type(content_type)
        if metadata is not None:
            metadata = check_metadata(metadata)
        if headers is not None:
            headers = check_headers(headers)
        new = NewVersion(
            key=key,
            version_id=NULL_VERSION,
            blob_id=source.blob_id,
            size=source.size,
            etag=source.etag,
            sha256=source.sha256,
            content_type=content_type or source.content_type,
            user_metadata=source.user_metadata if metadata is None else dict(metadata),
            headers=source.headers if headers is None else headers,
            checksum=source.checksum,
            parts_count=source.parts_count,
        )

        def work(session: CatalogSession) -> Written:
            event = EventName.OBJECT_CREATED_COPY
            return self.write_version(session, bucket, new, event, context, source)

        return self.commit(work, None)

    # --- delete ----------------------------------------------------------------------

    def delete(
        self, bucket: str, key: str, version_id: str | None, context: RequestContext
    ) -> DeleteResult:
        """Delete a key as S3 does: a specific version is removed for good; without a
        version id, a versioned bucket gets a delete marker and an unversioned one loses
        the object. Deleting a missing key is not an error."""
        check_key(key)

        def work(session: CatalogSession) -> tuple[DeleteResult, list[BlobRecord]]:
            freed: list[str] = []
            target = require_bucket(session, bucket)
            if version_id is not None:
                result = self._delete_version(session, target, key, version_id, freed, context)
            elif target.versioning is Versioning.ENABLED:
                result = self._add_delete_marker(session, target, key, _new_version_id(), context)
            elif target.versioning is Versioning.SUSPENDED:
                self._drop_null_version(session, target, key, freed)
                result = self._add_delete_marker(session, target, key, NULL_VERSION, context)
            else:
                result = self._delete_unversioned(session, target, key, freed, context)
            return result, session.blobs.release(freed)

        result, freed = self.catalog.run_write(work)
        self.free(freed)
        return result

    # --- recording, in the caller's transaction --------------------------------------

    def write_version(
        self,
        session: CatalogSession,
        bucket: str,
        new: NewVersion,
        event: EventName,
        context: RequestContext,
        source: ObjectVersion | None = None,
    ) -> Written:
        """Record ``new`` (whose blob is registered and durable) as the latest version of
        its key, with its event, inside the caller's transaction. Returns the version and
        the store blobs it left unreferenced, to :meth:`free` once committed."""
        freed: list[str] = []
        target = require_bucket(session, bucket)
        if source is not None and not still_there(session, source):
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
        self.events.record(session, event, target, version, context)
        return version, session.blobs.release(freed)

    def register(self, session: CatalogSession, staged: StagedBlob, *, reserved: bool) -> None:
        """Put a staged blob in the registry, in the transaction of its version: an
        inline one with its bytes; a store one completed (``reserved``: registered before
        its bytes were written) or added."""
        info = staged.info
        if staged.inline is not None or not reserved:
            self.register_all(session, [staged])
        elif not session.blobs.complete(info.blob_id, info.size, info.md5, info.sha256):
            raise BlobError(
                f"blob {info.blob_id} was swept before its write committed: the write took "
                "longer than sweep_grace_seconds"
            )

    def register_all(self, session: CatalogSession, staged: Sequence[StagedBlob]) -> None:
        """Add staged blobs that were not reserved to the registry in one statement:
        inline ones with their bytes, store ones whose bytes are written."""
        created = self.clock()
        entries: list[tuple[BlobRecord, bytes | None]] = []
        for blob in staged:
            info = blob.info
            if blob.inline is not None:
                entries.append((inline_record(info, created), blob.inline))
            else:
                record = BlobRecord(
                    info.blob_id, BlobKind.STORE, info.size, info.md5, info.sha256,
                    info.blob_id, created,
                )  # fmt: skip
                entries.append((record, None))
        session.blobs.add_many(entries)

    def free(self, records: list[BlobRecord]) -> None:
        """Delete the bytes of store blobs a committed transaction left unreferenced, then
        their registry rows. A failure leaves the row, for the sweep to try again."""
        deleted = []
        for record in records:
            try:
                if record.location is not None:
                    self.store.delete(record.location)
                deleted.append(record.id)
            except Exception:  # the write itself succeeded; the sweep will get it
                log.warning("could not delete unreferenced blob %s", record.id, exc_info=True)
        if deleted:
            self._quietly(lambda session: session.blobs.remove(deleted))

    # --- staging and committing, for every write of this package ---------------------

    def stage(
        self, body: Iterable[bytes], max_size: int | None = None, *, inline: bool = True
    ) -> StagedBlob:
        """Take ``body`` in as a blob (inline if small, unless not ``inline``: a blob a
        worker must fetch from the store), a store blob registered before its first byte
        is written and its reservation renewed while the bytes come; ``EntityTooLarge``
        past ``max_size`` (default: the largest object)."""
        reserved: list[str] = []

        def reserve(blob_id: str) -> None:
            created = self.clock()
            self.catalog.run_write(lambda session: session.blobs.reserve(blob_id, blob_id, created))
            reserved.append(blob_id)

        try:
            return stage(
                self._keeping_alive(body, reserved), self.store,
                self.inline_limit if inline else 0,
                max_size=self.max_object_size if max_size is None else max_size,
                reserve=reserve,
            )  # fmt: skip
        except BaseException:
            if reserved:  # the writer removed the bytes; drop the row too
                self._quietly(lambda session: session.blobs.remove(reserved))
            raise

    def _keeping_alive(self, body: Iterable[bytes], reserved: list[str]) -> Iterator[bytes]:
        """The body's chunks; while they come, the reservation of the blob they go to is
        renewed every :data:`RENEW_SECONDS`, so the sweep leaves a long upload alone."""
        renewed = time.monotonic()
        for chunk in body:
            if reserved and time.monotonic() - renewed >= RENEW_SECONDS:
                self._renew(reserved[0])
                renewed = time.monotonic()
            yield chunk

    def _renew(self, blob_id: str) -> None:
        moment = self.clock()
        self.catalog.run_write(lambda session: session.blobs.renew(blob_id, moment))

    def commit(
        self,
        work: Callable[[CatalogSession], tuple[T, list[BlobRecord]]],
        staged: StagedBlob | None,
    ) -> T:
        """Run ``work`` (which records ``staged``, if any) in a write transaction, then
        free the store blobs it left unreferenced; returns what it returned. A refused
        write discards ``staged``."""
        try:
            result, freed = self.catalog.run_write(work)
        except ChuteError:
            # The write was refused (missing bucket, vanished copy source): nothing points
            # at the new blob. Other failures may have struck during the commit, whose
            # outcome is then unknown; the sweep removes the blob if it is unreferenced.
            if staged is not None:
                self.discard(staged)
            raise
        self.free(freed)
        return result

    def discard(self, staged: StagedBlob) -> None:
        """Throw away a staged blob nothing will reference."""
        if staged.inline is not None:
            return  # never registered: its bytes were only ever in memory
        blob_id = staged.info.blob_id
        try:
            self.store.delete(blob_id)
        except Exception:
            log.warning("could not delete refused blob %s", blob_id, exc_info=True)
            return
        self._quietly(lambda session: session.blobs.remove([blob_id]))

    def _quietly(self, work: Callable[[CatalogSession], None]) -> None:
        """Tidy the registry; a failure only leaves work for the sweep."""
        try:
            self.catalog.run_write(work)
        except Exception:
            log.warning("could not update the blob registry; the sweep will", exc_info=True)

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
        context: RequestContext,
    ) -> DeleteResult:
        version = session.get_version(bucket.id, key, version_id)
        if version is None:
            raise NoSuchVersion(f"no version {version_id!r} of key {key!r}")
        session.remove_version(version)
        _free_blob(version, freed)
        self.events.record(session, EventName.OBJECT_REMOVED_DELETE, bucket, version, context)
        return DeleteResult(version_id, version.is_delete_marker)

    def _delete_unversioned(
        self,
        session: CatalogSession,
        bucket: Bucket,
        key: str,
        freed: list[str],
        context: RequestContext,
    ) -> DeleteResult:
        version = session.latest_version(bucket.id, key)
        if version is not None:
            session.remove_version(version)
            _free_blob(version, freed)
            self.events.record(session, EventName.OBJECT_REMOVED_DELETE, bucket, version, context)
        return DeleteResult(None, False)

    def _add_delete_marker(
        self,
        session: CatalogSession,
        bucket: Bucket,
        key: str,
        version_id: str,
        context: RequestContext,
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
        event = EventName.OBJECT_REMOVED_DELETE_MARKER
        self.events.record(session, event, bucket, version, context)
        return DeleteResult(version_id, True)

    def _too_large(self, size: int) -> str:
        return f"object of {size} bytes exceeds the maximum of {self.max_object_size} bytes"


def check_body(
    staged: StagedBlob, expected_size: int | None, md5: str | None, sha256: str | None
) -> None:
    """Refuse a staged body whose size, MD5 (hex) or SHA-256 (hex) differ from what the
    request declared."""
    size = staged.info.size
    if expected_size is not None and size != expected_size:
        raise IncompleteBody(f"received {size} bytes; Content-Length said {expected_size}")
    if md5 is not None and md5 != staged.info.md5:
        raise BadDigest()
    if sha256 is not None and sha256 != staged.info.sha256:
        raise XAmzContentSHA256Mismatch(sha256, staged.info.sha256)


def _free_blob(version: ObjectVersion, freed: list[str]) -> None:
    """Note ``version``'s blob as possibly unused; ``BlobRegistry.release`` decides."""
    if version.blob_id is not None:
        freed.append(version.blob_id)


def still_there(session: CatalogSession, version: ObjectVersion) -> bool:
    """Whether ``version`` still exists, with the same blob (a copy source, say)."""
    current = session.get_version(version.bucket_id, version.key, version.version_id)
    return current is not None and current.blob_id == version.blob_id


def _new_version_id() -> str:
    return uuid.uuid4().hex
