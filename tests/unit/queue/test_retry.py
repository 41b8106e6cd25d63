"""When a failed attempt runs again: exponential backoff with full jitter, on an injected
clock and random source, so no test sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chute.clock import FakeClock
from chute.queue.retry import RetryDecision, RetryPolicy


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


START = datetime(2026, 1, 1, tzinfo=UTC)


def _no_random() -> float:
    raise AssertionError("the random source was consulted")


def test_without_jitter_the_wait_doubles_from_the_base_delay() -> None:
    policy = RetryPolicy(base_delay=1.5, max_delay=1000, jitter=False, rng=_no_random)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5)] == [1.5, 3.0, 6.0, 12.0, 24.0]


def test_max_delay_caps_the_wait() -> None:
    policy = RetryPolicy(base_delay=10, max_delay=25, jitter=False)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 10)] == [10.0, 20.0, 25.0, 25.0, 25.0]


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999999])
def test_full_jitter_waits_the_draw_times_the_ceiling(draw: float) -> None:
    policy = RetryPolicy(base_delay=2, max_delay=300, rng=lambda: draw)
    ceiling = 8.0  # 2 * 2**(3-1)
    wait = policy.backoff(3)
    assert wait == pytest.approx(ceiling * draw)
    assert 0 <= wait < ceiling


def test_jitter_stays_under_the_capped_ceiling() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=5, rng=lambda: 0.999999)
    assert 4.99 < policy.backoff(20) < 5


def test_a_retry_runs_the_backoff_after_the_clock_at_decision_time() -> None:
    clock = FakeClock(START)
    policy = RetryPolicy(max_attempts=5, base_delay=4, jitter=False, clock=clock)
    assert policy.decide(2) == RetryDecision(START + timedelta(seconds=8))
    clock.advance(100)
    assert policy.decide(2).run_at == START + timedelta(seconds=108)
    assert not policy.decide(2).give_up


def test_an_explicit_delay_replaces_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=5, clock=lambda: START, rng=_no_random)
    assert policy.decide(1, delay=7.5).run_at == START + timedelta(seconds=7.5)
    assert policy.decide(3, delay=0).run_at == START


def test_a_negative_delay_means_now() -> None:
    policy = RetryPolicy(max_attempts=5, clock=lambda: START)
    assert policy.decide(1, delay=-30).run_at == START


@pytest.mark.parametrize("max_attempts", [1, 2, 3, 8])
def test_the_last_attempt_gives_up(max_attempts: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts, clock=lambda: START, rng=lambda: 0.5)
    retried = [not policy.decide(n).give_up for n in range(1, max_attempts + 2)]
    assert retried == [True] * (max_attempts - 1) + [False, False]
    last = policy.decide(max_attempts)
    assert last == RetryDecision(None)
    assert last.give_up


def test_an_explicit_delay_does_not_buy_an_attempt_past_the_last() -> None:
    policy = RetryPolicy(max_attempts=3, clock=lambda: START)
    assert policy.decide(3, delay=1).give_up


def test_a_permanent_failure_gives_up_at_once() -> None:
    policy = RetryPolicy(max_attempts=10, clock=lambda: START, rng=_no_random)
    assert policy.decide(1, permanent=True).give_up
    assert policy.decide(1, delay=5, permanent=True).give_up


def test_the_wait_stays_capped_however_many_attempts_a_job_had() -> None:
    """A redrive gives a dead job fresh attempts on top of those it had (its
    ``max_attempts`` becomes ``attempt + allowance``), so attempt numbers keep growing."""
    policy = RetryPolicy(max_attempts=5000, base_delay=1, max_delay=300, jitter=False)
    assert policy.backoff(1100) == 300.0
    decision = RetryPolicy(max_attempts=5000, clock=lambda: START, rng=lambda: 0.5).decide(1100)
    assert decision.run_at == START + timedelta(seconds=150)
