"""The S3 event format's pieces that need no catalog: how times are written."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chute.events import format_time


def test_times_are_written_in_utc_with_milliseconds() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 250_999, tzinfo=UTC)
    assert format_time(moment) == "2024-05-01T12:00:00.250Z"


def test_a_time_in_another_zone_is_written_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    assert format_time(datetime(2024, 5, 1, 14, 0, tzinfo=paris)) == "2024-05-01T12:00:00.000Z"


def test_unix_seconds_are_written_as_the_same_time() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert format_time(moment.timestamp()) == "2024-05-01T12:00:00.250Z"


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2024, 5, 1))


def test_the_event_format_loads_without_the_catalog() -> None:
    """The CLI reads event names and times from here; SQLAlchemy would slow it down."""
    code = "import sys, chute.events; print('sqlalchemy' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "False", loaded.stderr
