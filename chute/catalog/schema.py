"""The catalog's tables. Migrations in ``migrations/versions`` create exactly these.

Keys sort in byte order of their UTF-8 form, as S3 lists them: SQLite compares text that
way by default, PostgreSQL needs the ``C`` collation on the key columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the engine."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Object keys: up to 1024 UTF-8 bytes, compared bytewise.
KeyText = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")
#: Row ids: 64-bit on PostgreSQL; SQLite needs INTEGER for its rowid alias.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

buckets = sa.Table(
    "buckets",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("versioning", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    #: The LocationConstraint the bucket was created with (``None``: the default region).
    sa.Column("location", sa.String(32), nullable=True),
    #: Anyone may read its objects without a key (deny by default otherwise).
    sa.Column("public_read", sa.Boolean(), nullable=False, server_default=sa.false()),
    #: S3 CORS rules and notification configuration, as the S3 API stores them.
    sa.Column("cors", sa.JSON(), nullable=True),
    sa.Column("notifications", sa.JSON(), nullable=True),
)

# Columns in ObjectVersion's field order: versions are read by position (keep in step
# with catalog.listing.version_of).
object_versions = sa.Table(
    "object_versions",
    metadata,
    # The row id orders the versions of a key: a higher id is a newer version.
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("bucket_id", RowId, sa.ForeignKey("buckets.id"), nullable=False),
    sa.Column("key", KeyText, nullable=False),
    sa.Column("version_id", sa.String(64), nullable=False),
    sa.Column("is_latest", sa.Boolean(), nullable=False),
    sa.Column("is_delete_marker", sa.Boolean(), nullable=False),
    sa.Column("blob_id", sa.String(64), nullable=True),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("etag", sa.String(80), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("user_metadata", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    #: Content headers stored with the object (Cache-Control, Content-Disposition,
    #: Content-Encoding, Content-Language, Expires), by lower-case name.
    sa.Column("headers", sa.JSON(), nullable=True),
    #: The checksum a client asked for: ``{"algorithm", "value", "type"}``.
    sa.Column("checksum", sa.JSON(), nullable=True),
    #: How many parts a multipart upload composed it of (``None``: one piece).
    sa.Column("parts_count", sa.Integer(), nullable=True),
    sa.UniqueConstraint("bucket_id", "key", "version_id"),
    # At most one latest version per key; also the index that lists a bucket in key order.
    sa.Index(
        "ix_object_versions_latest",
        "bucket_id",
        "key",
        unique=True,
        sqlite_where=sa.text("is_latest"),
        postgresql_where=sa.text("is_latest"),
    ),
    sa.Index("ix_object_versions_blob_id", "blob_id"),
    # Ids are never reused (runs point at versions by id): see migration 0005.
    sqlite_autoincrement=True,
)

# The blob registry: every blob Chute keeps, whatever holds its bytes. A store blob is
# registered before its bytes are written (size and digests stay NULL until its write
# commits), so the sweep finds every leftover here, by Chute's clock, without listing the
# blob store. Inline blobs keep their bytes in ``data``: written in the same transaction
# as their version, they cost no file and no extra fsync. Composite blobs are an ordered
# list of segments (``blob_segments``), read through without copying.
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=True),
    sa.Column("md5", sa.String(32), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    #: Store blobs: the blob store's name for the bytes.
    sa.Column("location", sa.String(255), nullable=True),
    sa.Column("data", sa.LargeBinary(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_blobs_created_at", "created_at"),
)

blob_segments = sa.Table(
    "blob_segments",
    metadata,
    sa.Column("blob_id", sa.String(64), sa.ForeignKey("blobs.id"), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("segment_id", sa.String(64), sa.ForeignKey("blobs.id"), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Index("ix_blob_segments_segment_id", "segment_id"),
)

# Prefixes of the blob store under which an attempt that ended without answering (its
# process was killed, or its worker died) may have left staged blobs: the sweep deletes
# what it finds under them that the registry does not know.
blob_leftovers = sa.Table(
    "blob_leftovers",
    metadata,
    sa.Column("prefix", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# Upkeep that one process at a time should do (the sweep, history retention): a named
# lease, taken by whoever finds it free or expired.
maintenance_leases = sa.Table(
    "maintenance_leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

# Access keys: the secret is kept encrypted (AES-GCM, under a key file outside the
# catalog), so a copy of the database gives no one the keys.
access_keys = sa.Table(
    "access_keys",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("secret", sa.LargeBinary(), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    #: What the key may do: ``[{"access", "buckets", "prefixes"}]`` grants.
    sa.Column("grants", sa.JSON(), nullable=False),
    sa.Column("is_root", sa.Boolean(), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    #: Temporary credentials (a function's) stop working at this moment.
    sa.Column("expires_at", UTCDateTime(), nullable=True),
)

# Multipart uploads in progress: what the object will be once completed, and its parts,
# each a registered blob that completion composes without copying.
multipart_uploads = sa.Table(
    "multipart_uploads",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("bucket_id", RowId, sa.ForeignKey("buckets.id"), nullable=False),
    sa.Column("key", KeyText, nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("user_metadata", sa.JSON(), nullable=False),
    sa.Column("headers", sa.JSON(), nullable=True),
    #: ``{"algorithm", "type"}`` when the upload was created with a checksum algorithm.
    sa.Column("checksum", sa.JSON(), nullable=True),
    sa.Column("principal", sa.String(128), nullable=False),
    sa.Column("initiated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_multipart_uploads_bucket_id_key", "bucket_id", "key", "id"),
    sa.Index("ix_multipart_uploads_initiated_at", "initiated_at"),
)

multipart_parts = sa.Table(
    "multipart_parts",
    metadata,
    sa.Column("upload_id", sa.String(64), sa.ForeignKey("multipart_uploads.id"), primary_key=True),
    sa.Column("part_number", sa.Integer(), primary_key=True),
    sa.Column("blob_id", sa.String(64), sa.ForeignKey("blobs.id"), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("md5", sa.String(32), nullable=False),
    #: The part's checksum (base64) in the upload's algorithm, if it has one.
    sa.Column("checksum", sa.String(128), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_multipart_parts_blob_id", "blob_id"),
)

events = sa.Table(
    "events",
    metadata,
    # The id is the event-log cursor: readers resume after the last id they saw.
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("event_time", UTCDateTime(), nullable=False),
    sa.Column("event_name", sa.String(64), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("bucket", sa.String(63), nullable=False),
    sa.Column("key", KeyText, nullable=False),
    sa.Column("version_id", sa.String(64), nullable=True),
    sa.Column("size", sa.BigInteger(), nullable=True),
    sa.Column("etag", sa.String(80), nullable=True),
    sa.Column("principal", sa.String(128), nullable=False),
    sa.Column("source_ip", sa.String(64), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Index("ix_events_bucket_key", "bucket", "key", "id"),
    sa.Index("ix_events_event_time", "event_time"),
    sqlite_autoincrement=True,  # the id is a cursor: never reused
)

# Functions made through the Lambda API (those of chute.toml live there): their
# configuration, the zip of their code (a registered store blob), the layer versions
# they use, and who may invoke them. ``revision`` changes with every update, so warm
# environments of an older one retire.
functions = sa.Table(
    "functions",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("config", sa.JSON(), nullable=False),
    sa.Column("code_blob_id", sa.String(64), sa.ForeignKey("blobs.id"), nullable=False),
    sa.Column("code_sha256", sa.String(64), nullable=False),
    sa.Column("code_size", sa.BigInteger(), nullable=False),
    #: Layer version ARNs, in order.
    sa.Column("layers", sa.JSON(), nullable=False),
    sa.Column("revision", sa.String(64), nullable=False),
    #: Resource-based policy statements (AddPermission).
    sa.Column("policy", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_functions_code_blob_id", "code_blob_id"),
)

layer_versions = sa.Table(
    "layer_versions",
    metadata,
    sa.Column("name", sa.String(140), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("blob_id", sa.String(64), sa.ForeignKey("blobs.id"), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("runtimes", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_layer_versions_blob_id", "blob_id"),
)

# Each function invocation's log (Lambda's START, what the handler wrote, END, REPORT),
# one row per invocation, capped in size by the functions layer. The id is the cursor
# readers page and follow by; rows older than ``retention.function_logs_seconds`` go.
function_logs = sa.Table(
    "function_logs",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    # No foreign key: a function of chute.toml has no row, and logs outlive a deletion.
    sa.Column("function", sa.String(64), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    #: The execution environment's log stream (``YYYY/MM/DD/[$LATEST]hex``).
    sa.Column("log_stream", sa.String(128), nullable=False),
    #: When the invocation started.
    sa.Column("logged_at", UTCDateTime(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Index("ix_function_logs_function_id", "function", "id"),
    sa.Index("ix_function_logs_logged_at", "logged_at"),
    sqlite_autoincrement=True,  # the id is a cursor: never reused
)
