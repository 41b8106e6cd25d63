"""Waking workers when jobs become ready, without polling on the hot path.

In one process, whoever makes jobs ready calls :meth:`JobSignal.notify`, which wakes
every subscribed :class:`Waker` at once. Across processes on PostgreSQL, a transaction
that makes jobs ready runs ``pg_notify`` and :class:`PostgresListener` turns the
notification into the same signal. Workers still poll slowly as a fallback (another
process on SQLite, a lost connection).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from chute.queue.messages.store import CHANNEL as MESSAGE_CHANNEL
from chute.queue.sql.postgres import CHANNEL

log = logging.getLogger(__name__)


class Waker:
    """One waiter's wake-up flag: set by :meth:`notify`, cleared by :meth:`wait`."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._set = False

    def notify(self) -> None:
        with self._condition:
            self._set = True
            self._condition.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait until notified or ``timeout`` seconds pass; returns whether notified."""
        with self._condition:
            if not self._set:
                self._condition.wait(timeout)
            notified, self._set = self._set, False
            return notified


class JobSignal:
    """Broadcasts "jobs are ready" to every waker of this process."""

    def __init__(self) -> None:
        self._wakers: list[Waker] = []
        self._lock = threading.Lock()

    def subscribe(self) -> Waker:
        waker = Waker()
        with self._lock:
            self._wakers.append(waker)
        return waker

    def unsubscribe(self, waker: Waker) -> None:
        with self._lock:
            if waker in self._wakers:
                self._wakers.remove(waker)

    def notify(self) -> None:
        with self._lock:
            wakers = list(self._wakers)
        for waker in wakers:
            waker.notify()


class PostgresListener:
    """LISTENs on the queue channel and relays notifications to a :class:`JobSignal`,
    and those of the message queues' channel to ``on_message`` (with the queue's row
    id)."""

    def __init__(
        self, url: str, signal: JobSignal, on_message: Callable[[int], None] | None = None
    ) -> None:
        self.url = url
        self.signal = signal
        self.on_message = on_message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chute-listen", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception:
                log.warning("lost the PostgreSQL notification connection; retrying", exc_info=True)
                self._stop.wait(1.0)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(_conninfo(self.url), autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            if self.on_message is not None:
                conn.execute(f"LISTEN {MESSAGE_CHANNEL}")
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=0.5, stop_after=1):
                    if notice.channel == MESSAGE_CHANNEL and self.on_message is not None:
                        if notice.payload.isdigit():
                            self.on_message(int(notice.payload))
                    else:
                        self.signal.notify()


def _conninfo(url: str) -> str:
    parsed: Any = sa.make_url(url).set(drivername="postgresql")
    return str(parsed.render_as_string(hide_password=False))
