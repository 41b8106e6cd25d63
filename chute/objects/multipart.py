"""Multipart uploads, as S3 defines them: create, upload parts (or copy them from other
objects), complete, abort, list.

Each part is staged like any upload (:meth:`Writes.stage`: inline if small, else a store
blob registered before its first byte) and recorded as a part row, which keeps its blob
alive. Completion writes no byte: the new version references a composite blob whose
segments are the listed parts' blobs, registered in the transaction that records the
version, its ``ObjectCreated:CompleteMultipartUpload`` event, and removes the upload.
Parts the completion does not list, and the parts of an aborted or expired upload, are
freed at once.

What a completed object carries that an object stored in one piece does not:

* its ETag is the hex MD5 of the concatenated binary MD5s of its parts, then ``-N``;
* its SHA-256 is unknown (``""``): no byte is read to complete it. Readers that check
  content (``meta.extract``) treat an empty recorded digest as "nothing to compare";
* its checksum, if the upload was created with an algorithm, is COMPOSITE (the checksum
  of the parts' checksums, ``-N``) or FULL_OBJECT (the CRCs of the parts combined);
* ``parts_count``, which :meth:`Reads.part_range` serves single parts with.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import secrets
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from chute.blobs import BlobKind, BlobRecord, StagedBlob
from chute.blobs.base import new_blob_id
from chute.blobs.checksums import (
    Checksum,
    ChecksumAlgorithm,
    ChecksumType,
    ExpectedChecksum,
    combine,
    composite,
)
from chute.blobs.records import Segment
from chute.catalog import (
    NULL_VERSION,
    Catalog,
    CatalogSession,
    NewVersion,
    ObjectVersion,
    Part,
    Upload,
)
from chute.clock import Clock
from chute.context import RequestContext
from chute.errors import (
    BadDigest,
    ChuteError,
    EntityTooLarge,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
    MalformedXML,
    NoSuchKey,
    NoSuchUpload,
)
from chute.events import EventName
from chute.names import (
    after_prefix,
    check_content_type,
    check_headers,
    check_key,
    check_metadata,
    check_prefix,
)
from chute.objects.buckets import require_bucket
from chute.objects.reads import Reads, check_part_number
from chute.objects.records import ExpiryReport, PartsPage, UploadsPage
from chute.objects.writes import DEFAULT_CONTENT_TYPE, Writes, check_body, still_there

log = logging.getLogger(__name__)

#: The largest part, uploaded or copied (S3: 5 GiB).
MAX_PART_SIZE = 5 * 1024**3
#: Most parts or uploads one listing page holds.
MAX_LISTED = 1000
#: The maintenance lease an expiry pass holds.
LEASE = "multipart-expiry"
LEASE_SECONDS = 300.0
#: Uploads aborted per transaction by an expiry pass.
BATCH = 200

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: What upload ids look like (see :class:`_UploadIds`): anything else names no upload.
_UPLOAD_ID = re.compile(r"[0-9a-f]{1,64}")
#: A part as CompleteMultipartUpload lists it: number, ETag, checksum (or ``None``).
ListedPart = tuple[int, str, str | None]


class Multipart:
    """Multipart uploads over the catalog and the blob store (see the module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        writes: Writes,
        reads: Reads,
        clock: Clock,
        min_part_size: int,
        holder: str,
    ) -> None:
        self.catalog = catalog
        self.writes = writes
        self.reads = reads
        self.clock = clock
        #: Every part but the last must be at least this big when the upload completes.
        self.min_part_size = min_part_size
        #: This process's name for the expiry lease.
        self.holder = holder
        self._ids = _UploadIds(clock)

    # --- create ----------------------------------------------------------------------

    def create(
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
        """Begin an upload of ``bucket/key``: what the object will be, and the checksum
        its parts must carry (see :func:`upload_checksum_type` for the defaults)."""
        check_key(key)
        content_type = check_content_type(content_type or DEFAULT_CONTENT_TYPE)
        metadata = check_metadata(metadata or {})
        headers = check_headers(headers or {})
        checksum_type = upload_checksum_type(checksum_algorithm, checksum_type)

        def work(session: CatalogSession) -> Upload:
            target = require_bucket(session, bucket)
            upload = Upload(
                self._ids.new(), target.id, key, content_type, metadata, headers,
                checksum_algorithm, checksum_type, context.principal, self.clock(),
            )  # fmt: skip
            session.multipart.add_upload(upload)
            return upload

        return self.catalog.run_write(work)

    # --- parts -----------------------------------------------------------------------

    def upload_part(
        self,
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
        """Store ``body`` as part ``part_number``, replacing (and freeing) a part of that
        number. ``expected_size``, ``md5``, ``sha256`` and ``checksum`` are checked as
        for a put; an upload created with a checksum algorithm needs that algorithm's
        checksum with each part (one of FULL_OBJECT type is computed if none came)."""
        check_key(key)
        check_part_number(part_number)
        if expected_size is not None and expected_size > MAX_PART_SIZE:
            raise EntityTooLarge(f"a part may have at most {MAX_PART_SIZE} bytes")
        upload = self._find(bucket, key, upload_id)
        checksum = _part_checksum(upload, checksum)
        if checksum is not None:
            body = checksum.through(body)
        staged = self.writes.stage(body, MAX_PART_SIZE)
        try:
            check_body(staged, expected_size, md5, sha256)
        except ChuteError:
            self.writes.discard(staged)
            raise
        return self._record_part(bucket, key, upload, part_number, staged, checksum)

    def upload_part_copy(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source: ObjectVersion,
        byte_range: tuple[int, int] | None = None,
    ) -> Part:
        """Make bytes ``[start, end)`` of ``source`` (all of it by default) part
        ``part_number``. A whole source stored in one piece is shared, not copied, when
        the part needs no checksum the source lacks: blobs are immutable."""
        check_key(key)
        check_part_number(part_number)
        start, end = _copy_range(source, byte_range)
        upload = self._find(bucket, key, upload_id)
        shared = self._shared_part(upload, part_number, source, start, end)
        if shared is not None:
            return self._record_shared(bucket, key, shared, source)
        checksum = None
        if upload.checksum_algorithm is not None:
            checksum = ExpectedChecksum(upload.checksum_algorithm, required=False)
        read = self.reads.read(source, (start, end))
        try:
            body = read.body if checksum is None else checksum.through(read.body)
            staged = self.writes.stage(body, MAX_PART_SIZE)
        finally:
            read.body.close()
        return self._record_part(bucket, key, upload, part_number, staged, checksum)

    # --- complete and abort ----------------------------------------------------------

    def complete(
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
        """Compose the listed parts (ascending numbers, each with the ETag its upload
        answered) into the new latest version of ``bucket/key``, without copying a
        byte; free the parts not listed and remove the upload, in one transaction.

        ``expected_checksum`` (an ``x-amz-checksum-*`` value sent with the request) and
        ``checksum_type`` must match what the upload's parts make (``BadDigest``)."""
        check_key(key)
        if not parts:
            raise MalformedXML("a CompleteMultipartUpload request must list at least one part")
        numbers = [number for number, _, _ in parts]
        if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
            raise InvalidPartOrder()

        def work(session: CatalogSession) -> tuple[ObjectVersion, list[BlobRecord]]:
            upload = _require_upload(session, bucket, key, upload_id)
            chosen = self._chosen(upload, parts, session.multipart.parts(upload.id))
            checksum = _object_checksum(upload, chosen, expected_checksum, checksum_type)
            new = self._compose(session, upload, chosen, checksum)
            event = EventName.OBJECT_CREATED_COMPLETE_MULTIPART
            version, freed = self.writes.write_version(session, bucket, new, event, context)
            part_blobs = session.multipart.remove_uploads([upload.id])
            return version, freed + session.blobs.release(part_blobs)

        return self.writes.commit(work, None)

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        """Remove the upload and free its parts."""
        check_key(key)

        def work(session: CatalogSession) -> tuple[None, list[BlobRecord]]:
            upload = _require_upload(session, bucket, key, upload_id)
            part_blobs = session.multipart.remove_uploads([upload.id])
            return None, session.blobs.release(part_blobs)

        self.writes.commit(work, None)

    def expire(self, older_than: timedelta) -> ExpiryReport:
        """Abort every upload begun more than ``older_than`` ago, freeing its parts; one
        process at a time (a maintenance lease), a batch per transaction."""
        if not self._take_lease():
            return ExpiryReport(skipped=True)
        aborted = 0
        try:
            cutoff = self.clock() - older_than

            def work(session: CatalogSession) -> tuple[int, list[BlobRecord]]:
                uploads = session.multipart.initiated_before(cutoff, BATCH)
                part_blobs = session.multipart.remove_uploads(u.id for u in uploads)
                return len(uploads), session.blobs.release(part_blobs)

            while self._take_lease():
                count = self.writes.commit(work, None)
                aborted += count
                if count < BATCH:
                    break
        finally:
            self.catalog.run_write(lambda session: session.leases.drop(LEASE, self.holder))
        return ExpiryReport(aborted)

    # --- listing ---------------------------------------------------------------------

    def list_parts(
        self, bucket: str, key: str, upload_id: str, part_number_marker: int, max_parts: int
    ) -> PartsPage:
        """The upload's parts numbered above ``part_number_marker``, at most
        ``max_parts`` (0..1000) of them."""
        check_key(key)
        _check_page_size("max-parts", max_parts)
        if part_number_marker < 0:
            raise InvalidArgument("part-number-marker must be a part number or 0")
        with self.catalog.read() as session:
            upload = _require_upload(session, bucket, key, upload_id)
            rows = []
            if max_parts:
                rows = session.multipart.parts(upload.id, part_number_marker, max_parts + 1)
        parts = rows[:max_parts]
        return PartsPage(
            upload,
            parts,
            part_number_marker,
            max_parts,
            is_truncated=len(rows) > max_parts,
            next_part_number_marker=parts[-1].part_number if parts else None,
        )

    def list_uploads(
        self,
        bucket: str,
        prefix: str,
        delimiter: str | None,
        key_marker: str | None,
        upload_id_marker: str | None,
        max_uploads: int,
    ) -> UploadsPage:
        """A page of the bucket's uploads in progress under ``prefix`` (see
        :class:`UploadsPage`). ``upload_id_marker`` resumes inside ``key_marker`` after
        that upload; without it, after every upload of ``key_marker``."""
        _check_page_size("max-uploads", max_uploads)
        for text in (prefix, key_marker or "", upload_id_marker or ""):
            check_prefix(text)  # nothing a key could not hold reaches the database
        page = UploadsPage()
        if max_uploads == 0:
            return page
        with self.catalog.read() as session:
            bucket_id = require_bucket(session, bucket).id
            cursor = _start(prefix, delimiter, key_marker, upload_id_marker)
            return _fill(session, bucket_id, page, cursor, prefix, delimiter, max_uploads)

    # --- internals -------------------------------------------------------------------

    def _find(self, bucket: str, key: str, upload_id: str) -> Upload:
        with self.catalog.read() as session:
            return _require_upload(session, bucket, key, upload_id)

    def _record_part(
        self,
        bucket: str,
        key: str,
        upload: Upload,
        part_number: int,
        staged: StagedBlob,
        checksum: ExpectedChecksum | None,
    ) -> Part:
        info = staged.info
        value = None
        if upload.checksum_algorithm is not None and checksum is not None:
            value = checksum.computed
        part = Part(upload.id, part_number, info.blob_id, info.size, info.md5, value, self.clock())

        def work(session: CatalogSession) -> tuple[Part, list[BlobRecord]]:
            _require_upload(session, bucket, key, upload.id)  # not aborted meanwhile
            self.writes.register(session, staged, reserved=True)
            return part, _put_part(session, part)

        return self.writes.commit(work, staged)

    def _shared_part(
        self, upload: Upload, part_number: int, source: ObjectVersion, start: int, end: int
    ) -> Part | None:
        """The part that shares ``source``'s blob, if it may: the whole of a blob stored
        in one piece, with the checksum the upload needs known already."""
        if source.blob_id is None or (start, end) != (0, source.size):
            return None
        value = None
        if upload.checksum_algorithm is not None:
            known = source.checksum
            if known is None or known.type is not ChecksumType.FULL_OBJECT:
                return None
            if known.algorithm is not upload.checksum_algorithm:
                return None
            value = known.value
        with self.catalog.read() as session:
            record = session.blobs.get(source.blob_id)
        if record is None or record.kind is BlobKind.COMPOSITE or record.md5 is None:
            return None
        return Part(upload.id, part_number, record.id, source.size, record.md5, value, self.clock())

    def _record_shared(self, bucket: str, key: str, part: Part, source: ObjectVersion) -> Part:
        def work(session: CatalogSession) -> tuple[Part, list[BlobRecord]]:
            _require_upload(session, bucket, key, part.upload_id)
            if not still_there(session, source):
                raise NoSuchKey(f"the copy source {source.key!r} was deleted meanwhile")
            return part, _put_part(session, part)

        return self.writes.commit(work, None)

    def _chosen(
        self, upload: Upload, listed: Sequence[ListedPart], stored: list[Part]
    ) -> list[Part]:
        """The stored parts ``listed`` names, checked as S3 checks them."""
        by_number = {part.part_number: part for part in stored}
        chosen = []
        for number, etag, checksum in listed:
            part = by_number.get(number)
            if part is None or _unquoted(etag) != part.etag:
                raise InvalidPart()
            _check_listed_checksum(upload, part, checksum)
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < self.min_part_size:
                raise EntityTooSmall(
                    f"part {part.part_number} has {part.size} bytes; every part but the "
                    f"last needs at least {self.min_part_size}"
                )
        return chosen

    def _compose(
        self,
        session: CatalogSession,
        upload: Upload,
        parts: list[Part],
        checksum: Checksum | None,
    ) -> NewVersion:
        """Register the composite blob of ``parts`` and describe the version made of it."""
        size = sum(part.size for part in parts)
        blob_id = new_blob_id()
        record = BlobRecord(blob_id, BlobKind.COMPOSITE, size, None, None, None, self.clock())
        session.blobs.add(record)
        session.blobs.add_segments(blob_id, [Segment(p.blob_id, p.size) for p in parts])
        return NewVersion(
            key=upload.key,
            version_id=NULL_VERSION,
            blob_id=blob_id,
            size=size,
            etag=multipart_etag(parts),
            sha256="",  # unknown: completing reads no byte (see the module docstring)
            content_type=upload.content_type,
            user_metadata=dict(upload.user_metadata),
            headers=dict(upload.headers),
            checksum=checksum,
            parts_count=len(parts),
        )

    def _take_lease(self) -> bool:
        now = self.clock()
        until = now + timedelta(seconds=LEASE_SECONDS)
        return self.catalog.run_write(
            lambda session: session.leases.take(LEASE, self.holder, now, until)
        )


# --- rules ----------------------------------------------------------------------------


def upload_checksum_type(
    algorithm: ChecksumAlgorithm | None, kind: ChecksumType | None
) -> ChecksumType | None:
    """The checksum type of an upload created with ``algorithm`` and ``kind``, as S3
    decides it: COMPOSITE by default, except for CRC64NVME, which is FULL_OBJECT only;
    FULL_OBJECT only for the CRCs. ``InvalidRequest`` otherwise."""
    if algorithm is None:
        if kind is not None:
            raise InvalidRequest(
                "The x-amz-checksum-type header can only be used with the "
                "x-amz-checksum-algorithm header."
            )
        return None
    if algorithm is ChecksumAlgorithm.CRC64NVME:
        kind = kind or ChecksumType.FULL_OBJECT
    kind = kind or ChecksumType.COMPOSITE
    full_only = algorithm is ChecksumAlgorithm.CRC64NVME
    if (kind is ChecksumType.FULL_OBJECT and not algorithm.is_crc) or (
        kind is ChecksumType.COMPOSITE and full_only
    ):
        raise InvalidRequest(
            f"The {kind.value} checksum type cannot be used with the "
            f"{algorithm.value.lower()} checksum algorithm."
        )
    return kind


def multipart_etag(parts: Sequence[Part]) -> str:
    """S3's ETag of a multipart object: the hex MD5 of the parts' binary MD5s, ``-N``."""
    digest = hashlib.md5(usedforsecurity=False)
    for part in parts:
        digest.update(bytes.fromhex(part.md5))
    return f"{digest.hexdigest()}-{len(parts)}"


def _part_checksum(upload: Upload, given: ExpectedChecksum | None) -> ExpectedChecksum | None:
    """The checksum to compute over a part's bytes (and check, if a value came)."""
    algorithm = upload.checksum_algorithm
    if algorithm is None:
        return given  # checked if sent, but kept by no part
    if given is None:
        if upload.checksum_type is ChecksumType.FULL_OBJECT:
            return ExpectedChecksum(algorithm, required=False)
        raise _type_mismatch(algorithm, None)
    if given.algorithm is not algorithm:
        raise _type_mismatch(algorithm, given.algorithm)
    return given


def _type_mismatch(expected: ChecksumAlgorithm, actual: ChecksumAlgorithm | None) -> InvalidRequest:
    name = actual.value.lower() if actual is not None else "null"
    return InvalidRequest(
        f"Checksum Type mismatch occurred, expected checksum Type: {expected.value.lower()}, "
        f"actual checksum Type: {name}"
    )


def _check_listed_checksum(upload: Upload, part: Part, checksum: str | None) -> None:
    algorithm = upload.checksum_algorithm
    if algorithm is None:
        return
    if checksum is None:
        if upload.checksum_type is ChecksumType.COMPOSITE:
            raise InvalidRequest(
                f"The upload was created using a {algorithm.value.lower()} checksum. The "
                "complete request must include the checksum for each part. It was missing "
                f"for part {part.part_number} in the request."
            )
        return
    if checksum != part.checksum:
        raise InvalidPart(
            f"the {algorithm.header} listed for part {part.part_number} is not the part's"
        )


def _object_checksum(
    upload: Upload,
    parts: list[Part],
    expected: tuple[ChecksumAlgorithm, str] | None,
    kind: ChecksumType | None,
) -> Checksum | None:
    """The completed object's checksum, from its parts', compared with what the client
    expects."""
    algorithm = upload.checksum_algorithm
    if kind is not None and kind is not upload.checksum_type:
        raise BadDigest(
            f"the upload was created with checksum type {upload.checksum_type}, not {kind}"
        )
    if algorithm is None or upload.checksum_type is None:
        if expected is not None:
            raise BadDigest("the upload was created without a checksum algorithm")
        return None
    values = [part.checksum for part in parts]
    if any(value is None for value in values):  # every part of such an upload keeps one
        raise ChuteError(f"a part of upload {upload.id} has no {algorithm} checksum")
    known = [value for value in values if value is not None]
    if upload.checksum_type is ChecksumType.COMPOSITE:
        value = composite(algorithm, known)
    else:
        value = combine(algorithm, [(v, p.size) for v, p in zip(known, parts, strict=True)])
    if expected is not None:
        wanted_algorithm, wanted = expected
        # A composite value may be sent with or without its ``-N``.
        accepted = {value, value.rpartition("-")[0]} - {""}
        if wanted_algorithm is not algorithm or wanted not in accepted:
            raise BadDigest(
                f"The {wanted_algorithm.header} you specified did not match the calculated "
                "checksum."
            )
    return Checksum(algorithm, value, upload.checksum_type)


def _copy_range(source: ObjectVersion, byte_range: tuple[int, int] | None) -> tuple[int, int]:
    start, end = byte_range or (0, source.size)
    if byte_range is not None and not 0 <= start < end <= source.size:
        raise InvalidArgument(
            f"Range specified is not valid for source object of size: {source.size}"
        )
    if end - start > MAX_PART_SIZE:
        raise InvalidRequest(
            "The specified copy source is larger than the maximum allowable size for a "
            f"copy source: {MAX_PART_SIZE}"
        )
    return start, end


def _check_page_size(name: str, value: int) -> None:
    if not 0 <= value <= MAX_LISTED:
        raise InvalidArgument(f"{name} must be between 0 and {MAX_LISTED}")


def _unquoted(etag: str) -> str:
    return etag.strip().strip('"').lower()


def _require_upload(session: CatalogSession, bucket: str, key: str, upload_id: str) -> Upload:
    """The upload ``upload_id`` of ``bucket/key``; ``NoSuchUpload`` if there is none (an
    unknown id, an upload completed or aborted, or one of another key)."""
    target = require_bucket(session, bucket)
    upload = session.multipart.get_upload(upload_id) if _UPLOAD_ID.fullmatch(upload_id) else None
    if upload is None or upload.bucket_id != target.id or upload.key != key:
        raise NoSuchUpload()
    return upload


def _put_part(session: CatalogSession, part: Part) -> list[BlobRecord]:
    """Record ``part``; release the blob of the part it replaced."""
    replaced = session.multipart.put_part(part)
    return session.blobs.release([replaced]) if replaced is not None else []


# --- listing uploads -----------------------------------------------------------------


class _Cursor:
    """Where the next range scan of uploads starts."""

    __slots__ = ("after_id", "inclusive", "lower")

    def __init__(self, lower: str, inclusive: bool = True, after_id: str | None = None) -> None:
        self.lower, self.inclusive, self.after_id = lower, inclusive, after_id

    def past_upload(self, upload: Upload) -> None:
        self.lower, self.inclusive, self.after_id = upload.key, False, upload.id

    def past_prefix(self, prefix: str) -> bool:
        bound = after_prefix(prefix)
        if bound is None:
            return False
        self.lower, self.inclusive, self.after_id = bound, True, None
        return True


def _common_prefix(key: str, prefix: str, delimiter: str | None) -> str | None:
    rest = key[len(prefix) :]
    if not delimiter or delimiter not in rest:
        return None
    return prefix + rest[: rest.index(delimiter) + len(delimiter)]


def _start(
    prefix: str, delimiter: str | None, key_marker: str | None, upload_id_marker: str | None
) -> _Cursor | None:
    cursor = _Cursor(prefix)
    if not key_marker or key_marker < prefix:  # a marker must not widen the listing
        return cursor
    common = None
    if key_marker.startswith(prefix):
        common = _common_prefix(key_marker, prefix, delimiter)
    if common is not None:  # every upload under it was rolled up into it: skip them
        return cursor if cursor.past_prefix(common) else None
    if upload_id_marker:
        cursor.lower, cursor.after_id = key_marker, upload_id_marker
    else:
        cursor.lower, cursor.inclusive = key_marker, False
    return cursor


def _fill(
    session: CatalogSession,
    bucket_id: int,
    page: UploadsPage,
    cursor: _Cursor | None,
    prefix: str,
    delimiter: str | None,
    limit: int,
) -> UploadsPage:
    upper = after_prefix(prefix) if prefix else None
    last: Upload | str | None = None
    while cursor is not None:
        room = limit - len(page.uploads) - len(page.common_prefixes)
        batch = session.multipart.list_uploads(
            bucket_id, cursor.lower, upper, room + 1,
            inclusive=cursor.inclusive, after_id=cursor.after_id,
        )  # fmt: skip
        if not batch:
            break
        if room == 0:
            page.is_truncated = True
            break
        for upload in batch[:room]:
            common = _common_prefix(upload.key, prefix, delimiter)
            if common is not None:
                page.common_prefixes.append(common)
                last = common
                if not cursor.past_prefix(common):
                    cursor = None
                break
            page.uploads.append(upload)
            last = upload
            cursor.past_upload(upload)
        else:
            if len(batch) <= room:
                break
    if page.is_truncated and last is not None:
        if isinstance(last, str):
            page.next_key_marker = last
        else:
            page.next_key_marker, page.next_upload_id_marker = last.key, last.id
    return page


class _UploadIds:
    """Upload ids: the time they were made (hex microseconds, never repeating in this
    process) then 128 random bits. Unguessable and URL-safe, and within a key they sort
    in initiation order, which is the order S3 lists uploads of one key in."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._last = 0

    def new(self) -> str:
        micros = (self.clock() - _EPOCH) // timedelta(microseconds=1)
        with self._lock:
            micros = self._last = max(micros, self._last + 1)
        return f"{micros:014x}{secrets.token_hex(16)}"
