"""The SQS operations, over Chute's catalog.

Each operation takes a :class:`Call` (who asks, the request's parameters as SQS's JSON
protocol names them) and answers a document of the same shape, so both wire protocols
(:mod:`chute.api.sqs`) share every rule. Sends commit through the catalog's group
commit; receives are row claims (see :mod:`chute.queue.messages.store`), and a message
received ``maxReceiveCount`` times moves to its dead-letter queue when next due, as SQS
moves it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from chute.access import Access
from chute.catalog import Catalog, CatalogSession
from chute.clock import Clock, system_clock
from chute.context import RequestContext
from chute.errors import AccessDenied
from chute.names import ACCOUNT
from chute.queue.messages import MessageRow, NewMessage, QueueRow
from chute.sqs import attributes as attrs
from chute.sqs import handles
from chute.sqs.errors import (
    BatchRequestTooLong,
    InvalidAttributeName,
    InvalidParameterValue,
    MessageNotInflight,
    MissingParameter,
    OverLimit,
    PurgeQueueInProgress,
    QueueDeletedRecently,
    QueueDoesNotExist,
    QueueNameExists,
    SqsError,
)
from chute.sqs.messages import (
    check_attributes,
    check_body,
    md5_of_attributes,
    md5_of_body,
    selected,
    size_of,
)
from chute.sqs.moves import MessageMoves, dead_letter_sources
from chute.sqs.params import (
    MAX_BATCH,
    batch_answer,
    batch_entries,
    failure,
    integer,
    loose_attributes,
    names,
    string_map,
    text,
)

MAX_WAIT_SECONDS = 20
MAX_VISIBILITY_TIMEOUT = 43_200
MAX_TAGS = 50
#: How long a deleted queue's name, a purge, and a deduplication id are remembered.
DELETED_NAME = PURGE_INTERVAL = timedelta(seconds=60)
DEDUPLICATION_INTERVAL = timedelta(minutes=5)
#: How long a queue's row, read for a message operation, is used before it is read again.
QUEUE_CACHE_SECONDS = 1.0
#: Most expired messages deleted in one transaction.
EXPIRE_BATCH = 1000
#: The message system attributes a receive may ask for.
SYSTEM_ATTRIBUTES = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)
_FIFO_ID = re.compile(r"^[!-~]{1,128}$")  # alphanumerics and punctuation
#: How many rounds one receive looks further when what it found all moved or expired.
_RECEIVE_ROUNDS = 3

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Call:
    """One SQS request: who asks, where queue URLs start, and its parameters."""

    context: RequestContext
    #: ``scheme://host[:port]`` of the request, which queue URLs start with.
    base_url: str
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PendingReceive:
    """A checked ``ReceiveMessage``: what to take, and how long to wait for it."""

    queue: QueueRow
    limit: int
    visibility_timeout: int | None
    wait_seconds: int
    system_names: tuple[str, ...]
    attribute_names: tuple[str, ...]


class Queues:
    """Amazon SQS's operations (by their API names in :attr:`operations`)."""

    def __init__(
        self,
        catalog: Catalog,
        region: str,
        clock: Clock = system_clock,
        on_send: Callable[[int], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.region = region
        self.clock = clock
        #: Told the queue row id once messages were committed to it (wakes long polls).
        self.on_send = on_send or (lambda queue_id: None)
        self._cache: dict[str, tuple[QueueRow, float]] = {}
        self._cache_lock = threading.Lock()
        self.operations: dict[str, Callable[[Call], dict[str, Any]]] = {
            "CreateQueue": self.create_queue,
            "GetQueueUrl": self.get_queue_url,
            "ListQueues": self.list_queues,
            "DeleteQueue": self.delete_queue,
            "GetQueueAttributes": self.get_queue_attributes,
            "SetQueueAttributes": self.set_queue_attributes,
            "PurgeQueue": self.purge_queue,
            "TagQueue": self.tag_queue,
            "UntagQueue": self.untag_queue,
            "ListQueueTags": self.list_queue_tags,
            "ListDeadLetterSourceQueues": self.list_dead_letter_source_queues,
            "AddPermission": self.add_permission,
            "RemovePermission": self.remove_permission,
            "SendMessage": self.send_message,
            "SendMessageBatch": self.send_message_batch,
            "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
        }
        #: Dead-letter queue redrives (see :mod:`chute.sqs.moves`).
        self.moves = MessageMoves(self)
        self.operations.update(
            StartMessageMoveTask=self.moves.start,
            CancelMessageMoveTask=self.moves.cancel,
            ListMessageMoveTasks=self.moves.list,
        )

    # --- queues -----------------------------------------------------------------------

    def create_queue(self, call: Call) -> dict[str, Any]:
        name = text(call.params, "QueueName", required=True)
        _require(call.context, Access.ADMIN, name)
        given = string_map(call.params, "Attributes")
        fifo, kept = attrs.creating(name, given)
        tags = _tags(string_map(call.params, "tags"))
        now = self.clock()

        def create(session: CatalogSession) -> QueueRow:
            store = session.messages
            found = store.queue(name)
            if found is not None:
                _same_attributes(found, given)
                return found
            deleted = store.deleted_at(name)
            if deleted is not None and now - deleted < DELETED_NAME:
                raise QueueDeletedRecently(
                    "You must wait 60 seconds after deleting a queue before you can create "
                    "another with the same name."
                )
            self._check_redrive(session, name, fifo, kept)
            made = store.create_queue(
                QueueRow(0, name, fifo, kept, tags, handles.new_secret(), now, now, None, None)
            )
            if made is None:  # created at the same moment elsewhere
                raise QueueNameExists(f"A queue already exists with the same name: {name}")
            return made

        queue = self.catalog.run_write(create)
        return {"QueueUrl": self.url(call, queue.name)}

    def get_queue_url(self, call: Call) -> dict[str, Any]:
        name = text(call.params, "QueueName", required=True)
        _require(call.context, Access.READ, name)
        owner = call.params.get("QueueOwnerAWSAccountId")
        with self.catalog.read() as session:
            queue = session.messages.queue(name)
        if queue is None or (owner is not None and owner != ACCOUNT):
            raise QueueDoesNotExist()
        return {"QueueUrl": self.url(call, queue.name)}

    def list_queues(self, call: Call) -> dict[str, Any]:
        prefix = text(call.params, "QueueNamePrefix") or ""
        limit = integer(call.params, "MaxResults", 1, 1000)
        after = text(call.params, "NextToken") or ""
        with self.catalog.read() as session:
            found = session.messages.queues(prefix, after, (limit or 1000) + 1)
        permissions = call.context.permissions
        visible = [queue for queue in found if permissions.allows_queue(Access.READ, queue.name)]
        answer: dict[str, Any] = {}
        page = visible[: limit or 1000]
        if page:
            answer["QueueUrls"] = [self.url(call, queue.name) for queue in page]
        if limit is not None and len(found) > limit:
            answer["NextToken"] = found[limit - 1].name
        return answer

    def delete_queue(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.ADMIN)
        now = self.clock()

        def delete(session: CatalogSession) -> None:
            queue = _live(session, name)
            session.messages.delete_queue(queue.id, now)

        self.catalog.run_write(delete)
        self._forget(name)
        return {}

    def get_queue_attributes(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.READ)
        wanted = names(call.params, "AttributeNames")
        for asked in wanted:
            if asked != "All" and asked not in attrs.READABLE:
                raise InvalidAttributeName(f"Unknown Attribute {asked}.")
        now = self.clock()
        with self.catalog.read() as session:
            queue = _live(session, name)
            counts = session.messages.counts(queue.id, now) if wanted else None
        if not wanted or counts is None:
            return {}
        values = attrs.effective(queue.attributes, queue.fifo)
        values.update(
            {
                "ApproximateNumberOfMessages": str(counts.visible),
                "ApproximateNumberOfMessagesNotVisible": str(counts.in_flight),
                "ApproximateNumberOfMessagesDelayed": str(counts.delayed),
                "CreatedTimestamp": str(int(queue.created_at.timestamp())),
                "LastModifiedTimestamp": str(int(queue.updated_at.timestamp())),
                "QueueArn": self.arn(queue.name),
            }
        )
        if queue.fifo:
            values["FifoQueue"] = "true"
        picked = values if "All" in wanted else {k: values[k] for k in wanted if k in values}
        found = {name: value for name, value in picked.items() if value != ""}
        return {"Attributes": found} if found else {}

    def set_queue_attributes(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.ADMIN)
        given = string_map(call.params, "Attributes")
        now = self.clock()

        def update(session: CatalogSession) -> None:
            queue = _live(session, name)
            changes = attrs.checked(given, queue.fifo)
            kept = {**queue.attributes, **changes}
            for attribute in [k for k, v in changes.items() if v == "" and k in attrs.TEXTS]:
                kept.pop(attribute)  # an empty policy removes it
            self._check_redrive(session, name, queue.fifo, changes)
            session.messages.update_queue(queue.id, now, attributes=kept)

        self.catalog.run_write(update)
        self._forget(name)
        return {}

    def purge_queue(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.ADMIN)
        now = self.clock()

        def purge(session: CatalogSession) -> None:
            queue = _live(session, name)
            if queue.purged_at is not None and now - queue.purged_at < PURGE_INTERVAL:
                raise PurgeQueueInProgress(
                    f"Only one PurgeQueue operation on {name} is allowed every 60 seconds."
                )
            session.messages.purge(queue.id, now)

        self.catalog.run_write(purge)
        self._forget(name)
        return {}

    def tag_queue(self, call: Call) -> dict[str, Any]:
        given = string_map(call.params, "Tags")
        return self._retag(call, lambda tags: {**tags, **given})

    def untag_queue(self, call: Call) -> dict[str, Any]:
        keys = set(names(call.params, "TagKeys"))
        return self._retag(call, lambda tags: {k: v for k, v in tags.items() if k not in keys})

    def _retag(
        self, call: Call, change: Callable[[dict[str, str]], dict[str, str]]
    ) -> dict[str, Any]:
        name = self._name(call, Access.ADMIN)
        now = self.clock()

        def update(session: CatalogSession) -> None:
            queue = _live(session, name)
            session.messages.update_queue(queue.id, now, tags=_tags(change(queue.tags)))

        self.catalog.run_write(update)
        self._forget(name)
        return {}

    def list_queue_tags(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.READ)
        with self.catalog.read() as session:
            queue = _live(session, name)
        return {"Tags": queue.tags} if queue.tags else {}

    def list_dead_letter_source_queues(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.READ)
        target = self.arn(name)
        with self.catalog.read() as session:
            _live(session, name)
            sources = dead_letter_sources(session, target)
        return {"queueUrls": [self.url(call, source) for source in sources]}

    def add_permission(self, call: Call) -> dict[str, Any]:
        label = text(call.params, "Label", required=True)
        accounts = names(call.params, "AWSAccountIds")
        actions = names(call.params, "Actions")
        if not accounts:
            raise MissingParameter("AWSAccountIds")
        if not actions:
            raise MissingParameter("Actions")

        def change(policy: dict[str, Any], arn: str) -> None:
            statements = policy.setdefault("Statement", [])
            if any(statement.get("Sid") == label for statement in statements):
                raise InvalidParameterValue(
                    f"Value {label} for parameter Label is invalid. Reason: Already exists."
                )
            principals = [f"arn:aws:iam::{account}:root" for account in accounts]
            statements.append(
                {
                    "Sid": label,
                    "Effect": "Allow",
                    "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
                    "Action": [f"SQS:{action}" for action in actions],
                    "Resource": arn,
                }
            )

        return self._repolicy(call, change)

    def remove_permission(self, call: Call) -> dict[str, Any]:
        label = text(call.params, "Label", required=True)

        def change(policy: dict[str, Any], arn: str) -> None:
            statements = policy.get("Statement", [])
            kept = [statement for statement in statements if statement.get("Sid") != label]
            if len(kept) == len(statements):
                raise InvalidParameterValue(
                    f"Value {label} for parameter Label is invalid. "
                    "Reason: can't find label on existing policy."
                )
            policy["Statement"] = kept

        return self._repolicy(call, change)

    def _repolicy(
        self, call: Call, change: Callable[[dict[str, Any], str], None]
    ) -> dict[str, Any]:
        name = self._name(call, Access.ADMIN)
        now = self.clock()

        def update(session: CatalogSession) -> None:
            queue = _live(session, name)
            arn = self.arn(name)
            text = queue.attributes.get("Policy")
            policy = (
                json.loads(text)
                if text
                else {"Version": "2012-10-17", "Id": f"{arn}/SQSDefaultPolicy"}
            )
            change(policy, arn)
            kept = dict(queue.attributes)
            if policy.get("Statement"):
                kept["Policy"] = json.dumps(policy)
            else:
                kept.pop("Policy", None)
            session.messages.update_queue(queue.id, now, attributes=kept)

        self.catalog.run_write(update)
        self._forget(name)
        return {}

    # --- sending ----------------------------------------------------------------------

    def send_message(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.WRITE)
        queue = self._queue(name)
        message = _outgoing(queue, call.params, call.context)
        queue_id = queue.id
        (sent,) = self._send(queue, [message])
        self.on_send(queue_id)
        if isinstance(sent, SqsError):
            raise sent
        return sent

    def send_message_batch(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.WRITE)
        entries = batch_entries(call.params, "Send")
        queue = self._queue(name)
        limit = attrs.number(queue.attributes, "MaximumMessageSize")
        total = sum(
            size_of(str(entry.get("MessageBody") or ""), loose_attributes(entry))
            for entry in entries
        )
        if total > limit:
            raise BatchRequestTooLong(
                f"Batch requests cannot be longer than {limit} bytes. You have sent {total} bytes."
            )
        checked: list[_Outgoing | SqsError] = []
        for entry in entries:
            try:
                checked.append(_outgoing(queue, entry, call.context))
            except SqsError as error:
                checked.append(error)
        valid = [item for item in checked if isinstance(item, _Outgoing)]
        sent = iter(self._send(queue, valid) if valid else [])
        self.on_send(queue.id)
        successful, failed = [], []
        for entry, item in zip(entries, checked, strict=True):
            outcome = item if isinstance(item, SqsError) else next(sent)
            if isinstance(outcome, SqsError):
                failed.append(failure(entry["Id"], outcome))
            else:
                successful.append({"Id": entry["Id"], **outcome})
        return {"Successful": successful, "Failed": failed}

    def _send(
        self, queue: QueueRow, messages: Sequence[_Outgoing]
    ) -> list[dict[str, Any] | SqsError]:
        """Queue ``messages`` in one transaction: each its answer, or the error of the
        one that could not be (deduplicated ones answer as first sent)."""
        now = self.clock()
        fifo = queue.fifo

        def send(session: CatalogSession) -> list[dict[str, Any]]:
            store = session.messages
            if not store.is_live(queue.id):
                raise QueueDoesNotExist()
            if fifo:
                store.forget_expired(queue.id, now)
            answers: list[dict[str, Any]] = []
            fresh: list[tuple[int, _Outgoing]] = []
            repeats: dict[int, int] = {}  # a key repeated in this batch: index -> first's
            first_of: dict[str, int] = {}
            for index, message in enumerate(messages):
                key = message.dedup_key
                known = store.deduplicated(queue.id, key, now) if key is not None else None
                answers.append({} if known is None else message.answer(*known))
                if known is not None:
                    continue
                if key is not None and key in first_of:
                    repeats[index] = first_of[key]
                    continue
                if key is not None:
                    first_of[key] = index
                fresh.append((index, message))
            news = [
                replace(message.row, visible_at=now + timedelta(seconds=message.delay))
                for _, message in fresh
            ]
            numbers = store.add(queue.id, news, now, fifo=fifo)
            for (index, message), number in zip(fresh, numbers, strict=True):
                answers[index] = message.answer(message.row.message_id, number)
                if message.dedup_key is not None:
                    store.remember(
                        queue.id, message.dedup_key, message.row.message_id, number,
                        now + DEDUPLICATION_INTERVAL,
                    )  # fmt: skip
            for index, first in repeats.items():
                sent = answers[first]
                number = sent.get("SequenceNumber")
                answers[index] = messages[index].answer(
                    sent["MessageId"], None if number is None else int(number)
                )
            return answers

        return list(self.catalog.run_write(send))

    # --- receiving --------------------------------------------------------------------

    def prepare_receive(self, call: Call) -> PendingReceive:
        """Check a ``ReceiveMessage``; the API waits and calls :meth:`receive`."""
        name = self._name(call, Access.READ)
        params = call.params
        limit = integer(
            params,
            "MaxNumberOfMessages",
            1,
            MAX_BATCH,
            reason="Must be between 1 and 10, if provided.",
        )
        timeout = integer(
            params,
            "VisibilityTimeout",
            0,
            MAX_VISIBILITY_TIMEOUT,
            reason="Must be between 0 and 43200, if provided.",
        )
        wait = integer(
            params,
            "WaitTimeSeconds",
            0,
            MAX_WAIT_SECONDS,
            reason="Must be >= 0 and <= 20, if provided.",
        )
        system = (*names(params, "AttributeNames"), *names(params, "MessageSystemAttributeNames"))
        for asked in system:
            if asked not in ("All", *SYSTEM_ATTRIBUTES) and asked not in attrs.READABLE:
                raise InvalidAttributeName(f"Unknown Attribute {asked}.")
        queue = self._queue(name)
        if wait is None:
            wait = attrs.number(queue.attributes, "ReceiveMessageWaitTimeSeconds")
        return PendingReceive(
            queue, limit or 1, timeout, wait, tuple(system),
            tuple(names(params, "MessageAttributeNames")),
        )  # fmt: skip

    def receive(self, pending: PendingReceive) -> dict[str, Any]:
        """Take what is visible now (``{}``: nothing). An empty queue is seen in a read,
        so idle long polls write nothing."""
        now = self.clock()
        moved: list[int] = []
        with self.catalog.read() as session:
            if not session.messages.is_live(pending.queue.id):
                raise QueueDoesNotExist()
            if not session.messages.any_visible(pending.queue.id, now):
                return {}

        def take(session: CatalogSession) -> tuple[QueueRow, list[tuple[MessageRow, str]]]:
            store = session.messages
            queue = pending.queue
            if not store.is_live(queue.id):
                raise QueueDoesNotExist()
            timeout = pending.visibility_timeout
            if timeout is None:
                timeout = attrs.number(queue.attributes, "VisibilityTimeout")
            retention = timedelta(seconds=attrs.number(queue.attributes, "MessageRetentionPeriod"))
            dead_letters = self._dead_letter_queue(session, queue)
            taken: list[tuple[MessageRow, str]] = []
            for _ in range(_RECEIVE_ROUNDS):
                want = pending.limit - len(taken)
                found = store.ready(queue.id, want, now, fifo=queue.fifo)
                expired = [row.id for row in found if now - row.sent_at > retention]
                dead = [
                    row.id for row in found
                    if dead_letters is not None and row.id not in expired
                    and row.receive_count >= dead_letters[1]
                ]  # fmt: skip
                store.drop(expired)
                if dead_letters is not None and dead:
                    store.move(dead, dead_letters[0].id, self.arn(queue.name), now)
                    moved.append(dead_letters[0].id)
                settled = set(expired) | set(dead)
                fresh = [(row, handles.new_token()) for row in found if row.id not in settled]
                store.take(
                    [(row.id, token) for row, token in fresh], now + timedelta(seconds=timeout), now
                )
                taken.extend(fresh)
                if len(found) < want or not settled or len(taken) >= pending.limit:
                    break
            return queue, taken

        queue, taken = self.catalog.run_claim(take)
        for target in moved:
            self.on_send(target)
        if not taken:
            return {}
        return {
            "Messages": [self._message(queue, row, token, now, pending) for row, token in taken]
        }

    def _message(
        self, queue: QueueRow, row: MessageRow, token: str, now: datetime, pending: PendingReceive
    ) -> dict[str, Any]:
        handle = handles.issue(queue.secret, handles.Receipt(queue.id, row.id, token))
        message: dict[str, Any] = {
            "MessageId": row.message_id,
            "ReceiptHandle": handle,
            "MD5OfBody": row.md5_of_body,
            "Body": row.body,
        }
        system = _system_attributes(row, now, pending.system_names)
        if system:
            message["Attributes"] = system
        chosen = selected(row.attributes, pending.attribute_names)
        if chosen:
            message["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
            message["MessageAttributes"] = chosen
        return message

    def _dead_letter_queue(
        self, session: CatalogSession, queue: QueueRow
    ) -> tuple[QueueRow, int] | None:
        policy = queue.attributes.get("RedrivePolicy")
        if not policy:
            return None
        target, receives = attrs.redrive_policy(policy)
        name = attrs.name_of_arn(target)
        found = session.messages.queue(name) if name else None
        return None if found is None else (found, receives)

    def _check_redrive(
        self, session: CatalogSession, name: str, fifo: bool, given: Mapping[str, str]
    ) -> None:
        policy = given.get("RedrivePolicy")
        if not policy:
            return
        target, _ = attrs.redrive_policy(policy)
        target_name = attrs.name_of_arn(target)
        found = session.messages.queue(target_name) if target_name else None
        reason = None
        if found is None:
            reason = "Dead letter target does not exist."
        elif found.fifo != fifo:
            reason = "Dead-letter queue must be same type of queue as the source."
        elif not attrs.allows_source(found.attributes.get("RedriveAllowPolicy"), self.arn(name)):
            reason = "Queue has a RedriveAllowPolicy that does not allow this source queue."
        if reason:
            raise InvalidParameterValue(
                f"Value {policy} for parameter RedrivePolicy is invalid. Reason: {reason}"
            )

    # --- settling ---------------------------------------------------------------------

    def delete_message(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.READ)
        handle = text(call.params, "ReceiptHandle", required=True)
        queue = self._queue(name)
        receipt = handles.read(handle, queue.secret, queue.id)
        self.catalog.run_claim(
            lambda session: session.messages.delete(queue.id, receipt.row_id, receipt.token)
        )
        return {}

    def delete_message_batch(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.READ)
        entries = batch_entries(call.params, "Delete")
        queue = self._queue(name)
        checked: list[handles.Receipt | SqsError] = []
        for entry in entries:
            try:
                handle = text(entry, "ReceiptHandle", required=True)
                checked.append(handles.read(handle, queue.secret, queue.id))
            except SqsError as error:
                checked.append(error)

        def delete(session: CatalogSession) -> None:
            for receipt in checked:
                if isinstance(receipt, handles.Receipt):
                    session.messages.delete(queue.id, receipt.row_id, receipt.token)

        self.catalog.run_claim(delete)
        return batch_answer(entries, checked)

    def change_message_visibility(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.READ)
        queue = self._queue(name)
        change = _visibility_change(queue, call.params)
        (outcome,) = self._change_visibility(queue, [change])
        if isinstance(outcome, SqsError):
            raise outcome
        return {}

    def change_message_visibility_batch(self, call: Call) -> dict[str, Any]:
        name = self._name(call, Access.READ)
        entries = batch_entries(call.params, "ChangeMessageVisibility")
        queue = self._queue(name)
        checked: list[tuple[handles.Receipt, int, str] | SqsError] = []
        for entry in entries:
            try:
                checked.append(_visibility_change(queue, entry))
            except SqsError as error:
                checked.append(error)
        valid = [item for item in checked if not isinstance(item, SqsError)]
        outcomes = iter(self._change_visibility(queue, valid))
        settled = [item if isinstance(item, SqsError) else next(outcomes) for item in checked]
        return batch_answer(entries, settled)

    def _change_visibility(
        self, queue: QueueRow, changes: Sequence[tuple[handles.Receipt, int, str]]
    ) -> list[SqsError | None]:
        now = self.clock()

        def change(session: CatalogSession) -> list[SqsError | None]:
            store = session.messages
            outcomes: list[SqsError | None] = []
            for receipt, seconds, handle in changes:
                visible_at = now + timedelta(seconds=seconds)
                if store.change_visibility(
                    queue.id, receipt.row_id, receipt.token, visible_at, now
                ):
                    outcomes.append(None)
                elif store.receipt_of(queue.id, receipt.row_id) == receipt.token:
                    outcomes.append(MessageNotInflight("The message referred to isn't in flight."))
                else:
                    outcomes.append(
                        InvalidParameterValue(
                            f"Value {handle} for parameter ReceiptHandle is invalid. Reason: "
                            "Message does not exist or is not available for visibility "
                            "timeout change."
                        )
                    )
            return outcomes

        return list(self.catalog.run_claim(change))

    # --- upkeep -----------------------------------------------------------------------

    def expire(self) -> int:
        """Delete the messages kept past their queue's ``MessageRetentionPeriod``
        (receives skip them already; this frees their rows when nobody receives).
        Returns how many went."""
        now = self.clock()
        with self.catalog.read() as session:
            every = session.messages.queues(limit=1_000_000)
        removed = 0
        for queue in every:
            retention = timedelta(seconds=attrs.number(queue.attributes, "MessageRetentionPeriod"))
            expire = _expiry(queue.id, now - retention)
            while True:
                gone = self.catalog.run_write(expire)
                removed += gone
                if gone < EXPIRE_BATCH:
                    break
        return removed

    # --- names ------------------------------------------------------------------------

    def _queue(self, name: str) -> QueueRow:
        """The live queue ``name``, as read at most :data:`QUEUE_CACHE_SECONDS` ago:
        messages are sent and received far more often than queues change (SQS itself
        documents attribute changes taking up to a minute to apply)."""
        now = time.monotonic()
        with self._cache_lock:
            found = self._cache.get(name)
        if found is not None and now - found[1] < QUEUE_CACHE_SECONDS:
            return found[0]
        with self.catalog.read() as session:
            queue = _live(session, name)
        with self._cache_lock:
            self._cache[name] = (queue, now)
        return queue

    def _forget(self, name: str) -> None:
        """Drop ``name`` from the cache: this process just changed it."""
        with self._cache_lock:
            self._cache.pop(name, None)

    def url(self, call: Call, name: str) -> str:
        return f"{call.base_url}/{ACCOUNT}/{name}"

    def arn(self, name: str) -> str:
        return attrs.queue_arn(self.region, name)

    def _name(self, call: Call, action: Access) -> str:
        """The queue a request names by ``QueueUrl``, if its caller may ``action`` it."""
        url = text(call.params, "QueueUrl", required=True)
        name = queue_name_of(url)
        _require(call.context, action, name)
        return name


def _expiry(queue_id: int, cutoff: datetime) -> Callable[[CatalogSession], int]:
    """A write deleting a batch of a queue's messages sent before ``cutoff``."""
    return lambda session: session.messages.expire(queue_id, cutoff, EXPIRE_BATCH)


def enqueue(
    session: CatalogSession, name: str, body: str, now: datetime, sender: str
) -> int | None:
    """Put a message on standard queue ``name`` inside the caller's transaction (S3
    notifications, in the transaction of their event); the queue's row id, or ``None``
    when there is no such standard queue or ``body`` is over its ``MaximumMessageSize``
    (as AWS fails such a delivery: logged, and not sent)."""
    queue = session.messages.queue(name)
    if queue is None or queue.fifo:
        return None
    limit = attrs.number(queue.attributes, "MaximumMessageSize")
    if len(body.encode()) > limit:
        log.warning("not sent to SQS queue %r: the message is over its %d bytes", name, limit)
        return None
    delay = timedelta(seconds=attrs.number(queue.attributes, "DelaySeconds"))
    message = NewMessage(
        message_id=str(uuid.uuid4()),
        body=body,
        md5_of_body=md5_of_body(body),
        attributes=None,
        trace_header=None,
        sender_id=sender,
        visible_at=now + delay,
    )
    session.messages.add(queue.id, [message], now)
    return queue.id


def queue_name_of(url: str) -> str:
    """The queue name in a queue URL (``.../ACCOUNT/NAME``; a bare name also does)."""
    path = urlsplit(url).path if "://" in url else url
    parts = [part for part in path.split("/") if part]
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[0] != ACCOUNT):
        raise QueueDoesNotExist()
    return parts[-1]


# --- requests ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """A checked message to send."""

    row: NewMessage
    delay: int
    #: The deduplication id as the queue scopes it (``None``: not deduplicated).
    dedup_key: str | None
    md5_of_attributes: str | None
    md5_of_system: str | None

    def answer(self, message_id: str, number: int | None) -> dict[str, Any]:
        answer: dict[str, Any] = {"MessageId": message_id, "MD5OfMessageBody": self.row.md5_of_body}
        if self.md5_of_attributes:
            answer["MD5OfMessageAttributes"] = self.md5_of_attributes
        if self.md5_of_system:
            answer["MD5OfMessageSystemAttributes"] = self.md5_of_system
        if number is not None:
            answer["SequenceNumber"] = str(number).zfill(20)
        return answer


def _outgoing(queue: QueueRow, params: Mapping[str, Any], context: RequestContext) -> _Outgoing:
    body = check_body(params.get("MessageBody"))
    attributes = check_attributes(params.get("MessageAttributes"))
    system = check_attributes(params.get("MessageSystemAttributes"), system=True)
    limit = attrs.number(queue.attributes, "MaximumMessageSize")
    if size_of(body, attributes) > limit:
        raise InvalidParameterValue(
            "One or more parameters are invalid. "
            f"Reason: Message must be shorter than {limit} bytes."
        )
    delay = integer(params, "DelaySeconds", 0, 900, reason="DelaySeconds must be >= 0 and <= 900.")
    group = text(params, "MessageGroupId")
    dedup = text(params, "MessageDeduplicationId")
    dedup_key = None
    if queue.fifo:
        if delay is not None:
            raise _not_for_this_queue("DelaySeconds", str(delay))
        if group is None:
            raise MissingParameter("MessageGroupId")
        _check_fifo_id("MessageGroupId", group)
        if dedup is None:
            if queue.attributes.get("ContentBasedDeduplication") != "true":
                raise InvalidParameterValue(
                    "The queue should either have ContentBasedDeduplication enabled or "
                    "MessageDeduplicationId provided explicitly"
                )
            dedup = hashlib.sha256(body.encode("utf-8")).hexdigest()
        _check_fifo_id("MessageDeduplicationId", dedup)
        scoped = queue.attributes.get("DeduplicationScope") == "messageGroup"
        dedup_key = f"{group}\n{dedup}" if scoped else dedup
    elif dedup is not None:
        raise _not_for_this_queue("MessageDeduplicationId", dedup)
    elif group is not None:
        _check_fifo_id("MessageGroupId", group)
    if delay is None:
        delay = attrs.number(queue.attributes, "DelaySeconds")
    trace = system.get("AWSTraceHeader", {}).get("StringValue")
    row = NewMessage(
        message_id=str(uuid.uuid4()),
        body=body,
        md5_of_body=md5_of_body(body),
        attributes=attributes or None,
        trace_header=trace,
        sender_id=context.access_key or context.principal,
        visible_at=datetime.min,  # set when sent
        group_id=group,
        deduplication_id=dedup if queue.fifo else None,
    )
    return _Outgoing(
        row, delay, dedup_key,
        md5_of_attributes(attributes) if attributes else None,
        md5_of_attributes(system) if system else None,
    )  # fmt: skip


def _visibility_change(
    queue: QueueRow, params: Mapping[str, Any]
) -> tuple[handles.Receipt, int, str]:
    handle = text(params, "ReceiptHandle", required=True)
    seconds = integer(
        params, "VisibilityTimeout", 0, MAX_VISIBILITY_TIMEOUT,
        reason="Must be between 0 and 43200, if provided.",
    )  # fmt: skip
    if seconds is None:
        raise MissingParameter("VisibilityTimeout")
    return handles.read(handle, queue.secret, queue.id), seconds, handle


def _system_attributes(row: MessageRow, now: datetime, names: Sequence[str]) -> dict[str, str]:
    if not names:
        return {}
    everything = "All" in names
    values = {
        "SenderId": row.sender_id,
        "SentTimestamp": _millis(row.sent_at),
        "ApproximateReceiveCount": str(row.receive_count + 1),
        "ApproximateFirstReceiveTimestamp": _millis(row.first_received_at or now),
        "SequenceNumber": None
        if row.sequence_number is None
        else str(row.sequence_number).zfill(20),
        "MessageDeduplicationId": row.deduplication_id,
        "MessageGroupId": row.group_id,
        "AWSTraceHeader": row.trace_header,
        "DeadLetterQueueSourceArn": row.dead_letter_source,
    }
    return {
        name: value
        for name, value in values.items()
        if value is not None and (everything or name in names)
    }


def _millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _same_attributes(queue: QueueRow, given: Mapping[str, str]) -> None:
    current = attrs.effective(queue.attributes, queue.fifo)
    current["FifoQueue"] = "true" if queue.fifo else "false"
    for name, value in given.items():
        if current.get(name, "") != str(value):
            raise QueueNameExists(
                f"A queue already exists with the same name and a different value for "
                f"attribute {name}"
            )


def _live(session: CatalogSession, name: str) -> QueueRow:
    queue = session.messages.queue(name)
    if queue is None:
        raise QueueDoesNotExist()
    return queue


def _require(context: RequestContext, action: Access, queue: str | None) -> None:
    if not context.permissions.allows_queue(action, queue):
        raise AccessDenied(
            f"{context.principal} is not authorized to {action.value} queue {queue or '*'}"
        )


def _check_fifo_id(name: str, value: str) -> None:
    if not _FIFO_ID.match(value):
        raise InvalidParameterValue(
            f"Value {value} for parameter {name} is invalid. Reason: it must be 1 to 128 "
            "alphanumeric or punctuation characters."
        )


def _not_for_this_queue(name: str, value: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Value {value} for parameter {name} is invalid. Reason: The request include "
        "parameter that is not valid for this queue type."
    )


def _tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise OverLimit(f"Too many tags: a queue has at most {MAX_TAGS}.")
    return tags
