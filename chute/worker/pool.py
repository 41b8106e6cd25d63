"""The worker pool: claims jobs, runs them in worker processes, records the results.

One pool runs in ``chute serve`` (beside the API) or ``chute worker`` (alone). It keeps
claimed tasks in a local buffer so a process that finishes a task gets the next one
without waiting for the database, and sends attempts of quick steps to a process ahead
so it does not wait for the pool either (see :data:`QUICK_SECONDS`). Its threads:

* the *claim loop* tops the buffer up when it runs low, when woken by new jobs, or when
  the next retry falls due; otherwise it sleeps up to ``poll_seconds``;
* the *collector* waits on every process's pipe and exit, hands out buffered attempts,
  kills attempts that overrun their timeout or memory cap, and replaces dead processes
  (with a growing delay when they die before they are ready);
* the *recorder* commits results in batches (whatever arrived during the last commit);
* the *lease keeper* renews the leases of every job this pool holds (buffered, running,
  or waiting to be recorded) and reaps expired leases of dead workers anywhere.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import selectors
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from enum import Enum

from chute.clock import Clock, system_clock
from chute.jobs import BatchLimit, Broker, Result, Task
from chute.queue.states import Outcome
from chute.queue.wakeup import JobSignal
from chute.settings import WorkerSettings
from chute.worker import child
from chute.worker.processes import WorkerProcess

log = logging.getLogger(__name__)

#: How often the collector wakes to check deadlines and memory.
TICK = 0.05
#: The buffer holds about this many seconds of work at the current completion rate (and
#: at least ``prefetch`` jobs per process): fast jobs are claimed many per transaction,
#: slow ones are not hoarded away from other workers.
LOOKAHEAD = 0.25
#: Seconds over which the completion rate is measured: short, so a burst of quick jobs
#: gets a deep buffer within moments.
RATE_WINDOW = 0.1
#: Most tasks one pool buffers.
MAX_BUFFER = 1000
#: Longest delay before restarting a process that keeps dying at start-up.
MAX_RESPAWN_DELAY = 30.0
#: Attempts of steps that have taken at most this long (on average, lately) are quick:
#: the pool sends a process quick attempts ahead, behind a quick one it is running, so
#: it never waits for the pool between them. Others go one at a time to a free process.
QUICK_SECONDS = 0.002
#: Most attempts one process holds.
MAX_IN_FLIGHT = 64
#: Most bytes of attempts waiting behind the running one: a process reads its pipe only
#: once it has answered every attempt it read, and the pool must never block writing to
#: it (a socket pair holds about 90 KiB).
MAX_WAITING_BYTES = 48 * 1024
#: Weight of the newest attempt in a step's average duration.
DURATION_WEIGHT = 0.2


class _Claim(Enum):
    """How a claim went: the buffer was full, the claim got all it asked, or fewer."""

    FULL = "full"
    ALL = "all"
    SHORT = "short"


@dataclass
class _Slot:
    """A place for one worker process; empty while a restart waits out its delay."""

    process: WorkerProcess | None
    start_failures: int = 0
    respawn_at: float = 0.0


class WorkerPool:
    """A pool of worker processes fed from the job queue."""

    def __init__(
        self,
        broker: Broker,
        child_config: child.ChildConfig,
        settings: WorkerSettings,
        signal_: JobSignal,
        name: str | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.broker = broker
        self.clock = clock
        self.child_config = child_config
        self.settings = settings
        self.size = settings.processes or os.cpu_count() or 1
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.signal = signal_
        self._waker = signal_.subscribe()
        self._context = multiprocessing.get_context("spawn")
        #: Every process's pipe and exit, watched by the collector.
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._buffer: deque[Task] = deque()
        self._slots: list[_Slot] = []
        self._stopping = threading.Event()
        self._draining = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._batch_limits = broker.batch_limits()
        #: When each buffered task of a batch step was claimed (monotonic seconds).
        self._claimed_at: dict[int, float] = {}
        #: Results waiting for the recorder thread (``None`` stops it).
        self._results: queue.SimpleQueue[list[Result] | None] = queue.SimpleQueue()
        #: Jobs whose results are collected but not yet recorded (leases still renewed).
        self._recording: set[int] = set()
        #: Completions per second, measured over windows of ``RATE_WINDOW`` or more.
        self._rate = 0.0
        #: Recent average duration of each step's attempts, in seconds.
        self._durations: dict[tuple[str, str], float] = {}
        #: The step of each job sent to a process and not yet answered.
        self._steps: dict[int, tuple[str, str]] = {}
        self._last_check = 0.0
        self._window = (time.monotonic(), 0)
        self.completed = 0

    # --- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker processes and the pool's threads."""
        self._slots = [_Slot(self._spawn()) for _ in range(self.size)]
        loops = {
            "claim": self._claim_loop,
            "collect": self._collect_loop,
            "record": self._record_loop,
            "lease": self._lease_loop,
        }
        for name, target in loops.items():
            thread = threading.Thread(target=target, name=f"chute-{name}", daemon=True)
            thread.start()
            self._threads[name] = thread

    def stop(self, grace: float | None = None) -> None:
        """Drain: claim nothing more, release buffered tasks, let the attempts processes
        hold finish for up to ``grace`` seconds (default ``drain_seconds``), then kill
        what is still running and release those jobs for other workers."""
        grace = self.settings.drain_seconds if grace is None else grace
        self._draining.set()
        self._waker.notify()
        self._threads["claim"].join()  # no claim is in flight after this
        self._release_buffer()
        deadline = time.monotonic() + grace
        while self._busy() and time.monotonic() < deadline:
            time.sleep(TICK)
        self._stopping.set()
        self._threads["collect"].join()
        answered, unfinished = self._stop_busy()
        if answered:
            self._collected(answered)
        self._results.put(None)  # the recorder records what was collected, then stops
        self._threads["record"].join()
        self._threads["lease"].join()
        self.broker.release(unfinished, self.name)
        self._release_buffer()  # attempts handed back by processes that died meanwhile
        for slot in self._slots:
            if slot.process is not None:
                slot.process.close()
        self.signal.unsubscribe(self._waker)

    def _release_buffer(self) -> None:
        with self._lock:
            buffered = list(self._buffer)
            self._buffer.clear()
            self._forget(buffered)
        if buffered:
            self.broker.release(buffered, self.name)

    def _forget(self, tasks: list[Task]) -> None:
        """Drop what the pool noted about tasks leaving it without a result."""
        for task in tasks:
            self._steps.pop(task.job_id, None)
            self._claimed_at.pop(task.job_id, None)

    def _busy(self) -> bool:
        with self._lock:
            return any(p.busy for p in self._live())

    def _stop_busy(self) -> tuple[list[Result], list[Task]]:
        """Kill the processes still holding attempts; returns the answers they sent
        before they died, and the tasks they did not finish."""
        with self._lock:
            busy = [p for p in self._live() if p.busy]
        for p in busy:
            p.kill()
            p.reap()
        with self._lock:
            answered = [result for p in busy for result in p.receive()]
            unfinished = [task for p in busy for task in p.take_all()]
            self._forget(unfinished)
        return answered, unfinished

    def _spawn(self) -> WorkerProcess:
        process = WorkerProcess(self._context, self.child_config)
        self._selector.register(process.conn, selectors.EVENT_READ, process)
        self._selector.register(process.process.sentinel, selectors.EVENT_READ, process)
        return process

    def _live(self) -> list[WorkerProcess]:
        return [slot.process for slot in self._slots if slot.process is not None]

    # --- claiming --------------------------------------------------------------------

    def _claim_loop(self) -> None:
        while not self._draining.is_set():
            try:
                claimed = self._claim_once()
            except Exception:
                log.exception("claiming jobs failed; retrying")
                claimed = _Claim.FULL
            if claimed is _Claim.ALL:
                continue  # there may be more
            # A full buffer waits for the collector to ask for more; a short claim for
            # new jobs or the next retry falling due.
            full = claimed is _Claim.FULL
            self._waker.wait(self.settings.poll_seconds if full else self._idle_timeout())

    def _claim_once(self) -> _Claim:
        """Top up the buffer, if it is below half full and some process is ready."""
        with self._lock:
            queued = len(self._buffer)
            ready = any(p.ready for p in self._live())
        if queued > self._target() // 2 or not ready:
            return _Claim.FULL
        want = self._target() - queued
        claimed = self.broker.claim(self.name, want, self.settings.lease_seconds)
        if claimed.failed:
            self._collected(claimed.failed)
        with self._lock:
            moment = time.monotonic()
            for task in claimed.tasks:
                if (task.pipeline, task.step) in self._batch_limits:
                    self._claimed_at[task.job_id] = moment
            self._buffer.extend(claimed.tasks)
            self._dispatch()
        if len(claimed.tasks) + len(claimed.failed) == want:
            return _Claim.ALL
        return _Claim.SHORT

    def _target(self) -> int:
        """How many tasks to keep buffered (see :data:`LOOKAHEAD`)."""
        floor = self.size * self.settings.prefetch
        batches = max((limit.size for limit in self._batch_limits.values()), default=0)
        return min(MAX_BUFFER, max(floor, int(self._current_rate() * LOOKAHEAD))) + batches

    def _current_rate(self) -> float:
        """The completion rate, falling once completions stop for a while."""
        started, seen = self._window
        idle_for = time.monotonic() - started
        return min(self._rate, seen / idle_for) if idle_for > 1.0 else self._rate

    def _idle_timeout(self) -> float:
        wait_s = self.broker.seconds_until_due()
        if wait_s is None:
            return self.settings.poll_seconds
        # Due jobs this claim did not get are being claimed by another worker.
        return min(self.settings.poll_seconds, max(wait_s, 0.01))

    # --- dispatching (call with the lock held) ---------------------------------------------

    def _dispatch(self) -> None:
        """Hand buffered attempts to ready processes: first one to each idle process,
        then quick attempts ahead to processes running quick ones (see
        :data:`QUICK_SECONDS`). Nothing new starts while the pool drains."""
        if self._draining.is_set():
            return
        ready = [p for p in self._live() if p.ready and p.alive()]
        for p in ready:
            if not p.busy:
                self._send(p, limit=1)
        for p in ready:
            if p.busy and self._quick(p.attempts[-1]):
                self._send(p, limit=MAX_IN_FLIGHT - len(p.attempts))

    def _send(self, p: WorkerProcess, limit: int) -> None:
        """Send ``p`` up to ``limit`` buffered attempts in one message; those that would
        wait behind another go only if quick, and within :data:`MAX_WAITING_BYTES`."""
        attempts: list[list[Task]] = []
        pickles: list[bytes] = []
        waiting = p.waiting_bytes
        while len(attempts) < limit:
            tasks = self._next_tasks()
            if not tasks:
                break
            ahead = p.busy or bool(attempts)  # it would wait behind another attempt
            data = _pickled(tasks) if not ahead or self._quick(tasks) else None
            if data is not None and ahead:
                waiting += len(data)
            if data is None or waiting > MAX_WAITING_BYTES:
                self._buffer.extendleft(reversed(tasks))
                break
            attempts.append(tasks)
            pickles.append(data)
            self._steps.update((task.job_id, (task.pipeline, task.step)) for task in tasks)
        if attempts:
            p.send(attempts, pickles)

    def _quick(self, tasks: list[Task]) -> bool:
        """Whether an attempt of these tasks' step is expected to take a moment."""
        duration = self._durations.get((tasks[0].pipeline, tasks[0].step))
        return duration is not None and duration <= QUICK_SECONDS

    def _next_tasks(self) -> list[Task]:
        """The next task, or a batch of tasks of one batch step (held back until the
        batch is full or its oldest task has waited ``batch_wait_ms``)."""
        for index, task in enumerate(self._buffer):
            limit = self._batch_limits.get((task.pipeline, task.step))
            if limit is None:
                del self._buffer[index]
                return [task]
            batch = [t for t in self._buffer if (t.pipeline, t.step) == (task.pipeline, task.step)]
            if len(batch) >= limit.size or self._batch_due(task, limit):
                batch = batch[: limit.size]
                for t in batch:
                    self._buffer.remove(t)
                    self._claimed_at.pop(t.job_id, None)
                return batch
        return []

    def _batch_due(self, task: Task, limit: BatchLimit) -> bool:
        waited = time.monotonic() - self._claimed_at.get(task.job_id, 0.0)
        return waited >= limit.wait_seconds

    # --- collecting ------------------------------------------------------------------

    def _collect_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._collect_once()
            except Exception:
                log.exception("the worker pool's collector failed; carrying on")
                time.sleep(TICK)

    def _collect_once(self) -> None:
        if self._selector.get_map():
            events = [key for key, _ in self._selector.select(timeout=TICK)]
        else:  # every process is waiting out a restart delay
            time.sleep(TICK)
            events = []
        results: list[Result] = []
        with self._lock:  # answers change what a process holds
            for key in events:
                if key.fileobj is key.data.conn:
                    results += key.data.receive()
        for key in events:
            p = key.data
            if key.fileobj is not p.conn and not p.alive():
                results += self._replace(p, *p.death())
        results += self._enforce_limits()
        self._respawn_due()
        with self._lock:
            self._dispatch()  # also sends batches whose wait is over
            low = len(self._buffer) <= self._target() // 2
        if results:
            if low:
                self._waker.notify()
            self._collected(results)

    def _collected(self, results: list[Result]) -> None:
        with self._lock:
            self._recording.update(result.job_id for result in results)
            self._measure(results)
        self._results.put(results)

    def _measure(self, results: list[Result]) -> None:
        """Update the completion rate and the steps' durations (call with the lock held)."""
        for result in results:
            step = self._steps.pop(result.job_id, None)
            if step is None:
                continue
            seconds = (result.ended_at - result.started_at).total_seconds()
            average = self._durations.get(step)
            if average is None or result.outcome is Outcome.SUCCEEDED or seconds > average:
                # a failure counts only when slow: one that fails fast says nothing of
                # how long the step takes when it works
                average = seconds if average is None else average
                self._durations[step] = average + DURATION_WEIGHT * (seconds - average)
        started, seen = self._window
        seen += len(results)
        now = time.monotonic()
        if now - started >= RATE_WINDOW:
            self._rate = seen / (now - started)
            self._window = (now, 0)
        else:
            self._window = (started, seen)

    def _enforce_limits(self) -> list[Result]:
        """Kill attempts past their timeout or memory cap (checked once per tick)."""
        now = time.monotonic()
        if now - self._last_check < TICK:
            return []
        self._last_check = now
        with self._lock:
            busy = [p for p in self._live() if p.busy]
        results: list[Result] = []
        for p in busy:
            cap, used = p.memory_cap(), p.attempt_mib()
            if p.overdue(now):
                culprit = p.kill()
                error = f"timed out after {p.timeout():g} s; its process was killed"
                results += self._replace(p, Outcome.TIMED_OUT, error, culprit)
            elif cap and used > cap:
                culprit = p.kill()
                error = (
                    f"exceeded the step's memory cap of {cap} MiB (it had added {used:.0f} "
                    "MiB of resident memory); its process was killed"
                )
                results += self._replace(p, Outcome.OUT_OF_MEMORY, error, culprit)
        return results

    def _replace(
        self,
        p: WorkerProcess,
        outcome: Outcome,
        error: str,
        culprit: list[Task] | None = None,
    ) -> list[Result]:
        """Fail the attempt a dead (or killed) process was running and start another; a
        process that died before it was ready is restarted after a growing delay.

        Answers already in its pipe count. A process killed for ``culprit`` that turns
        out to have finished it failed nothing; attempts that never started go back to
        the buffer for another process."""
        p.reap()  # so that everything it sent is in the pipe
        self._selector.unregister(p.conn)
        self._selector.unregister(p.process.sentinel)
        with self._lock:
            results = p.receive()
            if p.busy and (culprit is None or p.head() is culprit):
                results += p.fail(outcome, error, self.clock())
            self._buffer.extendleft(reversed(p.take_all()))
            slot = next(slot for slot in self._slots if slot.process is p)
            slot.start_failures = 0 if p.ready else slot.start_failures + 1
            slot.process = None
            slot.respawn_at = time.monotonic() + _respawn_delay(slot.start_failures)
            no_process_ready = not any(q.ready for q in self._live())
        p.close_pipe()
        if slot.start_failures:
            log.error(
                "a worker process died while starting (%s); restarting it in %.1f s",
                error,
                _respawn_delay(slot.start_failures),
            )
            if no_process_ready:
                self._release_buffer()  # let healthy workers elsewhere take them
        return results

    def _respawn_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.process is None and now >= slot.respawn_at and not self._stopping.is_set():
                process = self._spawn()
                with self._lock:
                    slot.process = process

    # --- recording and leases ----------------------------------------------------------

    def _record_loop(self) -> None:
        """Record results in batches: whatever arrived while the last commit ran."""
        while True:
            batch = self._results.get()
            if batch is None:
                return
            while True:
                try:
                    more = self._results.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._results.put(None)
                    break
                batch += more
            self._record(batch)

    def _record(self, results: list[Result]) -> None:
        """Record results. A failed batch is recorded one result at a time, each retried
        a few times while the database is unavailable (their leases are renewed
        meanwhile); a result that still fails is dropped, and its job retried once its
        lease runs out."""
        if not results or self._try_record(results, attempts=1):
            recorded = len(results)
        else:
            recorded = sum(self._try_record([result], attempts=4) for result in results)
        with self._lock:
            self._recording.difference_update(result.job_id for result in results)
        self.completed += recorded

    def _try_record(self, results: list[Result], attempts: int) -> bool:
        delay = 0.5
        for attempt in range(1, attempts + 1):
            try:
                self.broker.record(results, self.name)
                return True
            except Exception:
                log.exception("recording %d results failed (try %d)", len(results), attempt)
                # A pool that is stopping gives up at once: the job is retried once its
                # lease runs out, and a database that is down cannot hold the stop up.
                if attempt == attempts or self._stopping.wait(delay):
                    return False
                delay *= 2
        return False

    def _lease_loop(self) -> None:
        interval = self.settings.lease_seconds / 3
        last_reap = time.monotonic()
        while not self._stopping.wait(interval):
            try:
                self._renew_leases()
                if time.monotonic() - last_reap >= self.settings.lease_seconds / 2:
                    self.broker.reap()
                    last_reap = time.monotonic()
            except Exception:
                log.exception("renewing leases failed; retrying")

    def _renew_leases(self) -> None:
        with self._lock:
            ids = [t.job_id for t in self._buffer]
            ids += [t.job_id for p in self._live() for t in p.tasks]
            ids += list(self._recording)
        if ids:
            self.broker.extend(self.name, ids, self.settings.lease_seconds)


def _pickled(tasks: list[Task]) -> bytes:
    return pickle.dumps(tasks, protocol=pickle.HIGHEST_PROTOCOL)


def _respawn_delay(failures: int) -> float:
    return 0.0 if failures == 0 else min(MAX_RESPAWN_DELAY, 0.25 * 2 ** (failures - 1))
