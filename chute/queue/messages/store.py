"""Queries on message queues inside one transaction (``CatalogSession.messages``).

Receives lock the rows they take: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
consumers receiving at once never wait for each other nor take the same message; on
SQLite one write transaction runs at a time. A FIFO queue's receive first locks the
queue's row, since order within a message group holds only if its receives run one at
a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from chute.queue.messages.records import Counts, MessageRow, NewMessage, QueueRow
from chute.queue.messages.schema import sqs_deduplication, sqs_messages, sqs_queues

#: The PostgreSQL channel a send notifies once committed, with the queue's row id.
CHANNEL = "chute_messages"

_param = sa.bindparam
_m = sqs_messages.c
_q = sqs_queues.c
_MESSAGE_COLUMNS = [sqs_messages.c[name] for name in MessageRow.__slots__]
_QUEUE_COLUMNS = [sqs_queues.c[name] for name in QueueRow.__slots__]
_LIVE = _q.deleted_at.is_(None)

# Hot-path statements, built once.
_GET_QUEUE = sa.select(*_QUEUE_COLUMNS).where(_q.name == _param("name"), _LIVE)
_GET_QUEUE_BY_ID = sa.select(*_QUEUE_COLUMNS).where(_q.id == _param("queue_id"), _LIVE)
_IS_LIVE = sa.select(_q.id).where(_q.id == _param("queue_id"), _LIVE)
_INSERT_MESSAGE = sqs_messages.insert()
_IN_FLIGHT_GROUPS = sa.select(_m.group_id).where(
    _m.queue_id == _param("queue_id"),
    _m.receipt.is_not(None),
    _m.visible_at > _param("now"),
    _m.group_id.is_not(None),
)


def _ready(*, fifo: bool, postgres: bool) -> sa.Select[Any]:
    """Visible messages of a queue, oldest first (see :meth:`MessageStore.ready`)."""
    query = sa.select(*_MESSAGE_COLUMNS).where(
        _m.queue_id == _param("queue_id"), _m.visible_at <= _param("now")
    )
    if fifo:
        query = query.where(sa.or_(_m.group_id.is_(None), _m.group_id.not_in(_IN_FLIGHT_GROUPS)))
    query = query.order_by(_m.id).limit(_param("limit"))
    if postgres and not fifo:
        query = query.with_for_update(skip_locked=True)
    return query


#: By (FIFO, PostgreSQL).
_READY = {
    (fifo, postgres): _ready(fifo=fifo, postgres=postgres)
    for fifo in (False, True)
    for postgres in (False, True)
}
_LOCK_QUEUE = sa.select(_q.id).where(_q.id == _param("queue_id")).with_for_update()
_RECEIPT_OF = sa.select(_m.receipt).where(
    _m.id == _param("row_id"), _m.queue_id == _param("queue_id")
)
_NOTIFY = sa.select(sa.func.pg_notify(CHANNEL, _param("payload")))
_TAKE = (
    sqs_messages.update()
    .where(_m.id == _param("row_id"))
    .values(
        receipt=_param("token"),
        visible_at=_param("visible_until"),
        receive_count=_m.receive_count + 1,
        first_received_at=sa.func.coalesce(_m.first_received_at, _param("now")),
    )
)
_DELETE = sqs_messages.delete().where(
    _m.id == _param("row_id"),
    _m.queue_id == _param("queue_id"),
    _m.receipt == _param("token"),
)
_CHANGE_VISIBILITY = (
    sqs_messages.update()
    .where(
        _m.id == _param("row_id"),
        _m.queue_id == _param("in_queue"),
        _m.receipt == _param("token"),
        _m.visible_at > _param("now"),
    )
    .values(visible_at=_param("new_visible_at"))
)


def _fields(message: NewMessage) -> dict[str, Any]:
    # not dataclasses.asdict, which deep-copies every attribute
    return {name: getattr(message, name) for name in NewMessage.__slots__}


class MessageStore:
    """Message queue queries inside one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._postgres = conn.dialect.name == "postgresql"

    # --- queues -----------------------------------------------------------------------

    def queue(self, name: str) -> QueueRow | None:
        """The live queue called ``name``."""
        row = self.conn.execute(_GET_QUEUE, {"name": name}).mappings().first()
        return None if row is None else QueueRow(**row)

    def queue_by_id(self, queue_id: int) -> QueueRow | None:
        row = self.conn.execute(_GET_QUEUE_BY_ID, {"queue_id": queue_id}).mappings().first()
        return None if row is None else QueueRow(**row)

    def is_live(self, queue_id: int) -> bool:
        """Whether the queue with row id ``queue_id`` exists and is not deleted."""
        return self.conn.execute(_IS_LIVE, {"queue_id": queue_id}).first() is not None

    def deleted_at(self, name: str) -> datetime | None:
        """When the queue called ``name`` was deleted, if its row is still kept."""
        query = sa.select(_q.deleted_at).where(_q.name == name, _q.deleted_at.is_not(None))
        found: datetime | None = self.conn.execute(query).scalar()
        return found

    def queues(self, prefix: str = "", after: str = "", limit: int = 1000) -> list[QueueRow]:
        """Live queues whose names start with ``prefix``, by name, after ``after``."""
        query = sa.select(*_QUEUE_COLUMNS).where(_LIVE, _q.name > after)
        if prefix:
            query = query.where(_q.name.startswith(prefix, autoescape=True))
        rows = self.conn.execute(query.order_by(_q.name).limit(limit)).mappings()
        return [QueueRow(**row) for row in rows]

    def create_queue(self, queue: QueueRow) -> QueueRow | None:
        """Insert ``queue`` (its ``id`` is ignored); ``None`` if the name is taken. The
        row of a deleted queue of that name is removed first."""
        self.conn.execute(sqs_queues.delete().where(_q.name == queue.name, ~_LIVE))
        values = {**asdict(queue), "sequence": 0}
        del values["id"]
        try:
            with self.conn.begin_nested():
                result = self.conn.execute(sqs_queues.insert().values(**values))
        except IntegrityError:
            return None
        (queue_id,) = result.inserted_primary_key or (0,)
        return QueueRow(**{**asdict(queue), "id": int(queue_id)})

    def update_queue(self, queue_id: int, now: datetime, **values: Any) -> None:
        """Change ``attributes``, ``tags`` or ``purged_at`` of a queue."""
        self.conn.execute(
            sqs_queues.update().where(_q.id == queue_id).values(updated_at=now, **values)
        )

    def delete_queue(self, queue_id: int, now: datetime) -> None:
        """Delete a queue's messages and mark it deleted (its name stays refused a
        while, see :meth:`deleted_at`)."""
        self._clear(queue_id)
        self.conn.execute(sqs_queues.update().where(_q.id == queue_id).values(deleted_at=now))

    def purge(self, queue_id: int, now: datetime) -> None:
        """Delete every message of a queue."""
        self.conn.execute(sqs_messages.delete().where(_m.queue_id == queue_id))
        self.update_queue(queue_id, now, purged_at=now)

    def _clear(self, queue_id: int) -> None:
        self.conn.execute(sqs_messages.delete().where(_m.queue_id == queue_id))
        dedup = sqs_deduplication.c
        self.conn.execute(sqs_deduplication.delete().where(dedup.queue_id == queue_id))

    # --- sending ----------------------------------------------------------------------

    def add(
        self, queue_id: int, messages: Sequence[NewMessage], now: datetime, *, fifo: bool = False
    ) -> list[int | None]:
        """Queue ``messages``; returns their sequence numbers (FIFO queues; ``None``
        for others)."""
        numbers: list[int | None] = [None] * len(messages)
        if fifo:
            first = self._next_sequence(queue_id, len(messages))
            numbers = list(range(first, first + len(messages)))
        rows = [
            {
                **_fields(message),
                "queue_id": queue_id,
                "sent_at": now,
                "receive_count": 0,
                "first_received_at": None,
                "receipt": None,
                "sequence_number": number,
            }
            for message, number in zip(messages, numbers, strict=True)
        ]
        if rows:
            self.conn.execute(_INSERT_MESSAGE, rows)
            self.notify(queue_id)
        return numbers

    def notify(self, queue_id: int) -> None:
        """Tell other processes' waiting receives of new messages on the queue, once
        this transaction commits (PostgreSQL; on SQLite they look again on their own)."""
        if self._postgres:
            self.conn.execute(_NOTIFY, {"payload": str(queue_id)})

    def _next_sequence(self, queue_id: int, count: int) -> int:
        query = sa.select(_q.sequence).where(_q.id == queue_id)
        last = int(self.conn.execute(query).scalar_one())
        self.conn.execute(
            sqs_queues.update().where(_q.id == queue_id).values(sequence=last + count)
        )
        return last + 1

    def deduplicated(self, queue_id: int, key: str, now: datetime) -> tuple[str, int | None] | None:
        """The message id and sequence number of the message sent with deduplication
        key ``key`` within the interval, if one was."""
        dedup = sqs_deduplication.c
        query = sa.select(dedup.message_id, dedup.sequence_number).where(
            dedup.queue_id == queue_id, dedup.deduplication_id == key, dedup.expires_at > now
        )
        row = self.conn.execute(query).first()
        return None if row is None else (row[0], row[1])

    def remember(
        self, queue_id: int, key: str, message_id: str, number: int | None, expires: datetime
    ) -> None:
        """Record that deduplication key ``key`` was used, until ``expires``."""
        dedup = sqs_deduplication.c
        self.conn.execute(
            sqs_deduplication.delete().where(
                dedup.queue_id == queue_id, dedup.deduplication_id == key
            )
        )
        self.conn.execute(
            sqs_deduplication.insert().values(
                queue_id=queue_id,
                deduplication_id=key,
                message_id=message_id,
                sequence_number=number,
                expires_at=expires,
            )
        )

    def forget_expired(self, queue_id: int, now: datetime) -> None:
        """Drop deduplication keys whose interval has passed."""
        dedup = sqs_deduplication.c
        self.conn.execute(
            sqs_deduplication.delete().where(dedup.queue_id == queue_id, dedup.expires_at <= now)
        )

    # --- receiving --------------------------------------------------------------------

    def any_visible(self, queue_id: int, now: datetime) -> bool:
        """Whether a message of the queue is visible (a receive's look before it takes
        a write transaction)."""
        query = sa.select(_m.id).where(_m.queue_id == queue_id, _m.visible_at <= now).limit(1)
        return self.conn.execute(query).first() is not None

    def ready(self, queue_id: int, limit: int, now: datetime, *, fifo: bool) -> list[MessageRow]:
        """Up to ``limit`` visible messages, oldest first, locked for this transaction.
        On a FIFO queue, none of a message group that has a message in flight."""
        params = {"queue_id": queue_id, "now": now, "limit": limit}
        if fifo and self._postgres:
            self.conn.execute(_LOCK_QUEUE, params)
        query = _READY[fifo, self._postgres]
        return [MessageRow.of(row) for row in self.conn.execute(query, params).mappings()]

    def take(
        self, taken: Sequence[tuple[int, str]], visible_until: datetime, now: datetime
    ) -> None:
        """Mark messages received: each ``(row id, token)`` gets its new receipt token,
        one more receive, and stays invisible until ``visible_until``."""
        if taken:
            params = [
                {"row_id": row_id, "token": token, "visible_until": visible_until, "now": now}
                for row_id, token in taken
            ]
            self.conn.execute(_TAKE, params)

    def move(self, row_ids: Sequence[int], queue_id: int, source: str, now: datetime) -> None:
        """Move messages to queue ``queue_id`` as dead letters from queue ARN
        ``source``: visible there at once, never received there yet."""
        self._relocate(row_ids, queue_id, now, dead_letter_source=source)

    def redrive(self, row_ids: Sequence[int], queue_id: int, now: datetime) -> None:
        """Move dead letters to queue ``queue_id`` (a message move task): visible there
        at once, received anew, no longer dead letters."""
        self._relocate(
            row_ids,
            queue_id,
            now,
            receive_count=0,
            first_received_at=None,
            dead_letter_source=None,
        )

    def _relocate(
        self, row_ids: Sequence[int], queue_id: int, now: datetime, **values: Any
    ) -> None:
        if row_ids:
            self.conn.execute(
                sqs_messages.update()
                .where(_m.id.in_(list(row_ids)))
                .values(queue_id=queue_id, visible_at=now, receipt=None, **values)
            )
            self.notify(queue_id)

    def drop(self, row_ids: Sequence[int]) -> None:
        """Delete messages by row id (expired ones)."""
        if row_ids:
            self.conn.execute(sqs_messages.delete().where(_m.id.in_(list(row_ids))))

    def expire(self, queue_id: int, sent_before: datetime, limit: int = 1000) -> int:
        """Delete up to ``limit`` messages sent before ``sent_before``."""
        oldest = (
            sa.select(_m.id)
            .where(_m.queue_id == queue_id, _m.sent_at < sent_before)
            .order_by(_m.sent_at)
            .limit(limit)
        )
        ids = list(self.conn.execute(oldest).scalars())
        self.drop(ids)
        return len(ids)

    # --- settling ---------------------------------------------------------------------

    def delete(self, queue_id: int, row_id: int, token: str) -> bool:
        """Delete the message if ``token`` is its latest receipt; whether it was."""
        params = {"queue_id": queue_id, "row_id": row_id, "token": token}
        return bool(self.conn.execute(_DELETE, params).rowcount)

    def change_visibility(
        self, queue_id: int, row_id: int, token: str, visible_at: datetime, now: datetime
    ) -> bool:
        """Make an in-flight message visible at ``visible_at`` instead, if ``token`` is
        its latest receipt; whether it was (see :meth:`receipt_of`)."""
        params = {
            "in_queue": queue_id, "row_id": row_id, "token": token,
            "new_visible_at": visible_at, "now": now,
        }  # fmt: skip
        return bool(self.conn.execute(_CHANGE_VISIBILITY, params).rowcount)

    def receipt_of(self, queue_id: int, row_id: int) -> str | None:
        """The latest receipt token of a message (``None``: no such message, or never
        received)."""
        params = {"row_id": row_id, "queue_id": queue_id}
        found: str | None = self.conn.execute(_RECEIPT_OF, params).scalar()
        return found

    # --- counting ---------------------------------------------------------------------

    def counts(self, queue_id: int, now: datetime) -> Counts:
        """How many messages are visible, in flight and delayed."""
        visible = sa.func.sum(sa.case((_m.visible_at <= now, 1), else_=0))
        in_flight = sa.func.sum(
            sa.case((sa.and_(_m.visible_at > now, _m.receipt.is_not(None)), 1), else_=0)
        )
        delayed = sa.func.sum(
            sa.case((sa.and_(_m.visible_at > now, _m.receipt.is_(None)), 1), else_=0)
        )
        query = sa.select(visible, in_flight, delayed).where(_m.queue_id == queue_id)
        row = self.conn.execute(query).one()
        return Counts(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))
