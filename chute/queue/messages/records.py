"""What the message store reads and writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class QueueRow:
    id: int
    name: str
    fifo: bool
    #: The settable attributes, as SQS names them (strings).
    attributes: dict[str, str]
    tags: dict[str, str]
    secret: str
    created_at: datetime
    updated_at: datetime
    purged_at: datetime | None
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    message_id: str
    body: str
    md5_of_body: str
    attributes: dict[str, dict[str, str]] | None
    trace_header: str | None
    sender_id: str
    visible_at: datetime
    group_id: str | None = None
    deduplication_id: str | None = None
    dead_letter_source: str | None = None


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    queue_id: int
    message_id: str
    body: str
    md5_of_body: str
    attributes: dict[str, dict[str, str]] | None
    trace_header: str | None
    sender_id: str
    sent_at: datetime
    visible_at: datetime
    receive_count: int
    first_received_at: datetime | None
    receipt: str | None
    group_id: str | None
    deduplication_id: str | None
    sequence_number: int | None
    dead_letter_source: str | None

    @classmethod
    def of(cls, row: Any) -> MessageRow:
        return cls(**{name: row[name] for name in cls.__slots__})


@dataclass(frozen=True, slots=True)
class Counts:
    """A queue's approximate message counts."""

    visible: int
    in_flight: int
    delayed: int
