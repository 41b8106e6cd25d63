"""One worker process as the pool sees it: start, send tasks, receive results, watch its
memory, kill it, and say why it died."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import resource
import signal
import socket
import struct
import time
from collections import deque
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from typing import Any

from chute.jobs import Result, Task
from chute.queue.states import Outcome
from chute.worker import child

log = logging.getLogger(__name__)

#: Bytes read from a worker's pipe at a time.
READ_SIZE = 256 * 1024
#: Extra seconds past a step's timeout before its process is killed (pipe latency).
KILL_SLACK = 0.05
_PAGE = resource.getpagesize()


class WorkerProcess:
    """A spawned worker process and the attempts it holds.

    An attempt is one task, or a batch of tasks of one batch step. The process runs its
    attempts in the order sent, one at a time, and answers each before starting the
    next; when jobs are quick the pool sends a few ahead, so the process never waits
    for the pool between them. The first unanswered attempt (the *head*) is the one
    running: its timeout counts from when the previous answer arrived (or from when it
    was sent to an idle process), never from before it started."""

    def __init__(self, context: SpawnContext, config: child.ChildConfig) -> None:
        parent, child_end = context.Pipe()
        self.process: Any = context.Process(
            target=child.main, args=(child_end, config), daemon=True, name="chute-worker"
        )
        self.process.start()
        child_end.close()
        self.conn: Connection = parent
        self._reader = MessageReader(parent)
        #: Set once the process has started and said so.
        self.ready = False
        #: Attempts sent and not yet answered, the running one first, and their sizes in
        #: the pipe (bytes).
        self.attempts: deque[list[Task]] = deque()
        self._sizes: deque[int] = deque()
        self.started = 0.0
        self.deadline = 0.0
        self.baseline_mib: float | None = None

    @property
    def busy(self) -> bool:
        return bool(self.attempts)

    @property
    def tasks(self) -> list[Task]:
        """Every task this process holds, running or waiting."""
        return [task for attempt in self.attempts for task in attempt]

    @property
    def waiting_bytes(self) -> int:
        """Bytes of the attempts waiting behind the running one: the most the process
        may not have read from its pipe yet."""
        return sum(self._sizes) - (self._sizes[0] if self._sizes else 0)

    def send(self, attempts: list[list[Task]], pickles: list[bytes]) -> None:
        """Queue ``attempts`` (each one task, or a batch of one step, pickled as
        ``pickles``) on this process, in one message."""
        idle = not self.attempts
        self.attempts.extend(attempts)
        self._sizes.extend(len(data) for data in pickles)
        if idle:
            self._start_head()
        # If the process died, the pool sees it exit and deals with these attempts.
        with contextlib.suppress(OSError):
            self.conn.send_bytes(b"".join(pickles))

    def receive(self) -> list[Result]:
        """Every answer already in the pipe, oldest first (nothing for the start-up
        message); never waits. A process that sends what cannot be read is killed (its
        exit fails the attempt it was running)."""
        results: list[Result] = []
        for message in self._reader.messages():
            results += self._answer(message)
        if self._reader.broken:
            log.error("a worker process sent an unreadable message; killing it")
            self.kill()
        return results

    def _answer(self, message: Any) -> list[Result]:
        if isinstance(message, tuple):  # ("ready", pid)
            self.ready = True
            return []
        self.attempts.popleft()
        self._sizes.popleft()
        if self.attempts:
            self._start_head()
        return list(message)

    def _start_head(self) -> None:
        self.started = time.monotonic()
        #: Resident memory at the attempt's first check: its cap counts what it adds.
        self.baseline_mib = None
        head = self.attempts[0] if self.attempts else []
        self.deadline = self.started + max((_kill_after(task) for task in head), default=0.0)

    def memory_cap(self) -> int:
        """The running attempt's memory cap in MiB (0: none)."""
        return max((task.memory_mb for task in self.head()), default=0)

    def head(self) -> list[Task]:
        """The running attempt (empty if idle)."""
        return self.attempts[0] if self.attempts else []

    def attempt_mib(self) -> float:
        """Resident memory the running attempt has added since its first check (the
        pool checks once per tick, so /proc is not read for every short task), in MiB."""
        used = self.resident_mib()
        if self.baseline_mib is None:
            self.baseline_mib = used
        return max(used - self.baseline_mib, 0.0)

    def resident_mib(self) -> float:
        """The process's resident memory now, in MiB (0 if it is gone)."""
        try:
            with open(f"/proc/{self.process.pid}/statm") as statm:
                return int(statm.read().split()[1]) * _PAGE / 2**20
        except (OSError, IndexError, ValueError):
            return 0.0

    def overdue(self, now: float) -> bool:
        return self.busy and now > self.deadline

    def timeout(self) -> float:
        return max(task.timeout_seconds for task in self.head())

    def kill(self) -> list[Task]:
        """Kill the process; returns the attempt it was running."""
        head = self.head()
        if self.process.is_alive():
            self.process.kill()
        return head

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def death(self) -> tuple[Outcome, str]:
        """Why the process ended, as a failed attempt's outcome and reason."""
        code = self.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            return Outcome.CRASHED, f"the worker process died of {name} while running the step"
        return Outcome.CRASHED, f"the worker process exited with status {code} mid-step"

    def fail(self, outcome: Outcome, error: str, ended: datetime) -> list[Result]:
        """Results for the running attempt, which ended with ``error`` at ``ended``."""
        if not self.attempts:
            return []
        tasks = self.attempts.popleft()
        self._sizes.popleft()
        started = ended - timedelta(seconds=time.monotonic() - self.started)
        return [Result(t.job_id, t.attempt, outcome, started, ended, error=error) for t in tasks]

    def take_all(self) -> list[Task]:
        """Take back every attempt it holds (its process is gone or being stopped)."""
        held = self.attempts
        self.attempts = deque()
        self._sizes.clear()
        return [task for attempt in held for task in attempt]

    def close(self, timeout: float = 5.0) -> None:
        """Ask the process to exit, kill it if it does not, and release the pipe."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.close_pipe()

    def reap(self) -> None:
        """Wait for a process that has ended (or been killed) to exit, so that all it
        sent is in the pipe."""
        self.process.join(timeout=1)

    def close_pipe(self) -> None:
        """Release both descriptors of the pipe (after :meth:`reap` or a stop)."""
        self._reader.close()
        self.conn.close()


class MessageReader:
    """Reads the messages a worker process sends (``Connection.send``) without waiting,
    all that have arrived in one system call: ``Connection.recv`` costs three per
    message, and a process answering quick jobs sends thousands a second.

    The framing is ``multiprocessing.connection``'s: a big-endian signed 32-bit length
    (``-1`` then an unsigned 64-bit one for huge messages), then the pickle."""

    def __init__(self, conn: Connection) -> None:
        # A second descriptor of the same socket: reads that never wait (MSG_DONTWAIT)
        # without making the pool's sends non-blocking.
        self._socket = socket.socket(fileno=os.dup(conn.fileno()))
        self._unread = bytearray()
        #: Set when a message could not be unpickled: nothing after it is read.
        self.broken = False

    def messages(self) -> list[Any]:
        """Every whole message received so far (nothing once the pipe is closed), up to
        one that cannot be read."""
        if self.broken:
            return []
        while True:
            try:
                chunk = self._socket.recv(READ_SIZE, socket.MSG_DONTWAIT)
            except OSError:  # nothing waiting (BlockingIOError), or closed
                break
            self._unread += chunk
            if len(chunk) < READ_SIZE:
                break
        return self._whole_messages()

    def _whole_messages(self) -> list[Any]:
        frames, at, data = [], 0, self._unread
        while len(data) - at >= 4:
            (size,) = struct.unpack_from("!i", data, at)
            header = 4
            if size == -1:
                if len(data) - at < 12:
                    break
                (size,) = struct.unpack_from("!Q", data, at + 4)
                header = 12
            if len(data) - at - header < size:
                break
            frames.append(bytes(data[at + header : at + header + size]))
            at += header + size
        del data[:at]
        found = []
        for frame in frames:
            try:
                found.append(pickle.loads(frame))
            except Exception:
                log.exception("unreadable message from a worker process")
                self.broken = True
                break
        return found

    def close(self) -> None:
        self._socket.close()


def _kill_after(task: Task) -> float:
    return task.timeout_seconds + KILL_SLACK
