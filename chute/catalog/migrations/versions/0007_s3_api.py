"""what the S3 API keeps: bucket settings, content headers and checksums, access keys,
multipart uploads

Buckets gain their LocationConstraint, public-read flag, CORS rules and notification
configuration; versions their content headers, checksum and part count. Access keys keep
an encrypted secret and their grants. Multipart uploads in progress list their parts,
each a registered blob.

Revision ID: 0007_s3_api
Revises: 0006_job_started
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_s3_api"
down_revision = "0006_job_started"
branch_labels = None
depends_on = None

_KEY = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy): SQLite could not drop the old ``buckets`` while
    # versions still point at it.
    op.add_column("buckets", sa.Column("location", sa.String(length=32), nullable=True))
    op.add_column(
        "buckets",
        sa.Column("public_read", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("buckets", sa.Column("cors", sa.JSON(), nullable=True))
    op.add_column("buckets", sa.Column("notifications", sa.JSON(), nullable=True))
    op.add_column("object_versions", sa.Column("headers", sa.JSON(), nullable=True))
    op.add_column("object_versions", sa.Column("checksum", sa.JSON(), nullable=True))
    op.add_column("object_versions", sa.Column("parts_count", sa.Integer(), nullable=True))
    _create_access_keys()
    _create_multipart()


def _create_access_keys() -> None:
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("grants", sa.JSON(), nullable=False),
        sa.Column("is_root", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_keys")),
    )


def _create_multipart() -> None:
    op.create_table(
        "multipart_uploads",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("bucket_id", _ROW_ID, nullable=False),
        sa.Column("key", _KEY, nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("user_metadata", sa.JSON(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=True),
        sa.Column("checksum", sa.JSON(), nullable=True),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("initiated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bucket_id"], ["buckets.id"], name=op.f("fk_multipart_uploads_bucket_id_buckets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_multipart_uploads")),
    )
    op.create_index(
        "ix_multipart_uploads_bucket_id_key", "multipart_uploads", ["bucket_id", "key", "id"]
    )
    op.create_index("ix_multipart_uploads_initiated_at", "multipart_uploads", ["initiated_at"])
    op.create_table(
        "multipart_parts",
        sa.Column("upload_id", sa.String(length=64), nullable=False),
        sa.Column("part_number", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("checksum", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["multipart_uploads.id"],
            name=op.f("fk_multipart_parts_upload_id_multipart_uploads"),
        ),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_multipart_parts_blob_id_blobs")
        ),
        sa.PrimaryKeyConstraint("upload_id", "part_number", name=op.f("pk_multipart_parts")),
    )
    op.create_index("ix_multipart_parts_blob_id", "multipart_parts", ["blob_id"])


def downgrade() -> None:
    op.drop_index("ix_multipart_parts_blob_id", table_name="multipart_parts")
    op.drop_table("multipart_parts")
    op.drop_index("ix_multipart_uploads_initiated_at", table_name="multipart_uploads")
    op.drop_index("ix_multipart_uploads_bucket_id_key", table_name="multipart_uploads")
    op.drop_table("multipart_uploads")
    op.drop_table("access_keys")
    with op.batch_alter_table("object_versions", schema=None) as batch_op:
        batch_op.drop_column("parts_count")
        batch_op.drop_column("checksum")
        batch_op.drop_column("headers")
    with op.batch_alter_table("buckets", schema=None) as batch_op:
        batch_op.drop_column("notifications")
        batch_op.drop_column("cors")
        batch_op.drop_column("public_read")
        batch_op.drop_column("location")
