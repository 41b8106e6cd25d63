"""What the front ends log about requests: warnings that repeat under load are held
back, and text a client chose (keys, paths) is escaped so it cannot forge log lines."""

from __future__ import annotations

import logging
import time

#: Shortest time between two warnings of one kind (a cap hit, a database outage).
WARN_INTERVAL = 10.0


class RateLimitedWarnings:
    """Warnings of one kind at most once per ``interval``, counting those held back."""

    def __init__(self, logger: logging.Logger, interval: float = WARN_INTERVAL) -> None:
        self._log = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warn(self, kind: str, message: str, *args: object) -> bool:
        """Log ``message`` unless a ``kind`` warning went out less than ``interval`` ago;
        returns whether it was logged."""
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        if held:
            message += " (%d more like it held back over the last %.0f s)"
            args = (*args, held, now - (last or now))
        self._log.warning(message, *args)
        return True


def printable(text: str) -> str:
    """``text`` with control characters (newlines, carriage returns, escapes) written as
    Python escapes, for a log line: a key may hold them, a log line must not."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def cause(error: BaseException) -> str:
    """The first line of what ``error`` was raised from (a database's or a store's own
    words, kept from the client), or of ``error`` itself."""
    source = error.__cause__ or error
    lines = str(source).strip().splitlines()
    return printable(f"{type(source).__name__}: {lines[0] if lines else ''}")
