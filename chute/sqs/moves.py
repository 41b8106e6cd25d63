"""Message move tasks: SQS's dead-letter queue redrive (StartMessageMoveTask,
CancelMessageMoveTask, ListMessageMoveTasks).

A task moves the messages a dead-letter queue holds when it starts (those visible; one
being received stays) back to the queues they came from (their
``DeadLetterQueueSourceArn``), or all to ``DestinationArn``, in batches of up to
:data:`BATCH` a transaction, at most ``MaxNumberOfMessagesPerSecond``. A moved message
keeps its id, body, attributes and sent time; it is visible at once and never received
in its new queue. A message whose queue is gone stays, and the task fails saying why.
One task runs per source queue at a time, in a thread of the process that started it.

Tasks are known to that process only, while it runs: after a restart ListMessageMoveTasks
shows none, and the messages a task had not moved yet are still in the dead-letter
queue (nothing is moved twice or lost: each batch moves in one transaction).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chute.access import Access
from chute.catalog import CatalogSession
from chute.context import RequestContext
from chute.errors import AccessDenied
from chute.queue.messages import QueueRow
from chute.sqs import attributes as attrs
from chute.sqs.errors import InvalidParameterValue, SqsError, UnsupportedOperation
from chute.sqs.params import integer, text

if TYPE_CHECKING:
    from chute.sqs.service import Call, Queues

#: Most messages moved in one transaction.
BATCH = 100
#: The fastest a task moves when it is given no rate, and the range a rate may take.
DEFAULT_RATE, MAX_RATE = 500, 500
#: Most ended tasks remembered per source queue (ListMessageMoveTasks shows up to 10).
KEPT = 10


class ResourceNotFound(SqsError):
    """One or more specified resources don't exist."""

    code = "ResourceNotFoundException"


@dataclass
class MoveTask:
    """One message move task and how far it got."""

    handle: str
    source: str
    destination: str | None
    rate: int | None
    to_move: int
    started_ms: int
    moved: int = 0
    #: Who started it: it moves only into queues they may send to.
    context: RequestContext | None = None
    status: str = "RUNNING"
    failure: str | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: Messages left where they are (their queue is gone, or not the starter's to
    #: write), by row id: why.
    left: dict[int, str] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """As ListMessageMoveTasks shows it."""
        found: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.status == "RUNNING":
            found["TaskHandle"] = self.handle
        if self.destination is not None:
            found["DestinationArn"] = self.destination
        if self.rate is not None:
            found["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure is not None:
            found["FailureReason"] = self.failure
        return found


class MessageMoves:
    """The message move tasks of one :class:`~chute.sqs.service.Queues`."""

    def __init__(self, queues: Queues) -> None:
        self.queues = queues
        self._lock = threading.Lock()
        #: The tasks of each source queue (by ARN), the newest last.
        self._tasks: dict[str, deque[MoveTask]] = {}

    def start(self, call: Call) -> dict[str, Any]:
        """StartMessageMoveTask: the task's handle; the moving goes on in a thread."""
        source = text(call.params, "SourceArn", required=True)
        destination = text(call.params, "DestinationArn")
        rate = integer(
            call.params,
            "MaxNumberOfMessagesPerSecond",
            1,
            MAX_RATE,
            reason=f"MaxNumberOfMessagesPerSecond must be between 1 and {MAX_RATE}.",
        )
        source_name = self._name(call, source, Access.ADMIN)
        destination_name = self._name(call, destination, Access.WRITE) if destination else None
        if destination == source:
            raise InvalidParameterValue("The destination must be another queue than the source.")
        with self.queues.catalog.read() as session:
            queue = _existing(session, source_name, source)
            if destination_name is not None:
                _existing(session, destination_name, destination or "")
            sources = dead_letter_sources(session, source)
            if not sources:
                raise UnsupportedOperation(
                    "Source queue must be configured as a Dead Letter Queue."
                )
            to_move = session.messages.counts(queue.id, self.queues.clock()).visible
        if destination is None:  # back where they came from: writes to those queues
            for name in sources:
                self._name(call, attrs.queue_arn(self.queues.region, name), Access.WRITE)
        handle = base64.b64encode(
            json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source}).encode()
        ).decode()
        started = int(time.time() * 1000)
        task = MoveTask(handle, source, destination, rate, to_move, started, context=call.context)
        with self._lock:
            kept = self._tasks.setdefault(source, deque(maxlen=KEPT))
            if kept and kept[-1].status in ("RUNNING", "CANCELLING"):
                raise UnsupportedOperation(
                    "There is already a task running. Only one active task is allowed for a "
                    "source queue arn at a given time."
                )
            kept.append(task)
        threading.Thread(
            target=self._run, args=(task, queue.id), name="chute-sqs-move", daemon=True
        ).start()
        return {"TaskHandle": handle}

    def cancel(self, call: Call) -> dict[str, Any]:
        """CancelMessageMoveTask: stop a running task after its current batch."""
        handle = text(call.params, "TaskHandle", required=True)
        task = self._task(handle)
        self._name(call, task.source, Access.ADMIN)
        with self._lock:
            if task.status != "RUNNING":
                raise ResourceNotFound("Only a running task can be cancelled.")
            task.status = "CANCELLING"
        task.cancelled.set()
        return {"ApproximateNumberOfMessagesMoved": task.moved}

    def list(self, call: Call) -> dict[str, Any]:
        """ListMessageMoveTasks: the newest tasks of a source queue, up to
        ``MaxResults`` (1 by default, 10 at most)."""
        source = text(call.params, "SourceArn", required=True)
        limit = integer(
            call.params, "MaxResults", 1, KEPT, reason=f"MaxResults must be between 1 and {KEPT}."
        )
        name = self._name(call, source, Access.READ)
        with self.queues.catalog.read() as session:
            _existing(session, name, source)
        with self._lock:
            tasks = list(self._tasks.get(source, ()))
        newest = [task.view() for task in reversed(tasks)][: limit or 1]
        return {"Results": newest}

    # --- moving ---------------------------------------------------------------------------

    def _run(self, task: MoveTask, source_id: int) -> None:
        rate = task.rate or DEFAULT_RATE
        try:
            while task.moved < task.to_move and not task.cancelled.is_set():
                began = time.monotonic()
                wanted = min(BATCH, rate, task.to_move - task.moved)

                def batch(session: CatalogSession, wanted: int = wanted) -> tuple[int, int]:
                    return self._move(session, task, source_id, wanted)

                moved, looked = self.queues.catalog.run_write(batch)
                if not looked:
                    break  # the rest was received, deleted, expired or left
                with self._lock:
                    task.moved += moved
                task.cancelled.wait(max(0.0, looked / rate - (time.monotonic() - began)))
        except SqsError as exc:
            self._end(task, "FAILED", exc.message)
            return
        except Exception as exc:
            self._end(task, "FAILED", f"the move stopped: {exc}")
            return
        if task.cancelled.is_set():
            self._end(task, "CANCELLED", None)
        elif task.left:
            reasons = sorted(set(task.left.values()))
            self._end(task, "FAILED", f"{len(task.left)} messages stayed: " + "; ".join(reasons))
        else:
            self._end(task, "COMPLETED", None)

    def _move(
        self, session: CatalogSession, task: MoveTask, source_id: int, limit: int
    ) -> tuple[int, int]:
        """Move up to ``limit`` visible messages of the source, besides those left
        already; how many moved, and how many were looked at (moved or left now)."""
        store = session.messages
        now = self.queues.clock()
        found = store.ready(source_id, limit + len(task.left), now, fifo=False)
        rows = [row for row in found if row.id not in task.left][:limit]
        targets: dict[str, list[int]] = {}
        for row in rows:
            target = task.destination or row.dead_letter_source
            if target is None:
                task.left[row.id] = "a message has no source queue to go back to"
                continue
            targets.setdefault(target, []).append(row.id)
        moved, woken = 0, []
        for arn, row_ids in targets.items():
            name = attrs.name_of_arn(arn)
            queue = store.queue(name) if name else None
            context = task.context
            if queue is None or queue.fifo:
                why = f"the queue {arn} does not exist" if queue is None else f"{arn} is FIFO"
                task.left.update(dict.fromkeys(row_ids, why))
            elif context is not None and not context.permissions.allows_queue(
                Access.WRITE, queue.name
            ):
                task.left.update(
                    dict.fromkeys(row_ids, f"{context.principal} may not send to {arn}")
                )
            else:
                store.redrive(row_ids, queue.id, now)
                woken.append(queue.id)
                moved += len(row_ids)
        for queue_id in woken:
            self.queues.on_send(queue_id)
        return moved, len(rows)

    def _end(self, task: MoveTask, status: str, failure: str | None) -> None:
        with self._lock:
            task.status, task.failure = status, failure

    # --- lookups --------------------------------------------------------------------------

    def _task(self, handle: str) -> MoveTask:
        with self._lock:
            for tasks in self._tasks.values():
                for task in tasks:
                    if task.handle == handle:
                        return task
        raise ResourceNotFound("Task does not exist.")

    def _name(self, call: Call, arn: str, action: Access) -> str:
        name = attrs.name_of_arn(arn)
        if not name:
            raise InvalidParameterValue(f"Value {arn} is not the ARN of a queue.")
        if not call.context.permissions.allows_queue(action, name):
            raise AccessDenied(
                f"{call.context.principal} is not authorized to move messages of queue {name}"
            )
        return name


def dead_letter_sources(session: CatalogSession, arn: str) -> list[str]:
    """The queues whose ``RedrivePolicy`` names ``arn`` as their dead-letter queue."""
    found, after = [], ""
    while page := session.messages.queues(after=after):
        found += [
            queue.name
            for queue in page
            if queue.attributes.get("RedrivePolicy")
            and attrs.redrive_policy(queue.attributes["RedrivePolicy"])[0] == arn
        ]
        after = page[-1].name
    return found


def _existing(session: CatalogSession, name: str, arn: str) -> QueueRow:
    queue = session.messages.queue(name)
    if queue is None:
        raise ResourceNotFound(f"The queue {arn} does not exist.")
    if queue.fifo:
        raise UnsupportedOperation("Only standard queues support message move tasks.")
    return queue
