"""An invocation's log as it is captured: bounded, so a handler that prints without end
costs neither the server's memory nor the catalog's space.

Lambda keeps all a function writes; Chute keeps the start and the end of each
invocation's log, :data:`MAX_LOG_BYTES` in all, with one line in between saying what
was cut. The end holds what matters most when something went wrong (the error, the
timeout, ``END`` and ``REPORT``), the start what the handler did first. A single line
is cut past :data:`MAX_LINE_BYTES`, so one endless line cannot fill either part.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

#: Most bytes (UTF-8, a newline per line) an invocation's log keeps, the marker aside.
MAX_LOG_BYTES = 256 * 1024
#: Of which the end of the log keeps this much.
TAIL_BYTES = 64 * 1024
#: Longest line kept whole.
MAX_LINE_BYTES = 16 * 1024


class LogCapture:
    """The lines of one invocation's log: the first ones while they fit in the head's
    share of the limit, then the latest ones within the tail's."""

    def __init__(
        self,
        limit: int = MAX_LOG_BYTES,
        tail: int = TAIL_BYTES,
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        self.limit = limit
        self.max_line = max_line
        self._head: list[str] = []
        self._head_room = limit - tail
        self._tail: deque[tuple[str, int]] = deque()
        self._tail_bytes = 0
        self._tail_limit = tail
        #: Lines and bytes dropped between the head and the tail.
        self.cut_lines = 0
        self.cut_bytes = 0

    def append(self, line: str) -> None:
        """Add one line (without its newline)."""
        line, size = _bounded(line, self.max_line)
        # Once a line missed the head, the head is closed: lines stay in order.
        if not self._tail and size <= self._head_room:
            self._head.append(line)
            self._head_room -= size
            return
        self._tail.append((line, size))
        self._tail_bytes += size
        while self._tail_bytes > self._tail_limit:
            _, dropped = self._tail.popleft()
            self._tail_bytes -= dropped
            self.cut_lines += 1
            self.cut_bytes += dropped

    def extend(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.append(line)

    @property
    def truncated(self) -> bool:
        """Whether lines were dropped."""
        return self.cut_lines > 0

    def lines(self) -> list[str]:
        """The log kept, with a marker line where lines were dropped."""
        marker = []
        if self.truncated:
            marker = [
                f"[chute: {self.cut_lines} lines ({self.cut_bytes} bytes) cut here: an "
                f"invocation's log is kept to {self.limit // 1024} KiB]"
            ]
        return [*self._head, *marker, *(line for line, _ in self._tail)]


def _bounded(line: str, limit: int) -> tuple[str, int]:
    """``line`` cut to ``limit`` bytes (with a note of how much went), and its size."""
    data = line.encode("utf-8", "replace")
    if len(data) <= limit:
        return line, len(data) + 1
    kept = data[:limit].decode("utf-8", "ignore")
    cut = f"{kept} [chute: {len(data) - limit} bytes of this line cut]"
    return cut, len(cut.encode("utf-8")) + 1
