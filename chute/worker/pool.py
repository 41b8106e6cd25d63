"""The worker pool: claims jobs, runs them in worker processes, records the results.

One pool runs in ``chute serve`` (beside the API) or ``chute worker`` (alone). It keeps
a few claimed tasks in a local buffer so a process that finishes a task gets the next
one without waiting for the database, and it enforces each attempt's hard timeout by
killing the process running it. Its threads:

* the *claim loop* tops the buffer up whenever it is woken (new jobs, a freed slot) or
  the next retry falls due, and otherwise sleeps up to ``poll_seconds``;
* the *collector* waits on every process's pipe and exit, records results, hands out
  buffered tasks, kills overrunning attempts, replaces dead processes, renews leases
  and reaps the expired leases of dead workers anywhere.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection, wait
from typing import Any

from chute.pipelines.config import WorkerSettings
from chute.pipelines.service import PipelineService
from chute.queue.states import Outcome
from chute.queue.wakeup import JobSignal
from chute.worker import child
from chute.worker.messages import Result, Task

log = logging.getLogger(__name__)

#: Extra seconds past a step's timeout before its process is killed (pipe latency).
KILL_SLACK = 0.05
#: How often the collector wakes to check deadlines and renew leases.
TICK = 0.05


@dataclass
class _Process:
    """One worker process and what it is running."""

    process: Any
    conn: Connection
    ready: bool = False
    tasks: list[Task] = field(default_factory=list)
    deadline: float = 0.0
    started: float = 0.0


class WorkerPool:
    """A pool of worker processes fed from the job queue."""

    def __init__(
        self,
        service: PipelineService,
        child_config: child.ChildConfig,
        settings: WorkerSettings,
        signal_: JobSignal,
        name: str | None = None,
    ) -> None:
        self.service = service
        self.child_config = child_config
        self.settings = settings
        self.size = settings.processes or os.cpu_count() or 1
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.signal = signal_
        self._waker = signal_.subscribe()
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._buffer: deque[Task] = deque()
        self._processes: list[_Process] = []
        self._stopping = threading.Event()
        self._draining = threading.Event()
        self._threads: list[threading.Thread] = []
        self._batch_limits = self._batch_sizes()
        #: When each buffered task of a batch step was claimed (monotonic seconds).
        self._claimed_at: dict[int, float] = {}
        self.completed = 0

    # --- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker processes and the pool's threads."""
        self._processes = [self._spawn() for _ in range(self.size)]
        for target, name in ((self._claim_loop, "claim"), (self._collect_loop, "collect")):
            thread = threading.Thread(target=target, name=f"chute-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, grace: float | None = None) -> None:
        """Drain: claim nothing more, release buffered tasks, let running attempts finish
        for up to ``grace`` seconds (default ``drain_seconds``), then kill what is still
        running and release those jobs for other workers."""
        grace = self.settings.drain_seconds if grace is None else grace
        self._draining.set()
        self._waker.notify()
        with self._lock:
            buffered = list(self._buffer)
            self._buffer.clear()
        self.service.release(buffered, self.name)
        deadline = time.monotonic() + grace
        while self._busy() and time.monotonic() < deadline:
            time.sleep(TICK)
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        self._release_running()
        self._shutdown_processes()
        self.signal.unsubscribe(self._waker)

    def _busy(self) -> bool:
        with self._lock:
            return any(p.tasks for p in self._processes)

    def _release_running(self) -> None:
        with self._lock:
            running = [task for p in self._processes for task in p.tasks]
            for p in self._processes:
                if p.tasks:
                    p.process.kill()
                    p.tasks = []
        self.service.release(running, self.name)

    def _shutdown_processes(self) -> None:
        for p in self._processes:
            with contextlib.suppress(OSError):
                p.conn.send(None)
        for p in self._processes:
            p.process.join(timeout=5)
            if p.process.is_alive():
                p.process.kill()
                p.process.join()
            p.conn.close()

    def _spawn(self) -> _Process:
        parent, child_end = self._context.Pipe()
        process = self._context.Process(
            target=child.main,
            args=(child_end, self.child_config),
            daemon=True,
            name="chute-worker",
        )
        process.start()
        child_end.close()
        return _Process(process, parent)

    # --- claiming --------------------------------------------------------------------

    def _claim_loop(self) -> None:
        while not self._stopping.is_set() and not self._draining.is_set():
            try:
                claimed_all = self._claim_once()
            except Exception:
                log.exception("claiming jobs failed; retrying")
                claimed_all = False
                self._stopping.wait(self.settings.poll_seconds)
            if not claimed_all:
                self._waker.wait(self._idle_timeout())

    def _claim_once(self) -> bool:
        """Top up the buffer; returns whether the claim took all it asked for."""
        want = self._target() - self._queued()
        if want <= 0:
            return False
        claimed = self.service.claim(self.name, want, self.settings.lease_seconds)
        if claimed.failed:
            self.service.record(claimed.failed, self.name)
        with self._lock:
            moment = time.monotonic()
            for task in claimed.tasks:
                if (task.pipeline, task.step) in self._batch_limits:
                    self._claimed_at[task.job_id] = moment
            self._buffer.extend(claimed.tasks)
            self._dispatch()
        return len(claimed.tasks) + len(claimed.failed) == want

    def _target(self) -> int:
        return self.size * self.settings.prefetch + max(self._batch_limits.values(), default=0)

    def _queued(self) -> int:
        with self._lock:
            return len(self._buffer)

    def _idle_timeout(self) -> float:
        due = self.service.next_due()
        if due is None:
            return self.settings.poll_seconds
        wait_s = (due - datetime.now(UTC)).total_seconds()
        return min(self.settings.poll_seconds, max(wait_s, 0.001))

    def _batch_sizes(self) -> dict[tuple[str, str], int]:
        sizes = {}
        for pipeline in self.service.pipelines.values():
            for step in pipeline.steps.values():
                if step.processor.batch is not None:
                    sizes[(pipeline.name, step.name)] = step.processor.batch.size
        return sizes

    # --- dispatching (call with the lock held) ---------------------------------------------

    def _dispatch(self) -> None:
        for p in self._processes:
            if not self._buffer:
                return
            if p.ready and not p.tasks:
                tasks = self._next_tasks()
                if tasks:
                    self._send(p, tasks)

    def _next_tasks(self) -> list[Task]:
        """The next task, or a batch of tasks of one batch step (held back until the
        batch is full or its oldest task has waited ``batch_wait_ms``)."""
        for index, task in enumerate(self._buffer):
            limit = self._batch_limits.get((task.pipeline, task.step))
            if limit is None:
                del self._buffer[index]
                return [task]
            batch = [t for t in self._buffer if (t.pipeline, t.step) == (task.pipeline, task.step)]
            if len(batch) >= limit or self._batch_due(task):
                batch = batch[:limit]
                for t in batch:
                    self._buffer.remove(t)
                    self._claimed_at.pop(t.job_id, None)
                return batch
        return []

    def _batch_due(self, task: Task) -> bool:
        spec = self.service.pipelines[task.pipeline].steps[task.step].processor.batch
        assert spec is not None
        return time.monotonic() - self._claimed_at.get(task.job_id, 0.0) >= spec.wait_ms / 1000

    def _send(self, p: _Process, tasks: list[Task]) -> None:
        p.tasks = tasks
        p.started = time.monotonic()
        p.deadline = p.started + max(task.timeout_seconds for task in tasks) + KILL_SLACK
        # If the process died, the collector sees it exit and fails these tasks.
        with contextlib.suppress(OSError):
            p.conn.send(tasks)

    # --- collecting ------------------------------------------------------------------

    def _collect_loop(self) -> None:
        last_renewal = last_reap = time.monotonic()
        while not self._stopping.is_set():
            try:
                self._collect_once()
                now = time.monotonic()
                if now - last_renewal >= self.settings.lease_seconds / 3:
                    self._renew_leases()
                    last_renewal = now
                if now - last_reap >= self.settings.lease_seconds / 2:
                    self.service.reap()
                    last_reap = now
            except Exception:
                log.exception("the worker pool's collector failed; carrying on")
                time.sleep(TICK)

    def _collect_once(self) -> None:
        with self._lock:
            waitables: dict[Any, _Process] = {}
            for p in self._processes:
                waitables[p.conn] = p
                waitables[p.process.sentinel] = p
        ready = wait(list(waitables), timeout=TICK)
        results: list[Result] = []
        for item in ready:
            p = waitables[item]
            if item is p.conn:
                results += self._receive(p)
        for item in ready:
            p = waitables[item]
            if item is not p.conn and not p.process.is_alive():
                results += self._replace(p, _death(p))
        results += self._kill_overdue()
        with self._lock:
            self._dispatch()
            low = len(self._buffer) <= self.size * self.settings.prefetch // 2
        if results:
            if low:
                self._waker.notify()
            self.service.record(results, self.name)
            self.completed += len(results)
        elif low:
            self._waker.notify()

    def _receive(self, p: _Process) -> list[Result]:
        try:
            message = p.conn.recv()
        except (EOFError, OSError):
            return []
        with self._lock:
            if isinstance(message, tuple):  # ("ready", pid)
                p.ready = True
                return []
            p.tasks = []
        return list(message)

    def _replace(self, p: _Process, reason: tuple[Outcome, str]) -> list[Result]:
        """Fail what a dead (or killed) process was running and start a new one."""
        p.process.join(timeout=1)
        p.conn.close()
        with self._lock:
            tasks, p.tasks = p.tasks, []
            index = self._processes.index(p)
            self._processes[index] = self._spawn()
        outcome, error = reason
        ended = datetime.now(UTC)
        started = ended - timedelta(seconds=time.monotonic() - p.started)
        return [Result(t.job_id, t.attempt, outcome, started, ended, error=error) for t in tasks]

    def _kill_overdue(self) -> list[Result]:
        now = time.monotonic()
        with self._lock:
            overdue = [p for p in self._processes if p.tasks and now > p.deadline]
        results: list[Result] = []
        for p in overdue:
            limit = max(task.timeout_seconds for task in p.tasks)
            p.process.kill()
            error = f"timed out after {limit:g} s; its process was killed"
            results += self._replace(p, (Outcome.TIMED_OUT, error))
        return results

    def _renew_leases(self) -> None:
        with self._lock:
            ids = [t.job_id for t in self._buffer]
            ids += [t.job_id for p in self._processes for t in p.tasks]
        if ids:
            self.service.extend(self.name, ids, self.settings.lease_seconds)


def _death(p: _Process) -> tuple[Outcome, str]:
    code = p.process.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        return Outcome.CRASHED, f"the worker process died of {name} while running the step"
    return Outcome.CRASHED, f"the worker process exited with status {code} mid-step"
