"""Where the rows of a CSV or NDJSON stream end, found on its raw bytes, for ``data.split``
(chunks of whole rows) and ``data.join`` (a CSV part's header line).

A row ends at a line feed outside quotes (so a CRLF row ends after its ``\\n``). NDJSON
has no quoting concern: a JSON string escapes its line breaks. In CSV, RFC 4180 doubles a
quote inside a quoted field, so an even count of ``"`` since a row started means the
position is outside quotes; the scanner keeps that parity and nothing else. It looks at
bytes with ``bytes.find`` and ``bytes.count`` over whole blocks (C speed), one block in
memory at a time; only counting rows in a run with quotes costs a Python object per
quoted field.

A quote inside an unquoted field (``ab"c``), which RFC 4180 does not allow, flips the
parity all the same; pyarrow reads it as a plain character, so such a file may be refused
here (an unterminated quote) or split inside a row that pyarrow would read as two.
"""

from __future__ import annotations

from typing import IO

from chute.errors import Reject
from chute.processors.builtin.data.options import MIB

#: Bytes read at a time.
BLOCK = 8 * MIB
#: Bytes of rows split into lines at once when finding the N-th row end: the pieces are
#: Python objects, ~33 bytes each however short the line.
LOCATE_WINDOW = 64 * 1024
NEWLINE = ord("\n")


class RowScanner:
    """A forward-only position in a stream that knows whether it is inside quotes."""

    def __init__(self, stream: IO[bytes], *, quoted: bool, block: int = BLOCK) -> None:
        self._stream = stream
        self._quoted = quoted
        self._block = block
        self._buf = b""
        self._base = 0  # stream offset of _buf[0]
        self._at = 0  # index in _buf of the position
        self._inside = False
        self._last = -1  # the last byte passed, -1 before any

    @property
    def position(self) -> int:
        """Bytes passed since the stream's start."""
        return self._base + self._at

    @property
    def inside_quotes(self) -> bool:
        """Whether the position is inside a quoted field (at the end: a quote never closed)."""
        return self._inside

    @property
    def after_line_end(self) -> bool:
        """Whether the last byte passed ends a line (false at the start)."""
        return self._last == NEWLINE

    def skip(self, count: int) -> None:
        """Moves ``count`` bytes on (or to the end), keeping the quote parity."""
        while count > 0 and self._fill():
            end = min(len(self._buf), self._at + count)
            count -= end - self._at
            self._pass(end)

    def skip_line_ends(self) -> None:
        """Moves past any ``\\r`` and ``\\n`` bytes (blank lines before a CSV header)."""
        while self._fill():
            rest = len(self._buf) - self._at
            stripped = len(self._buf[self._at :].lstrip(b"\r\n"))
            self._pass(self._at + rest - stripped)
            if stripped:
                return

    def row_end(self) -> bool:
        """Moves past the next row end; false if the stream ends first (at its end)."""
        while self._fill():
            newline = self._buf.find(b"\n", self._at)
            if newline < 0:
                self._pass(len(self._buf))
                continue
            self._pass(newline + 1)
            if not self._inside:
                return True
        return False

    def row_ends(self, rows: int, until: int) -> int:
        """Moves past ``rows`` row ends, or past the first row end at or beyond byte
        ``until`` (whichever comes first), or to the stream's end; returns the row ends
        passed."""
        passed = 0
        while passed < rows and self.position < until and self._fill():
            stop = min(len(self._buf), until - self._base)
            if not self._inside:
                passed += self._quote_free_rows(rows - passed, stop)
            if passed < rows and self._at < stop:
                passed += self._quoted_rows(rows - passed, stop)
        if passed < rows and self.position >= until and not self._at_row_end() and self.row_end():
            passed += 1
        return passed

    def _at_row_end(self) -> bool:
        return self.after_line_end and not self._inside

    def _quote_free_rows(self, wanted: int, stop: int) -> int:
        """Row ends between the position and the next quote (or ``stop``), at most
        ``wanted`` of them, passed with one ``count`` unless the last is among them."""
        quote = self._buf.find(b'"', self._at, stop) if self._quoted else -1
        end = stop if quote < 0 else quote
        found = self._buf.count(b"\n", self._at, end)
        if found < wanted:
            self._pass(end)
            return found
        self._pass(self._nth_line_end(wanted, end))
        return wanted

    def _quoted_rows(self, wanted: int, stop: int) -> int:
        """Row ends in the next window of bytes with quotes (up to ``stop``), at most
        ``wanted`` of them: counted in the window's runs outside quotes, or found a line
        at a time in the window where the last of them is."""
        end = min(stop, self._at + LOCATE_WINDOW)
        runs = self._buf[self._at : end].split(b'"')
        found = sum(run.count(b"\n") for run in runs[self._inside :: 2])
        if found < wanted:
            self._pass(end)
            return found
        passed = 0
        while passed < wanted:
            passed += self._line()
        return passed

    def _nth_line_end(self, wanted: int, end: int) -> int:
        """The index just past the ``wanted``-th line feed from the position (there are
        that many before ``end``), split into lines a window at a time."""
        start = self._at
        while True:
            window = min(end, start + LOCATE_WINDOW)
            found = self._buf.count(b"\n", start, window)
            if found >= wanted:
                rest = self._buf[start:window].split(b"\n", wanted)[-1]
                return window - len(rest)
            wanted -= found
            start = window

    def _line(self) -> int:
        """Moves past the next line feed in the block (or to its end); 1 if that ended
        a row."""
        newline = self._buf.find(b"\n", self._at)
        if newline < 0:
            self._pass(len(self._buf))
            return 0
        self._pass(newline + 1)
        return 0 if self._inside else 1

    def _pass(self, end: int) -> None:
        if end > self._at:
            if self._quoted:
                self._inside ^= self._buf.count(b'"', self._at, end) % 2 == 1
            self._last = self._buf[end - 1]
            self._at = end

    def _fill(self) -> bool:
        """Whether there are bytes at the position (reading the next block if need be)."""
        if self._at < len(self._buf):
            return True
        self._base += len(self._buf)
        self._buf = self._stream.read(self._block)
        self._at = 0
        return bool(self._buf)


def unterminated_quote(start: int) -> Reject:
    """The refusal of a CSV file with a quoted field, opened after byte ``start``, that
    never closes."""
    return Reject(f"unterminated quote: a quoted field opened after byte {start} never closes")
