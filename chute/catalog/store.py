"""The catalog: every query Chute makes lives here.

A :class:`Catalog` hands out :class:`CatalogSession` objects, one per transaction.
``catalog.run_write()`` runs writes, many per transaction (see ``committer``); write
transactions run one at a time across all processes (see ``engine``), so a write sees
the catalog as the previous write left it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from chute.catalog import listing
from chute.catalog.blobs import BlobRegistry
from chute.catalog.committer import GroupCommitter
from chute.catalog.engine import create_catalog_engine, migrate
from chute.catalog.failures import database_errors
from chute.catalog.function_logs import FunctionLogStore
from chute.catalog.function_store import FunctionStore
from chute.catalog.functions import holds
from chute.catalog.keys import KeySession
from chute.catalog.leases import LeaseSession
from chute.catalog.multipart import MultipartSession

if TYPE_CHECKING:
    from chute.queue.base import JobQueue
    from chute.queue.history import HistorySession
    from chute.queue.items import ItemSession
    from chute.queue.lineage import LineageSession
    from chute.queue.messages import MessageStore
from chute.catalog.records import Bucket, EventRow, NewVersion, ObjectVersion, Rollup, Versioning
from chute.catalog.schema import buckets, events, object_versions
from chute.clock import system_clock
from chute.errors import BucketAlreadyExists

T = TypeVar("T")

_version_columns = listing.VERSION_COLUMNS
_version = listing.version_of
_param = sa.bindparam

# Hot-path statements, built once: executing a prebuilt statement with parameters skips
# SQLAlchemy's per-call construction and cache-key work.
_GET_BUCKET = sa.select(buckets).where(buckets.c.name == _param("name"))
# ``holds``: on SQLite, only a bare ``is_latest`` reaches the partial index.
_LATEST = sa.select(*_version_columns).where(
    object_versions.c.bucket_id == _param("bucket_id"),
    object_versions.c.key == _param("key"),
    holds(object_versions.c.is_latest),
)
_GET_VERSION = sa.select(*_version_columns).where(
    object_versions.c.bucket_id == _param("bucket_id"),
    object_versions.c.key == _param("key"),
    object_versions.c.version_id == _param("version_id"),
)
_CLEAR_LATEST = (
    object_versions.update()
    .where(
        object_versions.c.bucket_id == _param("where_bucket_id"),
        object_versions.c.key == _param("where_key"),
        holds(object_versions.c.is_latest),
    )
    .values(is_latest=False)
)
_INSERT_VERSION = object_versions.insert()
_DELETE_VERSION = object_versions.delete().where(object_versions.c.id == _param("id"))
_INSERT_EVENT = events.insert()
_BUCKET_SETTINGS = {"public_read", "cors", "notifications"}


class Catalog:
    """Owns the database engine; opens read and write sessions."""

    def __init__(self, url: str) -> None:
        self.engine = create_catalog_engine(url)
        self.dialect = self.engine.dialect.name
        # SQLite has one writer at a time; queueing threads here is far cheaper than
        # SQLite's busy-wait backoff. Other processes still wait on busy_timeout.
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        self._committer = GroupCommitter(self._write_connection, self._write_lock)

    def migrate(self) -> None:
        """Apply pending migrations."""
        migrate(self.engine)

    def clock_offset(self) -> timedelta:
        """How far the database server's clock is ahead of this machine's. Leases are
        compared across machines, so workers stamp them on the database's clock."""
        if self.dialect != "postgresql":
            return timedelta(0)
        with self.engine.connect() as conn:
            before = system_clock()
            server: datetime = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
            after = system_clock()
        return server - (before + (after - before) / 2)

    def ping(self) -> None:
        """Run the smallest query; raises ``CatalogUnavailable`` if the database cannot
        answer (the server's readiness check)."""
        with self.read() as session:
            session.conn.execute(sa.select(1))

    def close(self) -> None:
        self._committer.close()
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[CatalogSession]:
        """A read-only transaction."""
        with database_errors(), self.engine.connect() as conn, conn.begin():
            yield CatalogSession(conn)

    def run_write(self, work: Callable[[CatalogSession], T]) -> T:
        """Run ``work`` in a write transaction and return its result once committed.

        Writes from concurrent threads share transactions (group commit), each in its
        own savepoint: an exception rolls back only the write that raised it."""
        with database_errors():
            return self._committer.run(lambda conn: work(CatalogSession(conn)))

    def run_claim(self, work: Callable[[CatalogSession], T]) -> T:
        """Run a write that touches only job rows (claims): on PostgreSQL in a transaction
        of its own that skips the global write lock, since claims lock rows with ``FOR
        UPDATE SKIP LOCKED`` and never wait for each other; on SQLite as any write."""
        if self._write_lock is not None:
            return self.run_write(work)
        with database_errors(), self.engine.connect() as conn, conn.begin():
            return work(CatalogSession(conn))

    @contextmanager
    def write(self) -> Iterator[CatalogSession]:
        """A write transaction of its own, for bulk work and tests; committed on normal
        exit, rolled back on an exception. Services use :meth:`run_write`."""
        if self._write_lock is None:
            with database_errors(), self._write_connection() as conn, conn.begin():
                yield CatalogSession(conn)
            return
        with database_errors(), self._write_lock, self._write_connection() as conn, conn.begin():
            yield CatalogSession(conn)

    def _write_connection(self) -> sa.Connection:
        return self.engine.connect().execution_options(chute_write=True)


class CatalogSession:
    """Queries inside one transaction. Services call these; they never write SQL."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    @property
    def blobs(self) -> BlobRegistry:
        """The blob registry, in this transaction."""
        return BlobRegistry(self.conn)

    @property
    def leases(self) -> LeaseSession:
        """Maintenance leases, in this transaction."""
        return LeaseSession(self.conn)

    @property
    def multipart(self) -> MultipartSession:
        """Multipart uploads in progress and their parts, in this transaction."""
        return MultipartSession(self.conn)

    @property
    def keys(self) -> KeySession:
        """Access keys, in this transaction."""
        return KeySession(self.conn)

    @property
    def functions(self) -> FunctionStore:
        """Functions and layer versions made through the Lambda API."""
        return FunctionStore(self.conn)

    @property
    def function_logs(self) -> FunctionLogStore:
        """Each function invocation's log."""
        return FunctionLogStore(self.conn)

    # The queue's tables build on the catalog's schema, so its modules import the catalog
    # package: they are imported here when first used, not while the catalog loads.

    @property
    def queue(self) -> JobQueue:
        """The job queue (jobs, runs, step runs), in this transaction."""
        from chute.queue.sql import sql_queue

        return sql_queue(self.conn)

    @property
    def lineage(self) -> LineageSession:
        """Lineage and extracted metadata, in this transaction."""
        from chute.queue.lineage import LineageSession

        return LineageSession(self.conn)

    @property
    def items(self) -> ItemSession:
        """What a run's steps keep for one another (Map items and results), in this
        transaction."""
        from chute.queue.items import ItemSession

        return ItemSession(self.conn)

    @property
    def messages(self) -> MessageStore:
        """Message queues (the SQS API's) and their messages, in this transaction."""
        from chute.queue.messages import MessageStore

        return MessageStore(self.conn)

    @property
    def history(self) -> HistorySession:
        """Pruning of run history, in this transaction."""
        from chute.queue.history import HistorySession

        return HistorySession(self.conn)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Run a part of this transaction that may fail alone: an exception rolls back
        what the block wrote, and is raised on."""
        with self.conn.begin_nested():
            yield

    # --- buckets -------------------------------------------------------------------

    def create_bucket(
        self, name: str, versioning: Versioning, created: datetime, location: str | None = None
    ) -> Bucket:
        """Add a bucket; raises ``BucketAlreadyExists``."""
        values = {
            "name": name, "versioning": versioning.value, "created_at": created,
            "location": location,
        }  # fmt: skip
        try:
            with self.conn.begin_nested():
                result = self.conn.execute(buckets.insert().values(**values))
        except IntegrityError:
            raise BucketAlreadyExists(f"bucket {name!r} already exists") from None
        (bucket_id,) = result.inserted_primary_key or (0,)
        return Bucket(int(bucket_id), name, versioning, created, location)

    def get_bucket(self, name: str) -> Bucket | None:
        row = self.conn.execute(_GET_BUCKET, {"name": name}).first()
        return _bucket(row) if row else None

    def list_buckets(self) -> list[Bucket]:
        rows = self.conn.execute(sa.select(buckets).order_by(buckets.c.name))
        return [_bucket(row) for row in rows]

    def delete_bucket(self, bucket_id: int) -> None:
        self.conn.execute(buckets.delete().where(buckets.c.id == bucket_id))

    def set_versioning(self, bucket_id: int, versioning: Versioning) -> None:
        self.conn.execute(
            buckets.update().where(buckets.c.id == bucket_id).values(versioning=versioning.value)
        )

    def configure_bucket(self, bucket_id: int, **settings: Any) -> None:
        """Change what the S3 API configures on a bucket: ``public_read``, ``cors`` or
        ``notifications`` (``None`` removes the CORS rules or notifications)."""
        unknown = set(settings) - _BUCKET_SETTINGS
        if unknown:
            raise ValueError(f"not bucket settings: {sorted(unknown)}")
        self.conn.execute(buckets.update().where(buckets.c.id == bucket_id).values(**settings))

    def bucket_has_versions(self, bucket_id: int) -> bool:
        query = sa.select(object_versions.c.id).where(object_versions.c.bucket_id == bucket_id)
        return self.conn.execute(query.limit(1)).first() is not None

    # --- object versions -----------------------------------------------------------

    def latest_version(self, bucket_id: int, key: str) -> ObjectVersion | None:
        row = self.conn.execute(_LATEST, {"bucket_id": bucket_id, "key": key}).first()
        return _version(row) if row else None

    def get_version(self, bucket_id: int, key: str, version_id: str) -> ObjectVersion | None:
        params = {"bucket_id": bucket_id, "key": key, "version_id": version_id}
        row = self.conn.execute(_GET_VERSION, params).first()
        return _version(row) if row else None

    def versions_of(self, bucket_id: int, key: str) -> list[ObjectVersion]:
        """Every version of a key, newest first."""
        query = (
            sa.select(*_version_columns)
            .where(object_versions.c.bucket_id == bucket_id, object_versions.c.key == key)
            .order_by(object_versions.c.id.desc())
        )
        return [_version(row) for row in self.conn.execute(query)]

    def add_version(
        self, bucket_id: int, new: NewVersion, created: datetime, *, demote_latest: bool = True
    ) -> ObjectVersion:
        """Insert ``new`` as the key's latest version.

        ``demote_latest=False`` is for callers that know the key has no latest version
        left (an unversioned bucket whose only version was just removed)."""
        if demote_latest:
            self.conn.execute(_CLEAR_LATEST, {"where_bucket_id": bucket_id, "where_key": new.key})
        version = ObjectVersion(
            id=0,
            bucket_id=bucket_id,
            key=new.key,
            version_id=new.version_id,
            is_latest=True,
            is_delete_marker=new.is_delete_marker,
            blob_id=new.blob_id,
            size=new.size,
            etag=new.etag,
            sha256=new.sha256,
            content_type=new.content_type,
            user_metadata=new.user_metadata,
            created_at=created,
            headers=new.headers,
            checksum=new.checksum,
            parts_count=new.parts_count,
        )
        values = {name: getattr(version, name) for name in version.__slots__ if name != "id"}
        values["headers"] = new.headers or None
        values["checksum"] = new.checksum.to_json() if new.checksum else None
        result = self.conn.execute(_INSERT_VERSION, values)
        (row_id,) = result.inserted_primary_key or (0,)
        return dataclasses.replace(version, id=int(row_id))

    def add_first_versions(
        self, bucket_id: int, news: Iterable[NewVersion], created: datetime
    ) -> int:
        """Insert many versions at once, each the latest of its key, for bulk loads
        (benchmarks, tests) of keys that have no latest version yet: nothing is demoted,
        and no event is recorded. Returns how many were added."""
        rows = [
            {
                "bucket_id": bucket_id,
                "is_latest": True,
                "created_at": created,
                **{name: getattr(new, name) for name in new.__slots__},
                # stored as add_version stores them
                "headers": new.headers or None,
                "checksum": new.checksum.to_json() if new.checksum else None,
            }
            for new in news
        ]
        if rows:
            self.conn.execute(_INSERT_VERSION, rows)
        return len(rows)

    def remove_version(self, version: ObjectVersion, *, promote: bool = True) -> None:
        """Delete one version row; if it was the latest, the next newest becomes latest
        (unless ``promote`` is false: the caller is about to add a new latest)."""
        self.conn.execute(_DELETE_VERSION, {"id": version.id})
        if version.is_latest and promote:
            newest = (
                sa.select(sa.func.max(object_versions.c.id))
                .where(
                    object_versions.c.bucket_id == version.bucket_id,
                    object_versions.c.key == version.key,
                )
                .scalar_subquery()
            )
            self.conn.execute(
                object_versions.update()
                .where(object_versions.c.id == newest)
                .values(is_latest=True)
            )

    def list_latest(
        self, bucket_id: int, lower: str, upper: str | None, limit: int
    ) -> list[ObjectVersion]:
        """Live objects (latest versions that are not delete markers) with keys in
        ``[lower, upper)``, in key order: one range scan."""
        return listing.range_latest(self.conn, bucket_id, lower, upper, limit)

    def walk_latest(
        self, bucket_id: int, lower: str, upper: str | None, rollup: Rollup, limit: int
    ) -> list[ObjectVersion | str]:
        """Live objects with keys in ``[lower, upper)`` rolled up by ``rollup``: versions
        and common prefixes in key order, one index seek each (see
        :mod:`chute.catalog.listing`)."""
        return listing.walk(self.conn, bucket_id, lower, upper, rollup, limit, latest=True)

    def has_version_row(self, row_id: int) -> bool:
        """Whether the version with catalog row id ``row_id`` still exists."""
        query = sa.select(object_versions.c.id).where(object_versions.c.id == row_id)
        return self.conn.execute(query).first() is not None

    def list_versions(
        self, bucket_id: int, lower: str, upper: str | None, after_id: int | None, limit: int
    ) -> list[ObjectVersion]:
        """All versions with keys in ``[lower, upper)`` in key order, newest first within a
        key; ``after_id`` resumes inside key ``lower`` after that version."""
        return listing.range_versions(self.conn, bucket_id, lower, upper, after_id, limit)

    def walk_versions(
        self, bucket_id: int, lower: str, upper: str | None, rollup: Rollup, limit: int
    ) -> list[ObjectVersion | str]:
        """Like :meth:`walk_latest`, over every version (delete markers too): a key's
        versions newest first, counted one by one against ``limit``."""
        return listing.walk(self.conn, bucket_id, lower, upper, rollup, limit, latest=False)

    # --- events --------------------------------------------------------------------

    def record_event(self, **fields: Any) -> int:
        """Append an event to the log, in the transaction of the change it records."""
        result = self.conn.execute(_INSERT_EVENT, fields)
        (event_id,) = result.inserted_primary_key or (0,)
        return int(event_id)

    def prune_events(self, before: datetime, limit: int) -> int:
        """Remove up to ``limit`` of the oldest events recorded before ``before``. Ids are
        never reused, so a reader's cursor stays valid."""
        oldest = (
            sa.select(events.c.id)
            .where(events.c.event_time < before)
            .order_by(events.c.id)
            .limit(limit)
        )
        ids = [row[0] for row in self.conn.execute(oldest)]
        if ids:
            self.conn.execute(events.delete().where(events.c.id.in_(ids)))
        return len(ids)

    def events_after(
        self,
        cursor: int,
        limit: int,
        bucket: str | None = None,
        key: str | None = None,
    ) -> list[EventRow]:
        """Events with id above ``cursor``, oldest first, optionally for one bucket/key."""
        query = sa.select(events).where(events.c.id > cursor)
        if bucket is not None:
            query = query.where(events.c.bucket == bucket)
        if key is not None:
            query = query.where(events.c.key == key)
        rows = self.conn.execute(query.order_by(events.c.id).limit(limit)).mappings()
        return [EventRow.from_mapping(row) for row in rows]


def _bucket(row: sa.Row[Any]) -> Bucket:
    return Bucket(
        row.id,
        row.name,
        Versioning(row.versioning),
        row.created_at,
        row.location,
        bool(row.public_read),
        row.cors,
        row.notifications,
    )
