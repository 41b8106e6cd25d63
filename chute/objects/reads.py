"""Reads: the version a GET serves, its bytes (whole or one byte range), a key's history."""

from __future__ import annotations

from chute.catalog import Catalog, ObjectVersion
from chute.errors import (
    BlobNotFound,
    InvalidArgument,
    InvalidPartNumber,
    MethodNotAllowed,
    NoSuchKey,
    NoSuchVersion,
)
from chute.names import check_key
from chute.objects.blob_reads import BlobReaders
from chute.objects.buckets import require_bucket
from chute.objects.records import ObjectDetail, ObjectRead

#: Most events :meth:`Reads.detail` returns for one key.
DETAIL_EVENTS = 1000
#: Part numbers run from 1 to this (S3's limit, for uploads and reads alike).
MAX_PART_NUMBER = 10_000


class Reads:
    """Looks versions up and opens their bytes through the blob registry."""

    def __init__(self, catalog: Catalog, readers: BlobReaders) -> None:
        self.catalog = catalog
        self.readers = readers

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectVersion:
        """The version a GET would serve (latest by default)."""
        check_key(key)
        with self.catalog.read() as session:
            target = require_bucket(session, bucket)
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

    def read(self, version: ObjectVersion, byte_range: tuple[int, int] | None = None) -> ObjectRead:
        """Open the bytes of a version :meth:`head` returned (so conditions checked against
        it hold for the bytes served): all of them, or ``[start, end)``."""
        start, end = byte_range or (0, version.size)
        assert version.blob_id is not None
        try:
            body = self.readers.open(version.blob_id, start, end)
        except BlobNotFound:
            # Overwritten or deleted between the lookup and now: its blob is gone.
            raise NoSuchKey(f"{version.key!r} was replaced while it was being read") from None
        return ObjectRead(version, start, end, body, byte_range is not None)

    def part_range(self, version: ObjectVersion, part_number: int) -> tuple[int, int, int]:
        """Where part ``part_number`` of a version is: ``(start, end, parts_count)``, its
        bytes being ``[start, end)``. An object stored in one piece has one part, all of
        it, as in S3; a part it does not have is ``InvalidPartNumber``."""
        check_part_number(part_number)
        if version.parts_count is None or version.blob_id is None:
            if part_number == 1:
                return 0, version.size, 1
            raise InvalidPartNumber()
        segments = self.readers.segments(version.blob_id)
        if not segments:
            raise NoSuchKey(f"{version.key!r} was replaced while it was being read")
        if part_number > len(segments):
            raise InvalidPartNumber()
        start = sum(segment.size for segment in segments[: part_number - 1])
        return start, start + segments[part_number - 1].size, len(segments)

    def detail(self, bucket: str, key: str) -> ObjectDetail:
        """Every version of a key and every event about it."""
        check_key(key)
        with self.catalog.read() as session:
            target = require_bucket(session, bucket)
            versions = session.versions_of(target.id, key)
            events = session.events_after(0, DETAIL_EVENTS, bucket=bucket, key=key)
        if not versions and not events:
            raise NoSuchKey(f"no key {key!r} in bucket {bucket!r}")
        return ObjectDetail(bucket, key, versions, events)


def check_part_number(part_number: int) -> None:
    """``InvalidArgument`` unless ``part_number`` is 1..10,000."""
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise InvalidArgument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )
