"""The tables of message queues (migration ``0009`` creates them).

A queue's settable attributes are kept as SQS names them (strings, as the API carries
them). A message row is visible once ``visible_at`` has passed; a receive sets a new
``receipt`` token and pushes ``visible_at`` back by the visibility timeout, so only the
latest receipt handle can delete it or change its visibility.
"""

from __future__ import annotations

import sqlalchemy as sa

from chute.catalog.schema import RowId, UTCDateTime, metadata

sqs_queues = sa.Table(
    "sqs_queues",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(80), nullable=False, unique=True),
    sa.Column("fifo", sa.Boolean(), nullable=False),
    sa.Column("attributes", sa.JSON(), nullable=False),
    sa.Column("tags", sa.JSON(), nullable=False),
    # Signs the queue's receipt handles (hex), so a forged one is told apart from a
    # stale one.
    sa.Column("secret", sa.String(64), nullable=False),
    # The last FIFO sequence number given out.
    sa.Column("sequence", sa.BigInteger(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("purged_at", UTCDateTime(), nullable=True),
    # A deleted queue's row stays a minute, as SQS refuses its name for that long.
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    sqlite_autoincrement=True,
)

sqs_messages = sa.Table(
    "sqs_messages",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column(
        "queue_id", RowId, sa.ForeignKey("sqs_queues.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("message_id", sa.String(36), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("md5_of_body", sa.String(32), nullable=False),
    # {name: {"DataType", "StringValue" | "BinaryValue" (base64)}}
    sa.Column("attributes", sa.JSON(), nullable=True),
    # AWSTraceHeader, the one message system attribute a sender may set.
    sa.Column("trace_header", sa.Text(), nullable=True),
    sa.Column("sender_id", sa.String(128), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
    sa.Column("visible_at", UTCDateTime(), nullable=False),
    sa.Column("receive_count", sa.Integer(), nullable=False),
    sa.Column("first_received_at", UTCDateTime(), nullable=True),
    # The token of the latest receive (NULL: never received since it was queued).
    sa.Column("receipt", sa.String(32), nullable=True),
    sa.Column("group_id", sa.String(128), nullable=True),
    sa.Column("deduplication_id", sa.String(128), nullable=True),
    sa.Column("sequence_number", sa.BigInteger(), nullable=True),
    # The ARN of the queue a dead letter came from.
    sa.Column("dead_letter_source", sa.String(256), nullable=True),
    sa.Index("ix_sqs_messages_ready", "queue_id", "visible_at", "id"),
    sa.Index("ix_sqs_messages_group", "queue_id", "group_id", "id"),
    sa.Index("ix_sqs_messages_sent", "queue_id", "sent_at"),
    sqlite_autoincrement=True,  # row ids are in receipt handles: never reused
)

sqs_deduplication = sa.Table(
    "sqs_deduplication",
    metadata,
    sa.Column(
        "queue_id",
        RowId,
        sa.ForeignKey("sqs_queues.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # The deduplication id, prefixed by the group's when the scope is the group.
    sa.Column("deduplication_id", sa.String(260), primary_key=True),
    sa.Column("message_id", sa.String(36), nullable=False),
    sa.Column("sequence_number", sa.BigInteger(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_sqs_deduplication_expires", "queue_id", "expires_at"),
)
