"""Waking long polls when messages arrive.

A ``ReceiveMessage`` that found nothing waits (up to its ``WaitTimeSeconds``) on its
queue here; a send in this process calls :meth:`MessageSignal.notify` with the queue's
row id once committed, and on PostgreSQL the sends of other processes arrive through
``pg_notify`` (see :mod:`chute.queue.messages.store`). A receive listens *before* it
looks, so a message sent between its look and its wait still wakes it. Waiters also look again every
:data:`RECHECK_SECONDS`: delayed messages and expired visibility timeouts become
visible without anyone sending, and other processes on SQLite notify nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from collections.abc import Iterator

#: Longest a waiting receive goes without looking at its queue again.
RECHECK_SECONDS = 1.0

_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event]


class MessageSignal:
    """Per-queue wake-ups for waiting receives on event loops (thread-safe notify)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[int, set[_Waiter]] = defaultdict(set)

    @contextlib.contextmanager
    def listening(self, queue_id: int) -> Iterator[asyncio.Event]:
        """An event set whenever messages are sent to queue ``queue_id`` while the
        block runs (call from the event loop that waits on it)."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters[queue_id].add(waiter)
        try:
            yield waiter[1]
        finally:
            with self._lock:
                waiters = self._waiters.get(queue_id)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[queue_id]

    def notify(self, queue_id: int) -> None:
        """Wake every receive waiting on queue ``queue_id`` (from any thread)."""
        with self._lock:
            waiters = list(self._waiters.get(queue_id, ()))
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)


async def wait_for(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` (at most :data:`RECHECK_SECONDS`)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), min(seconds, RECHECK_SECONDS))
