"""The blob registry's queries: every blob Chute keeps has a row here.

A store blob is registered (:meth:`BlobRegistry.reserve`) before its bytes are written and
completed in the transaction that records its version, so a write cut off at any point
leaves a row the sweep finds. Inline blobs are added with their bytes in the version's
transaction. Versions reference blobs by id; a composite blob references its segments;
a part of a multipart upload in progress references its blob. A blob nothing references
is garbage once it is older than the sweep's grace period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chute.blobs.records import BlobKind, BlobRecord, Segment
from chute.catalog.schema import (
    blob_leftovers,
    blob_segments,
    blobs,
    functions,
    layer_versions,
    multipart_parts,
    object_versions,
)

_param = sa.bindparam
_RECORD_COLUMNS = [
    blobs.c.id,
    blobs.c.kind,
    blobs.c.size,
    blobs.c.md5,
    blobs.c.sha256,
    blobs.c.location,
    blobs.c.created_at,
]
_INSERT = blobs.insert()
_GET = sa.select(*_RECORD_COLUMNS).where(blobs.c.id == _param("id"))
_DATA = sa.select(blobs.c.data).where(blobs.c.id == _param("id"))
_COMPLETE = (
    blobs.update()
    .where(blobs.c.id == _param("where_id"))
    .values(size=_param("size"), md5=_param("md5"), sha256=_param("sha256"))
)


def _referenced(blob_id: Any) -> sa.ColumnElement[bool]:
    """Whether a version, a composite blob, an upload's part, a function's code, a
    layer version or a run's item points at ``blob_id``."""
    # The queue's tables build on the catalog's schema: imported when first used.
    from chute.queue.schema import run_items

    by_version = sa.exists().where(object_versions.c.blob_id == blob_id)
    by_composite = sa.exists().where(blob_segments.c.segment_id == blob_id)
    by_part = sa.exists().where(multipart_parts.c.blob_id == blob_id)
    by_function = sa.exists().where(functions.c.code_blob_id == blob_id)
    by_layer = sa.exists().where(layer_versions.c.blob_id == blob_id)
    by_item = sa.exists().where(run_items.c.blob_id == blob_id)
    return sa.or_(by_version, by_composite, by_part, by_function, by_layer, by_item)


class BlobRegistry:
    """Registry queries inside one transaction (``CatalogSession.blobs``)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- adding ----------------------------------------------------------------------

    def reserve(self, blob_id: str, location: str, created: datetime) -> None:
        """Register a store blob whose bytes are about to be written."""
        row = {"id": blob_id, "kind": BlobKind.STORE.value, "location": location}
        self.conn.execute(_INSERT, {**_EMPTY_ROW, **row, "created_at": created})

    def complete(self, blob_id: str, size: int, md5: str, sha256: str) -> bool:
        """Record the size and digests of a reserved store blob whose bytes are durable;
        ``False`` if its reservation is gone (the sweep took it for a dead write)."""
        done = self.conn.execute(
            _COMPLETE, {"where_id": blob_id, "size": size, "md5": md5, "sha256": sha256}
        )
        return bool(done.rowcount)

    def renew(self, blob_id: str, now: datetime) -> None:
        """Date a reserved blob's row ``now``: its write is still going, so the sweep
        (which removes unreferenced rows older than its grace) must wait."""
        self.conn.execute(blobs.update().where(blobs.c.id == blob_id).values(created_at=now))

    def add(self, record: BlobRecord, data: bytes | None = None) -> None:
        """Register a blob whose bytes are durable already (or are ``data``, inline)."""
        self.add_many([(record, data)])

    def add_many(self, entries: Sequence[tuple[BlobRecord, bytes | None]]) -> None:
        """Register several blobs in one statement."""
        if entries:
            self.conn.execute(_INSERT, [_row(record, data) for record, data in entries])

    def add_segments(self, blob_id: str, segments: Sequence[Segment]) -> None:
        """Make ``blob_id`` (a composite) the concatenation of ``segments``, in order."""
        rows = [
            {"blob_id": blob_id, "position": index, "segment_id": s.blob_id, "size": s.size}
            for index, s in enumerate(segments)
        ]
        if rows:
            self.conn.execute(blob_segments.insert(), rows)

    # --- reading ---------------------------------------------------------------------

    def get(self, blob_id: str) -> BlobRecord | None:
        row = self.conn.execute(_GET, {"id": blob_id}).first()
        return _record(row) if row is not None else None

    def get_many(self, blob_ids: Iterable[str]) -> list[BlobRecord]:
        """The records of those of ``blob_ids`` that are registered, by id."""
        wanted = sorted(set(blob_ids))
        if not wanted:
            return []
        query = sa.select(*_RECORD_COLUMNS).where(blobs.c.id.in_(wanted)).order_by(blobs.c.id)
        return [_record(row) for row in self.conn.execute(query)]

    def data(self, blob_id: str) -> bytes | None:
        """An inline blob's bytes."""
        row = self.conn.execute(_DATA, {"id": blob_id}).first()
        return bytes(row[0]) if row is not None and row[0] is not None else None

    def segments(self, blob_id: str) -> list[Segment]:
        """A composite blob's segments, in order."""
        query = (
            sa.select(blob_segments.c.segment_id, blob_segments.c.size)
            .where(blob_segments.c.blob_id == blob_id)
            .order_by(blob_segments.c.position)
        )
        return [Segment(row.segment_id, row.size) for row in self.conn.execute(query)]

    def segment_sources(self, blob_id: str) -> list[tuple[Segment, BlobRecord, bytes | None]]:
        """A composite blob's segments in order, each with its registry record and, if it
        is inline, its bytes (what a worker process needs to read it without the
        catalog)."""
        segment = blob_segments.c
        query = (
            sa.select(segment.size.label("segment_size"), *_RECORD_COLUMNS, blobs.c.data)
            .select_from(blob_segments.join(blobs, blobs.c.id == segment.segment_id))
            .where(segment.blob_id == blob_id)
            .order_by(segment.position)
        )
        rows: list[sa.Row[Any]] = list(self.conn.execute(query))
        return [
            (
                Segment(row.id, row.segment_size),
                _record(row),
                None if row.data is None else bytes(row.data),
            )
            for row in rows
        ]

    def in_use(self, blob_ids: Iterable[str]) -> set[str]:
        """Which of ``blob_ids`` something points at (see ``_referenced``)."""
        wanted = list(set(blob_ids))
        if not wanted:
            return set()
        query = sa.select(blobs.c.id).where(blobs.c.id.in_(wanted), _referenced(blobs.c.id))
        return {row[0] for row in self.conn.execute(query)}

    def known(self, blob_ids: Iterable[str]) -> set[str]:
        """Which of ``blob_ids`` are registered."""
        wanted = list(set(blob_ids))
        if not wanted:
            return set()
        query = sa.select(blobs.c.id).where(blobs.c.id.in_(wanted))
        return {row[0] for row in self.conn.execute(query)}

    def unreferenced(self, created_before: datetime, limit: int) -> list[BlobRecord]:
        """Blobs nothing points at, registered before ``created_before``, oldest first."""
        query = (
            sa.select(*_RECORD_COLUMNS)
            .where(blobs.c.created_at < created_before, sa.not_(_referenced(blobs.c.id)))
            .order_by(blobs.c.created_at)
            .limit(limit)
        )
        return [_record(row) for row in self.conn.execute(query)]

    # --- removing --------------------------------------------------------------------

    def release(self, candidates: Iterable[str]) -> list[BlobRecord]:
        """Of the blobs this transaction stopped pointing at, unregister the inline ones
        nothing points at any more (their bytes go with the transaction) and return the
        others, whose bytes the caller deletes once the transaction has committed. A
        composite blob has no bytes of its own: it is unregistered at once, and its
        segments are released in turn. Call it last in the transaction: a copy may share
        a blob with the version it replaced."""
        wanted = set(candidates)
        unused = wanted - self.in_use(wanted)
        records = self.get_many(unused)
        gone_now = [r.id for r in records if r.kind is not BlobKind.STORE]
        composites = [r.id for r in records if r.kind is BlobKind.COMPOSITE]
        segments = {segment.blob_id for c in composites for segment in self.segments(c)}
        self.remove(gone_now)
        stored = [r for r in records if r.kind is BlobKind.STORE]
        return stored + (self.release(segments) if segments else [])

    def remove(self, blob_ids: Iterable[str]) -> None:
        """Unregister blobs (and a composite's list of segments)."""
        ids = list(blob_ids)
        if ids:
            self.conn.execute(blob_segments.delete().where(blob_segments.c.blob_id.in_(ids)))
            self.conn.execute(blobs.delete().where(blobs.c.id.in_(ids)))

    # --- leftovers of attempts that never answered -------------------------------------

    def add_leftovers(self, prefixes: Iterable[str], created: datetime) -> None:
        """Note store prefixes under which an attempt that ended without answering may
        have left blobs the registry does not know."""
        wanted = set(prefixes)
        if not wanted:
            return
        known = sa.select(blob_leftovers.c.prefix).where(blob_leftovers.c.prefix.in_(wanted))
        wanted -= {row[0] for row in self.conn.execute(known)}
        rows = [{"prefix": prefix, "created_at": created} for prefix in sorted(wanted)]
        if rows:
            self.conn.execute(blob_leftovers.insert(), rows)

    def leftovers(self, created_before: datetime, limit: int) -> list[tuple[str, datetime]]:
        """Leftover prefixes noted before ``created_before``, each with when it was."""
        query = (
            sa.select(blob_leftovers.c.prefix, blob_leftovers.c.created_at)
            .where(blob_leftovers.c.created_at < created_before)
            .order_by(blob_leftovers.c.created_at)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in self.conn.execute(query)]

    def remove_leftovers(self, prefixes: Iterable[str]) -> None:
        wanted = list(prefixes)
        if wanted:
            self.conn.execute(blob_leftovers.delete().where(blob_leftovers.c.prefix.in_(wanted)))


_EMPTY_ROW: dict[str, Any] = {"size": None, "md5": None, "sha256": None, "data": None}


def _row(record: BlobRecord, data: bytes | None) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind.value,
        "size": record.size,
        "md5": record.md5,
        "sha256": record.sha256,
        "location": record.location,
        "data": data,
        "created_at": record.created_at,
    }


def _record(row: sa.Row[Any]) -> BlobRecord:
    return BlobRecord(
        row.id, BlobKind(row.kind), row.size, row.md5, row.sha256, row.location, row.created_at
    )
