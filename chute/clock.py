"""Time from one place: every service reads the time through the :data:`Clock` it was
built with, so tests move time by hand instead of sleeping.

A clock is a function returning an aware UTC ``datetime``. :func:`system_clock` is this
machine's; :class:`DatabaseClock` corrects it to the database server's, because leases
and retry times written by workers on several machines are compared with each other;
:class:`FakeClock` is the one tests drive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

log = logging.getLogger(__name__)

#: A source of the current time (aware, UTC).
Clock: TypeAlias = Callable[[], datetime]
#: How often :class:`DatabaseClock` measures the database server's clock again, in
#: seconds: either clock may be stepped or drift while Chute runs.
REMEASURE_SECONDS = 60.0


def system_clock() -> datetime:
    """This machine's clock."""
    return datetime.now(UTC)


class DatabaseClock:
    """This machine's clock plus the database server's offset from it, measured with
    ``measure`` at start and again every ``interval`` seconds.

    A measurement that fails keeps the offset last measured (and is tried again at the
    next interval): telling the time never fails because the database is unreachable.
    """

    def __init__(
        self,
        measure: Callable[[], timedelta],
        interval: float = REMEASURE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._measure = measure
        self._interval = interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.offset = measure()
        self._measured_at = monotonic()

    def __call__(self) -> datetime:
        if self._monotonic() - self._measured_at >= self._interval:
            self._remeasure()
        return datetime.now(UTC) + self.offset

    def _remeasure(self) -> None:
        # One thread measures; the others carry on with the offset they have.
        if not self._lock.acquire(blocking=False):
            return
        try:
            self.offset = self._measure()
        except Exception:
            log.warning("measuring the database clock failed; keeping the last offset")
        finally:
            self._measured_at = self._monotonic()
            self._lock.release()


class FakeClock:
    """A clock tests move by hand; it starts at ``start`` (default: now)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or system_clock()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward."""
        self.now += timedelta(seconds=seconds)
