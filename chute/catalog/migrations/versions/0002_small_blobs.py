"""small blobs kept in the catalog

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "small_blobs",
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("blob_id", name=op.f("pk_small_blobs")),
    )


def downgrade() -> None:
    in_use = op.get_bind().execute(
        sa.text("SELECT count(*) FROM object_versions WHERE blob_id LIKE 'c-%'")
    )
    if in_use.scalar_one():
        raise RuntimeError("objects are stored in small_blobs; downgrading would lose them")
    op.drop_table("small_blobs")
