"""The one clock: the database offset is measured again as time passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chute.clock import DatabaseClock, FakeClock


class Offsets:
    """A database whose clock runs ahead by what the test says; it can go away."""

    def __init__(self) -> None:
        self.offset = timedelta(seconds=5)
        self.calls = 0
        self.down = False

    def __call__(self) -> timedelta:
        self.calls += 1
        if self.down:
            raise ConnectionError("database unreachable")
        return self.offset


def test_the_offset_is_measured_again_after_the_interval() -> None:
    database, elapsed = Offsets(), [0.0]
    clock = DatabaseClock(database, interval=60, monotonic=lambda: elapsed[0])
    assert database.calls == 1
    assert abs(clock() - datetime.now(UTC) - timedelta(seconds=5)) < timedelta(seconds=1)
    database.offset = timedelta(seconds=-30)  # the server's clock was stepped back
    elapsed[0] = 59
    clock()
    assert database.calls == 1  # not yet
    elapsed[0] = 61
    moment = clock()
    assert database.calls == 2
    assert abs(moment - datetime.now(UTC) + timedelta(seconds=30)) < timedelta(seconds=1)


def test_a_failed_measurement_keeps_the_last_offset(caplog) -> None:
    database, elapsed = Offsets(), [0.0]
    clock = DatabaseClock(database, interval=10, monotonic=lambda: elapsed[0])
    database.down = True
    elapsed[0] = 11
    assert clock.offset == timedelta(seconds=5)
    clock()
    assert clock.offset == timedelta(seconds=5)
    assert "keeping the last offset" in caplog.text
    elapsed[0] = 15
    clock()
    assert database.calls == 2  # tried again only at the next interval


def test_a_fake_clock_moves_only_when_told() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    clock = FakeClock(start)
    assert clock() == start
    clock.advance(1.5)
    assert clock() == start + timedelta(seconds=1.5)
