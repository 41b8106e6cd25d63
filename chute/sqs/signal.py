"""Waking long polls when messages arrive.

A ``ReceiveMessage`` that found nothing waits (up to its ``WaitTimeSeconds``) on its
queue here; a send in this process calls :meth:`MessageSignal.notify` with the queue's
row id once committed, and on PostgreSQL the sends of other processes arrive through
``pg_notify`` (see :data:`CHANNEL`). Waiters also look again every
:data:`RECHECK_SECONDS`: delayed messages and expired visibility timeouts become
visible without anyone sending, and other processes on SQLite notify nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict

#: The PostgreSQL channel a send notifies, with the queue's row id as payload.
CHANNEL = "chute_messages"
#: Longest a waiting receive goes without looking at its queue again.
RECHECK_SECONDS = 1.0


class MessageSignal:
    """Per-queue wake-ups for waiting receives on event loops (thread-safe notify)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(set)
        )

    async def wait(self, queue_id: int, timeout: float) -> bool:
        """Wait until a message is sent to queue ``queue_id`` or ``timeout`` seconds
        pass (at most :data:`RECHECK_SECONDS`); whether one was sent."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters[queue_id].add(waiter)
        try:
            await asyncio.wait_for(event.wait(), min(timeout, RECHECK_SECONDS))
        except TimeoutError:
            return False
        finally:
            with self._lock:
                waiters = self._waiters.get(queue_id)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[queue_id]
        return True

    def notify(self, queue_id: int) -> None:
        """Wake every receive waiting on queue ``queue_id`` (from any thread)."""
        with self._lock:
            waiters = list(self._waiters.get(queue_id, ()))
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(event.set)
