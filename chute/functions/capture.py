"""An invocation's log as it is captured: bounded, so a handler that prints without end
costs neither the server's memory nor the catalog's space.

Lambda keeps all a function writes; Chute keeps the start and the end of each
invocation's log, :data:`MAX_LOG_BYTES` in all, with one line in between saying what
was cut. The end holds what matters most when something went wrong (the error, the
timeout, ``END`` and ``REPORT``), the start what the handler did first. A single line
is cut past :data:`MAX_LINE_BYTES` (the rest of it counted, not kept, until its
newline), so one endless line cannot fill either part.
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
        #: The line being written, and how many characters past the cap it has had.
        self._partial = ""
        self._partial_cut = 0

    def write(self, text: str) -> None:
        """Add output as it arrives: its whole lines, and the start of a line still
        being written (kept for the next write, within the line cap)."""
        *lines, rest = text.split("\n")
        for line in lines:
            self._hold(line)
            line, cut = self._partial, self._partial_cut
            self._partial, self._partial_cut = "", 0
            self.append(line.removesuffix("\r"), cut)
        self._hold(rest)

    def flush(self) -> None:
        """End the line being written, if any (the writer stopped without a newline)."""
        if self._partial or self._partial_cut:
            line, cut = self._partial, self._partial_cut
            self._partial, self._partial_cut = "", 0
            self.append(line, cut)

    def _hold(self, text: str) -> None:
        room = max(0, self.max_line - len(self._partial))
        if len(text) > room:
            self._partial_cut += len(text) - room
            text = text[:room]
        self._partial += text

    def append(self, line: str, cut: int = 0) -> None:
        """Add one line (without its newline); ``cut``: characters already dropped from
        its end."""
        line, size = _bounded(line, self.max_line, cut)
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


def _bounded(line: str, limit: int, cut: int = 0) -> tuple[str, int]:
    """``line`` cut to ``limit`` bytes (with a note of how much went, counting ``cut``
    characters already dropped), and its size with its newline."""
    data = line.encode("utf-8", "replace")
    if len(data) <= limit and not cut:
        return line, len(data) + 1
    kept = data[:limit].decode("utf-8", "ignore")
    dropped = len(line) - len(kept) + cut
    noted = f"{kept} [chute: {dropped} characters of this line cut]"
    return noted, len(noted.encode("utf-8")) + 1
