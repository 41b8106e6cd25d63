"""The worker pool: claims jobs, runs them in worker processes, records the results.

One pool runs in ``chute serve`` (beside the API) or ``chute worker`` (alone). Its
decisions (how many jobs to claim, which attempts go to which process and which are
sent ahead, batches, timeouts and memory caps, restart delays) are the
:class:`~chute.worker.scheduler.Scheduler`'s, which the pool's threads call under one
lock and whose actions they carry out. It keeps a local buffer of claimed tasks only as
deep as it can start soon, so slow jobs are not hoarded away from other workers while
quick ones are claimed many per transaction. Its threads:

* the *claim loop* tops the buffer up when it runs low, when woken by new jobs, or when
  the next retry falls due; otherwise it sleeps up to ``poll_seconds``;
* the *collector* waits on every process's pipe and exit, hands out buffered attempts,
  kills attempts that overrun their timeout or memory cap, and replaces dead processes;
* the *recorder* commits results in batches (whatever arrived during the last commit);
* the *lease keeper* tells the queue which jobs have started (within
  :data:`REPORT_SECONDS`), renews the leases of every job this pool holds (buffered,
  running, or waiting to be recorded), and reaps expired leases of dead workers
  anywhere.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import selectors
import socket
import threading
import time
import uuid
from enum import Enum

from chute.clock import Clock, system_clock
from chute.jobs import Broker, Result, Task
from chute.queue.states import Outcome
from chute.queue.wakeup import JobSignal
from chute.settings import WorkerSettings
from chute.worker import child
from chute.worker.processes import WorkerProcess
from chute.worker.scheduler import Action, Attempt, Kill, Scheduler, Send, Spawn

log = logging.getLogger(__name__)

#: How often the collector wakes to check deadlines and memory.
TICK = 0.05
#: Longest time between sending a job to a process and telling the queue it started:
#: the reaper charges a lost attempt only to a job that started (see
#: :meth:`chute.jobs.Broker.reap`).
REPORT_SECONDS = 0.5


class _Claim(Enum):
    """How a claim went: the buffer was full, the claim got all it asked, or fewer."""

    FULL = "full"
    ALL = "all"
    SHORT = "short"


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
        #: Guards the scheduler and the processes (what is sent to each, in order).
        self._lock = threading.Lock()
        self._scheduler = Scheduler(
            self.size, settings.prefetch, broker.batch_limits(), clock=clock
        )
        self._processes: list[WorkerProcess | None] = [None] * self.size
        self._stopping = threading.Event()
        self._draining = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        #: Results waiting for the recorder thread (``None`` stops it).
        self._results: queue.SimpleQueue[list[Result] | None] = queue.SimpleQueue()
        self.completed = 0

    # --- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker processes and the pool's threads."""
        for slot in range(self.size):
            self._spawn(slot)
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
            self._results.put(answered)
        self._results.put(None)  # the recorder records what was collected, then stops
        self._threads["record"].join()
        self._threads["lease"].join()
        self.broker.release(unfinished, self.name)
        self._release_buffer()  # attempts handed back by processes that died meanwhile
        for process in self._processes:
            if process is not None:
                process.close()
        self.signal.unsubscribe(self._waker)

    def ready_processes(self) -> int:
        """How many of the pool's processes have started and can take attempts."""
        with self._lock:
            return self._scheduler.ready_count()

    def _release_buffer(self) -> None:
        with self._lock:
            buffered = self._scheduler.drain()
        if buffered:
            self.broker.release(buffered, self.name)

    def _busy(self) -> bool:
        with self._lock:
            return self._scheduler.busy()

    def _stop_busy(self) -> tuple[list[Result], list[Task]]:
        """Kill the processes still holding attempts; returns the answers they sent
        before they died, and the tasks they did not finish."""
        with self._lock:
            busy = [
                (slot, p)
                for slot, p in enumerate(self._processes)
                if p is not None and self._scheduler.holds_attempts(slot)
            ]
        for _, p in busy:
            p.kill()
            p.reap()
        with self._lock:
            answered = [result for slot, _ in busy for result in self._receive(slot)]
            unfinished = [task for slot, _ in busy for task in self._scheduler.stopped(slot)]
        return answered, unfinished

    def _spawn(self, slot: int) -> None:
        process = WorkerProcess(self._context, self.child_config)
        self._selector.register(process.conn, selectors.EVENT_READ, (slot, process))
        self._selector.register(process.process.sentinel, selectors.EVENT_READ, (slot, process))
        with self._lock:
            self._processes[slot] = process

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
        """Top up the buffer as far as the scheduler asks."""
        with self._lock:
            want = self._scheduler.claim_size()
        if want == 0:
            return _Claim.FULL
        claimed = self.broker.claim(self.name, want, self.settings.lease_seconds)
        with self._lock:
            if claimed.settled:
                self._scheduler.collected(claimed.settled)
            self._send(self._scheduler.claimed(claimed.tasks))
        if claimed.settled:
            self._results.put(claimed.settled)
        if len(claimed.tasks) + len(claimed.settled) + claimed.handed == want:
            return _Claim.ALL
        return _Claim.SHORT

    def _idle_timeout(self) -> float:
        wait_s = self.broker.seconds_until_due()
        if wait_s is None:
            return self.settings.poll_seconds
        # Due jobs this claim did not get are being claimed by another worker.
        return min(self.settings.poll_seconds, max(wait_s, 0.01))

    # --- carrying out the scheduler's actions -------------------------------------------

    def _send(self, sends: list[Send]) -> None:
        """Write attempts to their processes (call with the lock held: each process must
        get them in the order the scheduler decided)."""
        for send in sends:
            process = self._processes[send.slot]
            if process is not None:
                process.send(send.message)

    def _receive(self, slot: int) -> list[Result]:
        """Pass what a process sent on to the scheduler; returns the results (call with
        the lock held)."""
        process = self._processes[slot]
        if process is None:
            return []
        received = process.receive()
        if received.ready:
            self._scheduler.ready(slot)
            self._waker.notify()  # a process to claim for
        return self._scheduler.answered(slot, received.answers)

    def _resident_mib(self, slot: int) -> float:
        process = self._processes[slot]
        return 0.0 if process is None else process.resident_mib()

    # --- collecting ------------------------------------------------------------------

    def _collect_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._collect_once()
            except Exception:
                log.exception("the worker pool's collector failed; carrying on")
                time.sleep(TICK)

    def _collect_once(self) -> None:
        readable, exited = self._wait_for_processes()
        results: list[Result] = []
        with self._lock:  # answers change what a process holds
            for slot in readable:
                results += self._receive(slot)
        for slot, process in exited:
            results += self._replace(slot, *process.death())
        with self._lock:
            actions = self._scheduler.tick(self._resident_mib)
            self._send([action for action in actions if isinstance(action, Send)])
            more = self._scheduler.claim_size() > 0
        results += self._carry_out(actions)
        if results:
            if more:
                self._waker.notify()
            self._results.put(results)

    def _wait_for_processes(self) -> tuple[list[int], list[tuple[int, WorkerProcess]]]:
        """Wait up to a tick for the processes; returns the slots whose process sent
        something, and the processes that exited, with their slots."""
        if not self._selector.get_map():  # every process is waiting out a restart delay
            time.sleep(TICK)
            return [], []
        readable, exited = [], []
        for key, _ in self._selector.select(timeout=TICK):
            slot, process = key.data
            if self._processes[slot] is not process:
                continue
            if key.fileobj is process.conn:
                readable.append(slot)
            elif not process.alive():
                exited.append((slot, process))
        return readable, exited

    def _carry_out(self, actions: list[Action]) -> list[Result]:
        """Kill and start processes as the scheduler decided; returns the results of
        the attempts killed."""
        results: list[Result] = []
        for action in actions:
            if isinstance(action, Kill):
                process = self._processes[action.slot]
                if process is not None:
                    process.kill()
                    results += self._replace(
                        action.slot, action.outcome, action.error, action.attempt
                    )
            elif isinstance(action, Spawn):
                self._spawn(action.slot)
        return results

    def _replace(
        self, slot: int, outcome: Outcome, error: str, culprit: Attempt | None = None
    ) -> list[Result]:
        """Report a dead (or killed) process to the scheduler, which fails the attempt
        it was running; answers already in its pipe count."""
        process = self._processes[slot]
        assert process is not None
        process.reap()  # so that everything it sent is in the pipe
        self._selector.unregister(process.conn)
        self._selector.unregister(process.process.sentinel)
        with self._lock:
            results = self._receive(slot)
            death = self._scheduler.died(slot, outcome, error, culprit)
            self._processes[slot] = None
        process.close_pipe()
        if death.delay:
            log.error(
                "a worker process died while starting (%s); restarting it in %.1f s",
                error,
                death.delay,
            )
        if death.release:  # no process is ready: let healthy workers elsewhere take them
            self.broker.release(death.release, self.name)
        return results + death.results

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
            self._scheduler.recorded(results)
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
        renew_every = self.settings.lease_seconds / 3
        reap_every = self.settings.lease_seconds / 2
        last_renewal = last_reap = time.monotonic()
        while not self._stopping.wait(min(renew_every, REPORT_SECONDS)):
            try:
                renew = time.monotonic() - last_renewal >= renew_every
                self._report(renew)
                if renew:
                    last_renewal = time.monotonic()
                if time.monotonic() - last_reap >= reap_every:
                    self.broker.reap()
                    last_reap = time.monotonic()
            except Exception:
                log.exception("renewing leases failed; retrying")

    def _report(self, renew: bool) -> None:
        """Tell the queue which jobs started since the last report, and (``renew``)
        renew the lease of every job held; a report that fails is sent again next
        time."""
        with self._lock:
            started = self._scheduler.unreported_starts()
            ids = self._scheduler.held() if renew else started
        if ids:
            self.broker.extend(self.name, ids, self.settings.lease_seconds, started)
        with self._lock:
            self._scheduler.reported(started)
