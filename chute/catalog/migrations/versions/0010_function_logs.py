"""the log of every function invocation

Revision ID: 0010_function_logs
Revises: 0009_sqs_queues
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chute.catalog.schema import RowId, UTCDateTime

revision = "0010_function_logs"
down_revision = "0009_sqs_queues"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "function_logs",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("function", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("log_stream", sa.String(length=128), nullable=False),
        sa.Column("logged_at", UTCDateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_function_logs")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_function_logs_function_id", "function_logs", ["function", "id"])
    op.create_index("ix_function_logs_logged_at", "function_logs", ["logged_at"])


def downgrade() -> None:
    op.drop_table("function_logs")
