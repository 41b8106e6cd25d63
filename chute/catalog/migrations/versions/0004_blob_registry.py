"""blob registry, composite segments, leftovers of dead attempts, maintenance leases

Every blob a version references gets a registry row: store blobs with their size and
digests, small blobs (``small_blobs``, ids starting ``c-``) become inline blobs carrying
their bytes. Blobs referenced by no version are not registered here: nothing points at
them, and the sweep before this version would have removed them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from chute.catalog.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: The id prefix that marked small blobs before the registry said so.
LEGACY_INLINE_PREFIX = "c-"


def upgrade() -> None:
    _create_tables()
    _register_existing_blobs()
    op.drop_table("small_blobs")
    _sweep_the_whole_store_once()


def _sweep_the_whole_store_once() -> None:
    """Blobs the previous release left behind (a write cut off, a deletion that failed)
    are in no registry: note the whole store, the empty prefix, as a leftover, so the
    first sweep past the grace period lists it once and removes what is older than this
    upgrade and unregistered."""
    leftovers = sa.table(
        "blob_leftovers", sa.column("prefix", sa.String()), sa.column("created_at", UTCDateTime())
    )
    op.bulk_insert(leftovers, [{"prefix": "", "created_at": datetime.now(UTC)}])


def _create_tables() -> None:
    op.create_table(
        "blobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("location", sa.String(length=255), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blobs")),
    )
    op.create_index("ix_blobs_created_at", "blobs", ["created_at"])
    op.create_table(
        "blob_segments",
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_blob_segments_blob_id_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["blobs.id"], name=op.f("fk_blob_segments_segment_id_blobs")
        ),
        sa.PrimaryKeyConstraint("blob_id", "position", name=op.f("pk_blob_segments")),
    )
    op.create_index("ix_blob_segments_segment_id", "blob_segments", ["segment_id"])
    op.create_table(
        "blob_leftovers",
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_blob_leftovers")),
    )
    op.create_table(
        "maintenance_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_maintenance_leases")),
    )


def _register_existing_blobs() -> None:
    """One row per blob some version references (copies share one), in one statement
    per kind. Until now every ETag was the MD5 of the bytes: no multipart yet."""
    inline = sa.literal(LEGACY_INLINE_PREFIX + "%")
    op.execute(
        sa.text(
            "INSERT INTO blobs (id, kind, size, md5, sha256, location, data, created_at) "
            "SELECT v.blob_id, 'store', MIN(v.size), MIN(v.etag), MIN(v.sha256), v.blob_id, "
            "NULL, MIN(v.created_at) FROM object_versions v "
            "WHERE v.blob_id IS NOT NULL AND v.blob_id NOT LIKE :inline GROUP BY v.blob_id"
        ).bindparams(inline=inline.value)
    )
    op.execute(
        sa.text(
            "INSERT INTO blobs (id, kind, size, md5, sha256, location, data, created_at) "
            "SELECT v.blob_id, 'inline', MIN(v.size), MIN(v.etag), MIN(v.sha256), NULL, "
            "s.data, MIN(v.created_at) FROM object_versions v "
            "JOIN small_blobs s ON s.blob_id = v.blob_id "
            "WHERE v.blob_id LIKE :inline GROUP BY v.blob_id, s.data"
        ).bindparams(inline=inline.value)
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM blob_segments")).scalar_one():
        raise RuntimeError("composite blobs exist; the previous schema cannot hold them")
    unmarked = bind.execute(
        sa.text("SELECT count(*) FROM blobs WHERE kind = 'inline' AND id NOT LIKE :inline"),
        {"inline": LEGACY_INLINE_PREFIX + "%"},
    )
    if unmarked.scalar_one():
        raise RuntimeError("inline blobs written since this version have no 'c-' id prefix")
    op.create_table(
        "small_blobs",
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("blob_id", name=op.f("pk_small_blobs")),
    )
    op.execute(
        "INSERT INTO small_blobs (blob_id, data) SELECT id, data FROM blobs "
        "WHERE kind = 'inline' AND data IS NOT NULL"
    )
    op.drop_table("maintenance_leases")
    op.drop_table("blob_leftovers")
    op.drop_index("ix_blob_segments_segment_id", table_name="blob_segments")
    op.drop_table("blob_segments")
    op.drop_index("ix_blobs_created_at", table_name="blobs")
    op.drop_table("blobs")
