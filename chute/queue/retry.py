"""When a failed attempt runs again: a policy object with an injectable clock.

Backoff is exponential with full jitter (AWS's recommendation): attempt ``n`` waits a
random time up to ``min(max_delay, base_delay * 2**(n-1))``, so retries of many jobs that
failed together spread out instead of stampeding. Tests pass a fixed ``random`` and a
fake clock, so no test ever sleeps for a backoff.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chute.clock import Clock, system_clock


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Retry at ``run_at``, or (``run_at is None``) give up: the job is dead."""

    run_at: datetime | None

    @property
    def give_up(self) -> bool:
        return self.run_at is None


#: The most times the backoff doubles.
MAX_DOUBLINGS = 64


@dataclass(frozen=True)
class RetryPolicy:
    """A step's retry settings: at most ``max_attempts`` attempts in all, waiting
    between ``0`` and ``min(max_delay, base_delay * 2**(attempt-1))`` seconds."""

    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 300.0
    jitter: bool = True
    clock: Clock = field(default=system_clock, compare=False)
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        # Doubling past 2**64 cannot matter (max_delay caps it long before) but would
        # overflow a float: a job redriven many times has a large attempt number.
        doublings = min(max(attempt - 1, 0), MAX_DOUBLINGS)
        ceiling = min(self.max_delay, self.base_delay * 2.0**doublings)
        return float(ceiling * self.rng()) if self.jitter else float(ceiling)

    def decide(
        self, attempt: int, *, delay: float | None = None, permanent: bool = False
    ) -> RetryDecision:
        """What to do after attempt ``attempt`` failed. ``delay`` is a processor's own
        ``Retry(delay)``; ``permanent`` (a ``Reject``) ends the job at once."""
        if permanent or attempt >= self.max_attempts:
            return RetryDecision(None)
        wait = self.backoff(attempt) if delay is None else max(delay, 0.0)
        return RetryDecision(self.clock() + timedelta(seconds=wait))
