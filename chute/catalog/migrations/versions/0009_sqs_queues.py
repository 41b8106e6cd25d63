"""message queues of the SQS API

Revision ID: 0009_sqs_queues
Revises: 0008_functions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chute.catalog.schema import RowId, UTCDateTime

revision = "0009_sqs_queues"
down_revision = "0008_functions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sqs_queues",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("fifo", sa.Boolean(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("purged_at", UTCDateTime(), nullable=True),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sqs_queues")),
        sa.UniqueConstraint("name", name=op.f("uq_sqs_queues_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sqs_messages",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("queue_id", RowId, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("md5_of_body", sa.String(length=32), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("trace_header", sa.Text(), nullable=True),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("visible_at", UTCDateTime(), nullable=False),
        sa.Column("receive_count", sa.Integer(), nullable=False),
        sa.Column("first_received_at", UTCDateTime(), nullable=True),
        sa.Column("receipt", sa.String(length=32), nullable=True),
        sa.Column("group_id", sa.String(length=128), nullable=True),
        sa.Column("deduplication_id", sa.String(length=128), nullable=True),
        sa.Column("sequence_number", sa.BigInteger(), nullable=True),
        sa.Column("dead_letter_source", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["sqs_queues.id"],
            name=op.f("fk_sqs_messages_queue_id_sqs_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sqs_messages")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sqs_messages_ready", "sqs_messages", ["queue_id", "visible_at", "id"])
    op.create_index("ix_sqs_messages_group", "sqs_messages", ["queue_id", "group_id", "id"])
    op.create_index("ix_sqs_messages_sent", "sqs_messages", ["queue_id", "sent_at"])
    op.create_table(
        "sqs_deduplication",
        sa.Column("queue_id", RowId, nullable=False),
        sa.Column("deduplication_id", sa.String(length=260), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["sqs_queues.id"],
            name=op.f("fk_sqs_deduplication_queue_id_sqs_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "deduplication_id", name=op.f("pk_sqs_deduplication")),
    )
    op.create_index("ix_sqs_deduplication_expires", "sqs_deduplication", ["queue_id", "expires_at"])


def downgrade() -> None:
    op.drop_table("sqs_deduplication")
    op.drop_table("sqs_messages")
    op.drop_table("sqs_queues")
