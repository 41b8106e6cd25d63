"""One worker process as the pool sees it: start it, send it attempts, receive its
answers, read its memory, kill it, and say why it died."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import resource
import signal
import socket
import struct
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from typing import Any

from chute.jobs import Result
from chute.queue.states import Outcome
from chute.worker import child

log = logging.getLogger(__name__)

#: Bytes read from a worker's pipe at a time.
READ_SIZE = 256 * 1024
_PAGE = resource.getpagesize()


class WorkerProcess:
    """A spawned worker process as the pool sees it: its pipe, its memory, its exit.

    The process runs the attempts sent to it in order, one at a time, and answers each
    before starting the next; which attempts it holds, and since when, is the
    scheduler's business (see :mod:`chute.worker.scheduler`)."""

    def __init__(self, context: SpawnContext, config: child.ChildConfig) -> None:
        parent, child_end = context.Pipe()
        self.process: Any = context.Process(
            target=child.main, args=(child_end, config), daemon=True, name="chute-worker"
        )
        self.process.start()
        child_end.close()
        self.conn: Connection = parent
        self._reader = MessageReader(parent)

    def send(self, message: bytes) -> None:
        """Write attempts (pickles one after another) to the process, in one message."""
        # If the process died, the pool sees it exit and deals with these attempts.
        with contextlib.suppress(OSError):
            self.conn.send_bytes(message)

    def receive(self) -> Received:
        """Everything already in the pipe, oldest first; never waits. A process that
        sends what cannot be read is killed (its exit fails the attempt it was
        running)."""
        received = Received()
        for message in self._reader.messages():
            if isinstance(message, tuple):  # ("ready", pid)
                received.ready = True
            else:
                received.answers.append(list(message))
        if self._reader.broken:
            log.error("a worker process sent an unreadable message; killing it")
            self.kill()
        return received

    def resident_mib(self) -> float:
        """The process's resident memory now, in MiB (0 if it is gone)."""
        try:
            with open(f"/proc/{self.process.pid}/statm") as statm:
                return int(statm.read().split()[1]) * _PAGE / 2**20
        except (OSError, IndexError, ValueError):
            return 0.0

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def death(self) -> tuple[Outcome, str]:
        """Why the process ended, as a failed attempt's outcome and reason."""
        code = self.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            return Outcome.CRASHED, f"the worker process died of {name} while running the step"
        return Outcome.CRASHED, f"the worker process exited with status {code} mid-step"

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


@dataclass
class Received:
    """What a worker process sent since the last read: whether it said it is ready, and
    its answers (one list of results per attempt, in order)."""

    ready: bool = False
    answers: list[list[Result]] = field(default_factory=list)


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
