"""what a run's steps keep for one another (Map items and results), a Map's progress, and
an index on a run's jobs by state

Revision ID: 0011_map_items
Revises: 0010_function_logs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chute.catalog.schema import KeyText, RowId, UTCDateTime

revision = "0011_map_items"
down_revision = "0010_function_logs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_items",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("step", sa.String(length=128), nullable=False),
        sa.Column("item", sa.Integer(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("key", KeyText, nullable=False),
        sa.Column("blob_id", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_items_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_items")),
        sa.UniqueConstraint(
            "run_id", "step", "item", "part", name=op.f("uq_run_items_run_id_step_item_part")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_run_items_blob_id", "run_items", ["blob_id"])
    op.create_table(
        "run_maps",
        sa.Column("run_id", RowId, nullable=False),
        sa.Column("step", sa.String(length=128), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_maps_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "step", name=op.f("pk_run_maps")),
    )
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.create_index("ix_jobs_run_state", ["run_id", "state", "step"])
        batch_op.drop_index("ix_jobs_run_id")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.create_index("ix_jobs_run_id", ["run_id"])
        batch_op.drop_index("ix_jobs_run_state")
    op.drop_table("run_maps")
    op.drop_table("run_items")
