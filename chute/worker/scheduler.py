"""The worker pool's decisions: what to claim, what each process runs, when an attempt
has overrun, when a dead process comes back.

:class:`Scheduler` holds the state these decisions need and nothing else: the buffer of
claimed tasks, the attempts each process holds, each step's recent attempt duration,
the completion rate, and the restart delays of processes that die. The pool feeds it
events (tasks claimed, a process ready, answers arrived, a process dead, time passing)
and carries out the actions it returns (:class:`Send`, :class:`Kill`, :class:`Spawn`).
It never touches a pipe, a process or the database, and reads the time from the clocks
it is given, so tests drive it with fake processes and a fake clock. It is not
thread-safe: the pool calls it holding one lock.

The buffer holds what can start soon, so that other workers sharing the queue get the
rest (see :meth:`Scheduler.target`): one attempt for each idle process and, for steps
whose attempts are known to be short, about :data:`LOOKAHEAD` seconds of work more per
process. Jobs of slow steps, or of steps not measured yet, are claimed only for idle
processes.
"""

from __future__ import annotations

import pickle
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import timedelta

from chute.clock import Clock, system_clock
from chute.jobs import BatchLimit, Result, Task
from chute.queue.states import Outcome
from chute.worker.slots import (
    Action,
    Attempt,
    Death,
    Kill,
    Send,
    Slot,
    SlotState,
    Spawn,
    Step,
    step_of,
)

__all__ = ["Action", "Attempt", "Death", "Kill", "Scheduler", "Send", "Spawn"]


#: The buffer holds about this many seconds of work per process beyond the attempts
#: running (judged by the durations of the steps claimed lately, and by the completion
#: rate): quick jobs are claimed many per transaction, slow ones are left to other
#: workers until a process is free for them.
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
#: it never waits for the pool between them, and buffers at least ``prefetch`` of them
#: per process. Others go one at a time to a free process.
QUICK_SECONDS = 0.002
#: Most attempts one process holds.
MAX_IN_FLIGHT = 64
#: Most bytes of attempts waiting behind the running one: a process reads its pipe only
#: once it has answered every attempt it read, and the pool must never block writing to
#: it (a socket pair holds about 90 KiB).
MAX_WAITING_BYTES = 48 * 1024
#: Weight of the newest attempt in a step's average duration.
DURATION_WEIGHT = 0.2
#: How often running attempts are checked against their memory caps (reading /proc for
#: every short attempt would cost more than the attempts).
CHECK_SECONDS = 0.05
#: Extra seconds past a step's timeout before its process is killed (pipe latency).
KILL_SLACK = 0.05


class Scheduler:
    """Decides what a pool of ``size`` processes claims and runs (see the module)."""

    def __init__(
        self,
        size: int,
        prefetch: int,
        batch_limits: Mapping[Step, BatchLimit],
        *,
        clock: Clock = system_clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.prefetch = prefetch
        self.batch_limits = dict(batch_limits)
        self.clock = clock
        self.monotonic = monotonic
        #: The pool starts a process in every slot.
        self.slots = [Slot() for _ in range(size)]
        self.buffer: deque[Task] = deque()
        self.draining = False
        #: Buffered tasks of batch steps: their step and when they were claimed.
        self._gathering: dict[int, tuple[Step, float]] = {}
        #: Jobs whose results are out of the processes but not yet recorded.
        self._recording: set[int] = set()
        #: Jobs sent to a process whose start the queue has not been told of.
        self._unreported: set[int] = set()
        #: How many tasks of each step the latest claim brought.
        self._last_claim: Counter[Step] = Counter()
        #: Recent average duration of each step's attempts, in seconds.
        self._durations: dict[Step, float] = {}
        #: Completions per second, measured over windows of ``RATE_WINDOW`` or more.
        self._rate = 0.0
        self._window = (monotonic(), 0)
        self._last_check = 0.0

    # --- claiming ------------------------------------------------------------------

    def claim_size(self) -> int:
        """How many jobs to claim now: none while draining, while no process is ready,
        or while the buffer is over half its :meth:`target`."""
        if self.draining or self.ready_count() == 0:
            return 0
        target, queued = self.target(), len(self.buffer)
        return 0 if queued > target // 2 else target - queued

    def target(self) -> int:
        """How many tasks the buffer should hold: one per idle process, a batch's worth
        for each batch step being gathered, and :meth:`ahead` more."""
        idle = sum(1 for s in self.slots if s.state is SlotState.READY and not s.attempts)
        gathering = {step for step, _ in self._gathering.values()}
        batches = sum(self.batch_limits[step].size for step in gathering)
        return min(MAX_BUFFER, idle + batches + self.ahead())

    def ahead(self) -> int:
        """Tasks to hold beyond those idle processes take at once: about
        :data:`LOOKAHEAD` seconds of work per ready process at the expected duration of
        the next jobs (and no more than the completion rate drains in that time); at
        least ``prefetch`` per process for quick steps; none for slow or unknown ones."""
        seconds = self.expected_seconds()
        if seconds is None:
            return 0
        ready = self.ready_count()
        ahead = ready * LOOKAHEAD / max(seconds, 1e-6)
        rate = self._current_rate()
        if rate > 0:
            ahead = min(ahead, rate * LOOKAHEAD)
        if seconds <= QUICK_SECONDS:
            ahead = max(ahead, ready * self.prefetch)
        return int(ahead)

    def expected_seconds(self) -> float | None:
        """The expected duration of an attempt of the next jobs claimed, judged by the
        steps the latest claim brought (``None``: nothing claimed yet, or one of those
        steps has no measured duration)."""
        total, count = 0.0, 0
        for step, tasks in self._last_claim.items():
            seconds = self.step_seconds(step)
            if seconds is None:
                return None
            total += seconds * tasks
            count += tasks
        return total / count if count else None

    def step_seconds(self, step: Step) -> float | None:
        """A step's recent average attempt duration (``None``: not measured yet)."""
        return self._durations.get(step)

    def claimed(self, tasks: list[Task]) -> list[Send]:
        """Buffer tasks just claimed; returns what to send at once."""
        if tasks:
            self._last_claim = Counter(step_of(task) for task in tasks)
        now = self.monotonic()
        for task in tasks:
            if step_of(task) in self.batch_limits:
                self._gathering[task.job_id] = (step_of(task), now)
        self.buffer.extend(tasks)
        return self.dispatch()

    def collected(self, results: list[Result]) -> None:
        """Note results settled without running an attempt (a job whose step is gone,
        a step whose condition is false)."""
        self._recording.update(result.job_id for result in results)
        self._count(len(results))

    def drain(self) -> list[Task]:
        """Start nothing new from now on; returns the buffered tasks, to give back."""
        self.draining = True
        return self.drain_buffer()

    # --- processes -----------------------------------------------------------------

    def ready(self, slot: int) -> None:
        """The process in ``slot`` has started and said so."""
        self.slots[slot].state = SlotState.READY

    def ready_count(self) -> int:
        return sum(1 for slot in self.slots if slot.state is SlotState.READY)

    def answered(self, slot: int, answers: list[list[Result]]) -> list[Result]:
        """The process in ``slot`` answered its oldest attempts (one answer each);
        returns their results, to record."""
        held = self.slots[slot]
        results: list[Result] = []
        for answer in answers:
            if not held.attempts:  # a process answers only what it was sent
                break
            attempt = self._pop_head(held)
            self._measure(attempt.step, answer)
            results += answer
        if answers and held.attempts:
            self._start_head(held, self.monotonic())
        self._finished(results)
        return results

    def died(
        self, slot: int, outcome: Outcome, error: str, culprit: Attempt | None = None
    ) -> Death:
        """The process in ``slot`` is dead (report its last answers first): fail the
        attempt it was running, unless it was killed for ``culprit`` and had finished
        that; attempts it had not started go back to the buffer for another process.
        A process that died before it was ready is restarted after a growing delay, and
        if none is ready the buffer goes back to the queue, for healthy workers
        elsewhere."""
        held = self.slots[slot]
        results: list[Result] = []
        if held.attempts and (culprit is None or held.attempts[0] is culprit):
            results = self._fail_head(held, outcome, error)
        self.buffer.extendleft(reversed(self._take_all(held)))
        held.start_failures = 0 if held.state is not SlotState.STARTING else held.start_failures + 1
        delay = _respawn_delay(held.start_failures)
        held.state, held.respawn_at = SlotState.EMPTY, self.monotonic() + delay
        release: list[Task] = []
        if held.start_failures and self.ready_count() == 0:
            release = self.drain_buffer()
        self._finished(results)
        return Death(results, release, delay)

    def stopped(self, slot: int) -> list[Task]:
        """The pool, stopping, killed the process in ``slot`` (report its last answers
        first); returns the tasks it had not finished, to give back."""
        held = self.slots[slot]
        held.state = SlotState.EMPTY
        unfinished = self._take_all(held)
        self._forget(unfinished)
        return unfinished

    def drain_buffer(self) -> list[Task]:
        """Take every buffered task out (to give back), still dispatching later ones."""
        buffered = list(self.buffer)
        self.buffer.clear()
        self._forget(buffered)
        return buffered

    def holds_attempts(self, slot: int) -> bool:
        return bool(self.slots[slot].attempts)

    def busy(self) -> bool:
        """Whether some process holds an attempt."""
        return any(slot.attempts for slot in self.slots)

    # --- time ----------------------------------------------------------------------

    def tick(self, resident: Callable[[int], float]) -> list[Action]:
        """Time passed: kill attempts past their timeout or memory cap (``resident``
        gives a slot's process's resident memory in MiB), restart processes whose delay
        is over, and send what can go (batches whose wait is over, too)."""
        now = self.monotonic()
        actions: list[Action] = []
        actions += self._overruns(now, resident)
        actions += self._respawns(now)
        actions += self.dispatch()
        return actions

    def _overruns(self, now: float, resident: Callable[[int], float]) -> list[Kill]:
        check_memory = now - self._last_check >= CHECK_SECONDS
        if check_memory:
            self._last_check = now
        kills = []
        for index, held in enumerate(self.slots):
            if held.state is not SlotState.READY or not held.attempts:
                continue
            kill = self._overrun(index, held, now, resident if check_memory else None)
            if kill is not None:
                held.state = SlotState.KILLED
                kills.append(kill)
        return kills

    def _overrun(
        self, index: int, held: Slot, now: float, resident: Callable[[int], float] | None
    ) -> Kill | None:
        head = held.attempts[0]
        if now > held.deadline:
            timeout = max(task.timeout_seconds for task in head.tasks)
            error = f"timed out after {timeout:g} s; its process was killed"
            return Kill(index, head, Outcome.TIMED_OUT, error)
        cap = max(task.memory_mb for task in head.tasks)
        if not cap or resident is None:
            return None
        used = resident(index)
        if held.baseline_mib is None:
            held.baseline_mib = used
        added = max(used - held.baseline_mib, 0.0)
        if added <= cap:
            return None
        error = (
            f"exceeded the step's memory cap of {cap} MiB (it had added {added:.0f} MiB of "
            "resident memory); its process was killed"
        )
        return Kill(index, head, Outcome.OUT_OF_MEMORY, error)

    def _respawns(self, now: float) -> list[Spawn]:
        spawns = []
        for index, held in enumerate(self.slots):
            if held.state is SlotState.EMPTY and now >= held.respawn_at:
                held.state = SlotState.STARTING
                spawns.append(Spawn(index))
        return spawns

    # --- dispatching ---------------------------------------------------------------

    def dispatch(self) -> list[Send]:
        """Hand buffered attempts to ready processes: first one to each idle process,
        then quick attempts ahead to processes running quick ones (see
        :data:`QUICK_SECONDS`). Nothing new starts while the pool drains."""
        if self.draining:
            return []
        ready = [(i, s) for i, s in enumerate(self.slots) if s.state is SlotState.READY]
        sends = [self._send(i, s, 1) for i, s in ready if not s.attempts]
        sends += [
            self._send(i, s, MAX_IN_FLIGHT - len(s.attempts))
            for i, s in ready
            if s.attempts and self.quick(s.attempts[-1].tasks)
        ]
        return [send for send in sends if send.attempts]

    def _send(self, index: int, held: Slot, limit: int) -> Send:
        """Up to ``limit`` buffered attempts for one process; those that would wait
        behind another go only if quick, and within :data:`MAX_WAITING_BYTES`."""
        attempts: list[Attempt] = []
        waiting = held.waiting_bytes
        while len(attempts) < limit:
            tasks = self._next_tasks()
            if not tasks:
                break
            ahead = bool(held.attempts) or bool(attempts)  # it would wait behind another
            data = _pickled(tasks) if not ahead or self.quick(tasks) else None
            if data is not None and ahead:
                waiting += len(data)
            if data is None or waiting > MAX_WAITING_BYTES:
                self.buffer.extendleft(reversed(tasks))
                break
            attempts.append(Attempt(tasks, data))
        self._hold(held, attempts)
        return Send(index, attempts)

    def _hold(self, held: Slot, attempts: list[Attempt]) -> None:
        idle = not held.attempts
        held.attempts.extend(attempts)
        held.held_bytes += sum(len(attempt.data) for attempt in attempts)
        self._unreported.update(task.job_id for a in attempts for task in a.tasks)
        if idle and attempts:
            self._start_head(held, self.monotonic())

    def quick(self, tasks: list[Task]) -> bool:
        """Whether an attempt of these tasks' step is expected to take a moment."""
        seconds = self.step_seconds(step_of(tasks[0]))
        return seconds is not None and seconds <= QUICK_SECONDS

    def _next_tasks(self) -> list[Task]:
        """The next task, or a batch of tasks of one batch step (held back until the
        batch is full or its oldest task has waited ``batch_wait_ms``)."""
        for index, task in enumerate(self.buffer):
            limit = self.batch_limits.get(step_of(task))
            if limit is None:
                del self.buffer[index]
                return [task]
            batch = [t for t in self.buffer if step_of(t) == step_of(task)]
            if len(batch) >= limit.size or self._batch_due(task, limit):
                batch = batch[: limit.size]
                for t in batch:
                    self.buffer.remove(t)
                    self._gathering.pop(t.job_id, None)
                return batch
        return []

    def _batch_due(self, task: Task, limit: BatchLimit) -> bool:
        _, claimed_at = self._gathering.get(task.job_id, (None, 0.0))
        return self.monotonic() - claimed_at >= limit.wait_seconds

    # --- leases --------------------------------------------------------------------

    def held(self) -> list[int]:
        """Every job the pool holds a lease on: buffered, in a process, or waiting to
        be recorded."""
        ids = [task.job_id for task in self.buffer]
        ids += [t.job_id for s in self.slots for attempt in s.attempts for t in attempt.tasks]
        return ids + list(self._recording)

    def unreported_starts(self) -> list[int]:
        """Jobs sent to a process (so started) and still held, whose start the queue has
        not been told of yet."""
        return list(self._unreported)

    def reported(self, job_ids: list[int]) -> None:
        """The queue now knows these jobs started."""
        self._unreported.difference_update(job_ids)

    def recorded(self, results: list[Result]) -> None:
        """These results are recorded (or given up on): their jobs are no longer held."""
        self._recording.difference_update(result.job_id for result in results)

    # --- measuring -----------------------------------------------------------------

    def _measure(self, step: Step, results: list[Result]) -> None:
        """Update a step's average attempt duration."""
        for result in results:
            seconds = (result.ended_at - result.started_at).total_seconds()
            average = self._durations.get(step)
            if average is None or result.outcome is Outcome.SUCCEEDED or seconds > average:
                # a failure counts only when slow: one that fails fast says nothing of
                # how long the step takes when it works
                average = seconds if average is None else average
                self._durations[step] = average + DURATION_WEIGHT * (seconds - average)

    def _count(self, completed: int) -> None:
        """Update the completion rate."""
        started, seen = self._window
        seen += completed
        now = self.monotonic()
        if now - started >= RATE_WINDOW:
            self._rate = seen / (now - started)
            self._window = (now, 0)
        else:
            self._window = (started, seen)

    def _current_rate(self) -> float:
        """The completion rate, falling once completions stop for a while."""
        started, seen = self._window
        idle_for = self.monotonic() - started
        return min(self._rate, seen / idle_for) if idle_for > 1.0 else self._rate

    # --- attempts ------------------------------------------------------------------

    def _start_head(self, held: Slot, now: float) -> None:
        held.started = now
        held.baseline_mib = None
        head = held.attempts[0]
        held.deadline = now + max(_kill_after(task) for task in head.tasks)

    def _pop_head(self, held: Slot) -> Attempt:
        attempt = held.attempts.popleft()
        held.held_bytes -= len(attempt.data)
        return attempt

    def _fail_head(self, held: Slot, outcome: Outcome, error: str) -> list[Result]:
        """Results for the running attempt, which ended now with ``error``."""
        attempt = self._pop_head(held)
        ended = self.clock()
        started = ended - timedelta(seconds=self.monotonic() - held.started)
        results = [
            Result(t.job_id, t.attempt, outcome, started, ended, error=error) for t in attempt.tasks
        ]
        self._measure(attempt.step, results)
        return results

    def _take_all(self, held: Slot) -> list[Task]:
        """Take back every attempt a process holds (it is gone or being stopped)."""
        tasks = [task for attempt in held.attempts for task in attempt.tasks]
        held.attempts.clear()
        held.held_bytes = 0
        return tasks

    def _finished(self, results: list[Result]) -> None:
        ids = [result.job_id for result in results]
        self._recording.update(ids)
        self._unreported.difference_update(ids)
        self._count(len(results))

    def _forget(self, tasks: list[Task]) -> None:
        """Drop what the scheduler noted about tasks leaving the pool without a result."""
        for task in tasks:
            self._gathering.pop(task.job_id, None)
            self._unreported.discard(task.job_id)


def _pickled(tasks: list[Task]) -> bytes:
    return pickle.dumps(tasks, protocol=pickle.HIGHEST_PROTOCOL)


def _kill_after(task: Task) -> float:
    return task.timeout_seconds + KILL_SLACK


def _respawn_delay(failures: int) -> float:
    return 0.0 if failures == 0 else min(MAX_RESPAWN_DELAY, 0.25 * 2 ** (failures - 1))
