"""initial catalog: buckets, object versions, events

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import chute.catalog.schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "buckets",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("versioning", sa.String(length=16), nullable=False),
        sa.Column("created_at", chute.catalog.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buckets")),
        sa.UniqueConstraint("name", name=op.f("uq_buckets_name")),
    )
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_time", chute.catalog.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("bucket", sa.String(length=63), nullable=False),
        sa.Column(
            "key", sa.Text().with_variant(sa.TEXT(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("version_id", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("etag", sa.String(length=80), nullable=True),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_bucket_key", ["bucket", "key", "id"], unique=False)
        batch_op.create_index("ix_events_event_time", ["event_time"], unique=False)

    op.create_table(
        "object_versions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "bucket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "key", sa.Text().with_variant(sa.TEXT(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("is_delete_marker", sa.Boolean(), nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(length=80), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("user_metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", chute.catalog.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bucket_id"], ["buckets.id"], name=op.f("fk_object_versions_bucket_id_buckets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_object_versions")),
        sa.UniqueConstraint(
            "bucket_id",
            "key",
            "version_id",
            name=op.f("uq_object_versions_bucket_id_key_version_id"),
        ),
    )
    with op.batch_alter_table("object_versions", schema=None) as batch_op:
        batch_op.create_index("ix_object_versions_blob_id", ["blob_id"], unique=False)
        batch_op.create_index(
            "ix_object_versions_latest",
            ["bucket_id", "key"],
            unique=True,
            sqlite_where=sa.text("is_latest"),
            postgresql_where=sa.text("is_latest"),
        )


def downgrade() -> None:
    with op.batch_alter_table("object_versions", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_object_versions_latest",
            sqlite_where=sa.text("is_latest"),
            postgresql_where=sa.text("is_latest"),
        )
        batch_op.drop_index("ix_object_versions_blob_id")

    op.drop_table("object_versions")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_event_time")
        batch_op.drop_index("ix_events_bucket_key")

    op.drop_table("events")
    op.drop_table("buckets")
