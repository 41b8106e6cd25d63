"""When a failed attempt runs again: exponential backoff with full jitter, on an injected
clock and random source, so no test sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chute.queue.retry import RetryPolicy


def test_backoff_doubles_with_full_jitter_on_an_injected_clock() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    policy = RetryPolicy(
        max_attempts=4, base_delay=2, max_delay=5, clock=lambda: start, rng=lambda: 0.5
    )
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 2.5, 2.5]
    assert policy.decide(1).run_at == start + timedelta(seconds=1)
    assert policy.decide(2, delay=30).run_at == start + timedelta(seconds=30)
    assert policy.decide(4).give_up
    assert policy.decide(1, permanent=True).give_up
