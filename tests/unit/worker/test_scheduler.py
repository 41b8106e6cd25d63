"""The worker pool's scheduler, driven by hand: fake processes that run the attempts it
sends, a fake clock, no sleeping. What it claims (slow jobs only for idle processes,
quick ones many ahead), what it sends where (quick attempts ahead, slow ones one at a
time, batches once full or due), attempts that overrun, restarts after deaths, and the
jobs it reports held and started."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from chute.clock import FakeClock
from chute.jobs import BatchLimit, Result, SourceObject, Task
from chute.queue.states import Outcome
from chute.worker.scheduler import (
    LOOKAHEAD,
    MAX_BUFFER,
    MAX_WAITING_BYTES,
    Action,
    Attempt,
    Kill,
    Scheduler,
    Send,
    Spawn,
)

SOURCE = SourceObject("inbox", "x", "v1", 4, "etag", "sha", "text/plain")
BATCH = ("p", "batch")


class Clocks:
    """A fake monotonic clock and a fake wall clock, moved together."""

    def __init__(self) -> None:
        self.seconds = 1000.0
        self.wall = FakeClock()

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.wall.advance(seconds)


@dataclass
class FakePool:
    """Carries out the scheduler's actions on fake processes: each holds the attempts
    sent to it and runs them in order when the test says so."""

    scheduler: Scheduler
    clocks: Clocks
    processes: list[deque[Attempt]] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    spawns: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.processes = [deque() for _ in self.scheduler.slots]

    def carry_out(self, actions: list[Action] | list[Send]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.processes[action.slot].extend(action.attempts)
            elif isinstance(action, Kill):
                self.kills.append(action)
            elif isinstance(action, Spawn):
                self.spawns.append(action.slot)

    def claim(self, tasks: list[Task]) -> None:
        self.carry_out(self.scheduler.claimed(tasks))

    def tick(self, memory: dict[int, float] | None = None) -> None:
        self.carry_out(self.scheduler.tick(lambda slot: (memory or {}).get(slot, 0.0)))

    def run(self, slot: int, seconds: float, meanwhile: bool = False) -> list[Result]:
        """The process in ``slot`` takes ``seconds`` over its oldest attempt and answers
        (``meanwhile``: it ran while the clock moved for another process)."""
        if not meanwhile:
            self.clocks.advance(seconds)
        attempt = self.processes[slot].popleft()
        ended = self.clocks.wall()
        started = ended - timedelta(seconds=seconds)
        answer = [
            Result(t.job_id, t.attempt, Outcome.SUCCEEDED, started, ended) for t in attempt.tasks
        ]
        return self.scheduler.answered(slot, [answer])

    def sent(self, slot: int) -> list[list[int]]:
        """The job ids of each attempt the process in ``slot`` holds."""
        return [[t.job_id for t in attempt.tasks] for attempt in self.processes[slot]]


_ids = iter(range(1, 1_000_000))


def _task(step: str = "slow", timeout: float = 60.0, memory_mb: int = 0, inline: bytes = b""):
    """A task of pipeline ``p``'s ``step``; a new job each time."""
    return Task(
        job_id=next(_ids),
        attempt=1,
        kind="step",
        pipeline="p",
        step=step,
        processor="noop",
        options={},
        output_template="{key}",
        timeout_seconds=timeout,
        memory_mb=memory_mb,
        source=SOURCE,
        event_json="{}",
        location=None,
        inline=inline,
    )


def _tasks(count: int, step: str = "slow", **extra):
    return [_task(step, **extra) for _ in range(count)]


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def _pool(clocks: Clocks, size: int = 2, prefetch: int = 4, ready: bool = True) -> FakePool:
    limits = {BATCH: BatchLimit(4, 0.2)}
    scheduler = Scheduler(size, prefetch, limits, clock=clocks.wall, monotonic=clocks)
    if ready:
        for slot in range(size):
            scheduler.ready(slot)
    return FakePool(scheduler, clocks)


def _warm(pool: FakePool, step: str, seconds: float) -> None:
    """Run one attempt of ``step`` taking ``seconds`` on each process, so its duration
    is known and the latest claim was of it."""
    pool.claim(_tasks(len(pool.processes), step))
    for slot in range(len(pool.processes)):
        pool.run(slot, seconds, meanwhile=slot > 0)


# --- what it claims ------------------------------------------------------------------


def test_nothing_is_claimed_before_a_process_is_ready(clocks):
    pool = _pool(clocks, ready=False)
    assert pool.scheduler.claim_size() == 0
    pool.scheduler.ready(0)
    assert pool.scheduler.claim_size() == 1


def test_jobs_of_unknown_steps_are_claimed_only_for_idle_processes(clocks):
    pool = _pool(clocks)
    assert pool.scheduler.claim_size() == 2
    pool.claim(_tasks(2, "new"))
    assert pool.scheduler.claim_size() == 0


def test_slow_jobs_are_claimed_one_per_process_that_comes_free(clocks):
    pool = _pool(clocks)
    _warm(pool, "slow", 4.0)
    pool.claim(_tasks(2, "slow"))
    assert pool.scheduler.claim_size() == 0  # both busy: nothing more is hoarded
    pool.run(0, 4.0)
    assert pool.scheduler.claim_size() == 1


def test_quick_jobs_fill_a_deep_buffer(clocks):
    pool = _pool(clocks)
    _warm(pool, "quick", 0.0001)
    assert pool.scheduler.claim_size() == MAX_BUFFER


def test_middling_jobs_buffer_about_the_lookahead_per_process(clocks):
    pool = _pool(clocks)
    _warm(pool, "middling", 0.0625)
    assert pool.scheduler.claim_size() == 2 + int(2 * LOOKAHEAD / 0.0625)


@pytest.mark.parametrize(("seconds", "ahead"), [(0.0625, 0), (0.0001, 2 * 4)])
def test_the_completion_rate_caps_the_buffer(clocks, seconds, ahead):
    pool = _pool(clocks)
    _warm(pool, "step", seconds)
    clocks.advance(1.0)  # two completions in a second: a rate of 2 /s
    pool.scheduler.collected([])
    # but a quick step keeps at least prefetch per process
    assert pool.scheduler.claim_size() == 2 + ahead


def test_a_claim_with_a_step_of_unknown_duration_buffers_nothing_ahead(clocks):
    pool = _pool(clocks)
    _warm(pool, "quick", 0.0001)
    pool.claim([*_tasks(3, "quick"), _task("new")])
    assert pool.scheduler.ahead() == 0


def test_a_buffer_over_half_its_target_claims_nothing(clocks):
    pool = _pool(clocks, size=1)
    _warm(pool, "middling", 0.0625)  # the target: 4 ahead of the one running
    pool.claim(_tasks(4, "middling"))  # one runs, three wait
    assert pool.scheduler.claim_size() == 0
    pool.run(0, 0.0625)
    pool.tick()
    assert len(pool.scheduler.buffer) == 2
    assert pool.scheduler.claim_size() == 4 - 2


def test_a_batch_being_gathered_claims_room_for_the_whole_batch(clocks):
    pool = _pool(clocks, size=1)
    pool.claim(_tasks(1, "batch"))
    assert pool.sent(0) == []
    assert pool.scheduler.claim_size() == 1 + 4 - 1


def test_draining_claims_and_starts_nothing_and_gives_the_buffer_back(clocks):
    pool = _pool(clocks, size=1)
    pool.claim(_tasks(3, "slow"))
    assert [len(a) for a in pool.sent(0)] == [1]
    assert len(pool.scheduler.drain()) == 2
    pool.run(0, 1.0)
    pool.tick()
    assert pool.sent(0) == []
    assert pool.scheduler.claim_size() == 0


# --- what it sends where -----------------------------------------------------------------


def test_slow_attempts_go_one_at_a_time_to_a_free_process(clocks):
    pool = _pool(clocks)
    first, second, third = _tasks(3, "slow")
    pool.claim([first, second, third])
    assert (pool.sent(0), pool.sent(1)) == ([[first.job_id]], [[second.job_id]])
    pool.tick()
    assert pool.sent(0) == [[first.job_id]]  # the third waits for a free process
    pool.run(1, 2.0)
    pool.tick()
    assert pool.sent(1) == [[third.job_id]]


def test_quick_attempts_are_sent_ahead_behind_a_quick_one(clocks):
    pool = _pool(clocks, size=1)
    _warm(pool, "quick", 0.0001)
    tasks = _tasks(5, "quick")
    pool.claim(tasks)
    assert pool.sent(0) == [[t.job_id] for t in tasks]


def test_nothing_is_sent_ahead_behind_a_slow_attempt(clocks):
    pool = _pool(clocks, size=1)
    _warm(pool, "quick", 0.0001)
    slow, quick = _task("slow"), _task("quick")
    pool.claim([slow, quick])
    assert pool.sent(0) == [[slow.job_id]]


def test_attempts_sent_ahead_stay_within_what_a_pipe_holds(clocks):
    pool = _pool(clocks, size=1)
    _warm(pool, "quick", 0.0001)
    big = _tasks(6, "quick", inline=b"x" * 20_000)
    pool.claim(big)
    held = len(pool.sent(0))
    assert 1 < held < 6
    waiting = sum(len(a.data) for a in list(pool.processes[0])[1:])
    assert waiting <= MAX_WAITING_BYTES


def test_a_batch_goes_once_full(clocks):
    pool = _pool(clocks, size=1)
    batch = _tasks(4, "batch")
    pool.claim(batch[:2])
    assert pool.sent(0) == []
    pool.claim(batch[2:])
    assert pool.sent(0) == [[t.job_id for t in batch]]


def test_a_batch_that_does_not_fill_goes_once_its_wait_is_over(clocks):
    pool = _pool(clocks, size=1)
    batch = _tasks(2, "batch")
    pool.claim(batch)
    clocks.advance(0.1)
    pool.tick()
    assert pool.sent(0) == []
    clocks.advance(0.1)
    pool.tick()
    assert pool.sent(0) == [[t.job_id for t in batch]]


# --- overruns and deaths -----------------------------------------------------------------


def test_an_attempt_past_its_timeout_is_killed_and_fails(clocks):
    pool = _pool(clocks, size=1)
    _warm(pool, "quick", 0.0001)
    hung, after = _task("quick", timeout=1.0), _task("quick")
    pool.claim([hung, after])
    clocks.advance(1.0)
    pool.tick()
    assert pool.kills == []  # not yet past the timeout and its slack
    clocks.advance(0.1)
    pool.tick()
    (kill,) = pool.kills
    assert (kill.slot, kill.outcome) == (0, Outcome.TIMED_OUT)
    assert kill.error == "timed out after 1 s; its process was killed"
    pool.tick()
    assert len(pool.kills) == 1  # killed once
    death = pool.scheduler.died(0, kill.outcome, kill.error, kill.attempt)
    assert [(r.job_id, r.outcome) for r in death.results] == [(hung.job_id, Outcome.TIMED_OUT)]
    assert [t.job_id for t in pool.scheduler.buffer] == [after.job_id]  # for another process
    assert death.delay == 0
    pool.tick()
    assert pool.spawns == [0]


def test_a_killed_attempt_that_had_answered_fails_nothing(clocks):
    pool = _pool(clocks, size=1)
    task = _task("slow", timeout=1.0)
    pool.claim([task])
    clocks.advance(2.0)
    pool.tick()
    (kill,) = pool.kills
    pool.run(0, 0.0)  # the answer was in the pipe already
    death = pool.scheduler.died(0, kill.outcome, kill.error, kill.attempt)
    assert death.results == []


def test_an_attempt_over_its_memory_cap_is_killed(clocks):
    pool = _pool(clocks, size=1)
    pool.claim([_task("slow", memory_mb=100)])
    pool.tick({0: 300.0})  # the baseline: what the process held before
    clocks.advance(0.1)
    pool.tick({0: 390.0})
    assert pool.kills == []
    clocks.advance(0.1)
    pool.tick({0: 401.0})
    (kill,) = pool.kills
    assert kill.outcome is Outcome.OUT_OF_MEMORY
    assert "memory cap of 100 MiB (it had added 101 MiB" in kill.error


def test_a_crash_fails_the_running_attempt_and_hands_back_the_rest(clocks):
    pool = _pool(clocks, size=1)
    _warm(pool, "quick", 0.0001)
    tasks = _tasks(3, "quick")
    pool.claim(tasks)
    pool.run(0, 0.0001)
    death = pool.scheduler.died(0, Outcome.CRASHED, "died of SIGSEGV")
    assert [r.job_id for r in death.results] == [tasks[1].job_id]
    assert [t.job_id for t in pool.scheduler.buffer] == [tasks[2].job_id]


def test_a_process_that_dies_starting_is_restarted_after_a_growing_delay(clocks):
    pool = _pool(clocks, size=1, ready=False)
    delays = []
    for _ in range(4):
        death = pool.scheduler.died(0, Outcome.CRASHED, "exited with status 1")
        delays.append(death.delay)
        clocks.advance(death.delay - 0.01)
        pool.tick()
        assert pool.spawns == [0] * (len(delays) - 1)
        clocks.advance(0.01)
        pool.tick()
    assert delays == [0.25, 0.5, 1.0, 2.0]
    pool.scheduler.ready(0)
    death = pool.scheduler.died(0, Outcome.CRASHED, "died of SIGKILL")
    assert death.delay == 0  # it had started: no longer a start-up failure


def test_the_buffer_goes_back_when_no_process_can_start(clocks):
    pool = _pool(clocks, size=1)
    pool.claim(_tasks(1, "batch"))  # held back, waiting for a batch
    pool.scheduler.died(0, Outcome.CRASHED, "died of SIGKILL")
    pool.tick()
    death = pool.scheduler.died(0, Outcome.CRASHED, "exited with status 1")
    assert len(death.release) == 1
    assert pool.scheduler.buffer == deque()


# --- leases ------------------------------------------------------------------------------


def test_held_jobs_and_started_ones(clocks):
    pool = _pool(clocks, size=1)
    running, waiting = _tasks(2, "slow")
    pool.claim([running, waiting])
    assert sorted(pool.scheduler.held()) == sorted([running.job_id, waiting.job_id])
    assert pool.scheduler.unreported_starts() == [running.job_id]
    pool.scheduler.reported([running.job_id])
    assert pool.scheduler.unreported_starts() == []
    (result,) = pool.run(0, 1.0)
    pool.tick()
    # the answered job is held until recorded; the next one has started
    assert sorted(pool.scheduler.held()) == sorted([running.job_id, waiting.job_id])
    assert pool.scheduler.unreported_starts() == [waiting.job_id]
    pool.scheduler.recorded([result])
    assert pool.scheduler.held() == [waiting.job_id]
