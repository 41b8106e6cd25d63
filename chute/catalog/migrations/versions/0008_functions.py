"""functions and layer versions made through the Lambda API

Revision ID: 0008_functions
Revises: 0007_s3_api
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_functions"
down_revision = "0007_s3_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "functions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("code_blob_id", sa.String(length=64), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("code_size", sa.BigInteger(), nullable=False),
        sa.Column("layers", sa.JSON(), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["code_blob_id"], ["blobs.id"], name=op.f("fk_functions_code_blob_id_blobs")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_functions")),
    )
    op.create_index("ix_functions_code_blob_id", "functions", ["code_blob_id"])
    op.create_table(
        "layer_versions",
        sa.Column("name", sa.String(length=140), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("runtimes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_layer_versions_blob_id_blobs")
        ),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_layer_versions")),
    )
    op.create_index("ix_layer_versions_blob_id", "layer_versions", ["blob_id"])


def downgrade() -> None:
    op.drop_table("layer_versions")
    op.drop_table("functions")
