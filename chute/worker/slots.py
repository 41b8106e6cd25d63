"""What the worker pool's scheduler keeps of each process slot, and the actions it asks
the pool to carry out (:mod:`chute.worker.scheduler` decides; the pool acts)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from chute.jobs import Result, Task
from chute.queue.states import Outcome

#: A step, as (pipeline, step).
Step = tuple[str, str]


def step_of(task: Task) -> Step:
    """The step a task runs."""
    return (task.pipeline, task.step)


class SlotState(Enum):
    """Where one process slot of the pool is.

    ``starting``: a process was started and has not said it is ready; nothing is sent to
    it. ``ready``: its process runs the attempts sent to it. ``killed``: its process is
    being killed (an attempt overran); nothing more is sent to it until it is reported
    dead. ``empty``: its process died; a new one is due at the slot's ``respawn_at``.
    """

    STARTING = "starting"
    READY = "ready"
    KILLED = "killed"
    EMPTY = "empty"


@dataclass(eq=False, slots=True)
class Attempt:
    """One attempt as sent to a process: one task, or a batch of tasks of one batch
    step, with its pickle (whose size bounds what waits in a pipe)."""

    tasks: list[Task]
    data: bytes

    @property
    def step(self) -> Step:
        return step_of(self.tasks[0])


@dataclass(slots=True)
class Slot:
    """The scheduler's view of one process: its state and the attempts it holds, the
    running one (the *head*) first."""

    state: SlotState = SlotState.STARTING
    attempts: deque[Attempt] = field(default_factory=deque)
    #: Bytes of every attempt held, the head's included.
    held_bytes: int = 0
    #: When the head started (monotonic seconds): when the previous answer arrived, or
    #: when it was sent to an idle process; never before it could start.
    started: float = 0.0
    deadline: float = 0.0
    #: Resident memory at the head's first check: its cap counts what it adds.
    baseline_mib: float | None = None
    #: Deaths in a row before saying ready, and when the next process is due.
    start_failures: int = 0
    respawn_at: float = 0.0

    @property
    def waiting_bytes(self) -> int:
        """Bytes of the attempts waiting behind the head: the most the process may not
        have read from its pipe yet."""
        return self.held_bytes - (len(self.attempts[0].data) if self.attempts else 0)


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``attempts`` to the process in ``slot``, in one message."""

    slot: int
    attempts: list[Attempt]

    @property
    def message(self) -> bytes:
        return b"".join(attempt.data for attempt in self.attempts)


@dataclass(frozen=True, slots=True)
class Kill:
    """Kill the process in ``slot``: its running ``attempt`` overran its timeout or
    memory cap. Once it is dead, report it with :meth:`Scheduler.died` (``outcome``,
    ``error`` and ``attempt`` as the culprit)."""

    slot: int
    attempt: Attempt
    outcome: Outcome
    error: str


@dataclass(frozen=True, slots=True)
class Spawn:
    """Start a process in ``slot`` (and report :meth:`Scheduler.ready` once it says so)."""

    slot: int


Action = Send | Kill | Spawn


@dataclass(frozen=True, slots=True)
class Death:
    """What a dead process leaves to do: record the results of the attempt it failed,
    give ``release`` back to the queue, and (``delay`` > 0) say it died starting."""

    results: list[Result]
    release: list[Task]
    delay: float
