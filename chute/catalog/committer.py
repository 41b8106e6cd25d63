"""Group commit: write transactions from many threads, run on one, many per commit.

Each commit of an acknowledged write waits for the disk (SQLite ``synchronous=FULL``, a
PostgreSQL WAL flush), and writers of one process would otherwise queue for the database
lock one commit at a time. The committer thread takes whatever writes are waiting, runs
each in its own savepoint (so one failing write rolls back alone), and commits them
together: one disk flush for the whole batch. A caller's write returns only after the
batch holding it has committed, so acknowledgement still means durable.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from chute.errors import CatalogError

T = TypeVar("T")

#: Most writes per transaction; bounds how long one batch holds the database lock.
MAX_BATCH = 64


class _Write(Generic[T]):
    """One submitted write and, once its batch has committed, its outcome."""

    def __init__(self, work: Callable[[sa.Connection], T]) -> None:
        self.work = work
        self.value: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def outcome(self) -> T:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class GroupCommitter:
    """Runs ``work(connection)`` callables in shared transactions on one thread."""

    def __init__(self, connect: Callable[[], sa.Connection], lock: threading.Lock | None) -> None:
        self._connect = connect
        self._lock = lock
        self._queue: queue.SimpleQueue[_Write[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._state_lock = threading.Lock()
        self._closed = False

    def run(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in a write transaction; returns after that transaction commits."""
        write = _Write(work)
        with self._state_lock:
            if self._closed:
                raise CatalogError("the catalog is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="chute-catalog-committer", daemon=True
                )
                self._thread.start()
            self._queue.put(write)
        return write.outcome()

    def close(self) -> None:
        """Finish the writes already submitted, then stop the thread; later writes fail
        with ``CatalogError``."""
        with self._state_lock:
            self._closed = True
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first)
            self._commit(batch)
            if stop:
                return

    def _gather(self, first: _Write[Any]) -> tuple[list[_Write[Any]], bool]:
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _commit(self, batch: list[_Write[Any]]) -> None:
        try:
            if self._lock is None:
                self._transaction(batch)
            else:
                with self._lock:
                    self._transaction(batch)
        except BaseException as exc:  # the commit failed: no write of the batch happened
            for write in batch:
                write.value, write.error = None, write.error or exc
        for write in batch:
            write.done.set()

    def _transaction(self, batch: list[_Write[Any]]) -> None:
        with self._connect() as conn, conn.begin():
            if len(batch) == 1:
                batch[0].value = batch[0].work(conn)
                return
            for write in batch:
                # Plain SQL savepoints: SQLAlchemy's begin_nested() costs several times more
                # per write, and this loop is the serial part of every upload.
                conn.exec_driver_sql("SAVEPOINT chute_write")
                try:
                    write.value = write.work(conn)
                except Exception as exc:
                    write.error = exc
                    conn.exec_driver_sql("ROLLBACK TO SAVEPOINT chute_write")
                conn.exec_driver_sql("RELEASE SAVEPOINT chute_write")
