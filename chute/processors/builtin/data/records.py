"""The records of a CSV, JSON or NDJSON file, read for ``data.validate`` and
``data.convert``.

Records are read in bounded memory, one at a time (a JSON document, which cannot be
streamed without a dependency, is read whole up to ``max_json_bytes``). Parsed JSON takes
up to ~100 bytes of memory per value however short its text (``{},`` is three bytes), so an
NDJSON line or JSON document with more than ``max_json_values`` values is refused before it
is parsed.

Row numbers, the same in reports and in ``Reject`` reasons:

- CSV: the record's position in the file counting the header as row 1, so the first data
  row is row 2. Blank lines are skipped and not counted, so the row number is the line
  number unless blank lines or quoted line breaks come before it (pyarrow, which
  ``data.convert`` uses, numbers rows the same way).
- NDJSON: the line number (blank lines are skipped but counted).
- JSON: a top-level array's index + 1; any other document is one record, row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, AnyStr

from chute.errors import Reject
from chute.processors.base import CHUNK, Context
from chute.processors.builtin.data.options import ReadLimits

#: Longest error message kept: messages quote values, and a value may be megabytes long.
MESSAGE_CHARS = 300
TOO_DEEP = "nested too deeply"
#: Memory one parsed JSON value takes at most, about (a one-member object, ~200 bytes,
#: counts as two values: itself and its member).
VALUE_BYTES = 100


@dataclass(frozen=True, slots=True)
class Record:
    """One record of a data file (see the module docstring for ``row``), or why that row
    could not be read."""

    row: int
    value: Any = None
    error: str | None = None
    #: Memory the value takes, about (estimated from an NDJSON line's text; 0 where unknown).
    cost: int = 0


def read_records(ctx: Context, fmt: str, limits: ReadLimits) -> Iterator[Record]:
    """The source's records, one at a time. Problems with one row (a ragged CSV row, a
    broken NDJSON line, a record nested too deeply) come as records with an ``error``;
    problems with the file raise :class:`Reject`."""
    readers = {"csv": _csv_records, "json": _json_records, "ndjson": _ndjson_records}
    return readers[fmt](ctx, limits)


def _csv_records(ctx: Context, limits: ReadLimits) -> Iterator[Record]:
    # The limit is process-wide: concurrent steps with different limits share the last one.
    csv.field_size_limit(limits.max_field_bytes)
    try:
        with io.TextIOWrapper(ctx.open(), encoding="utf-8-sig", newline="") as text:
            yield from _csv_rows(_lines(text, limits.max_row_bytes), limits)
    except UnicodeDecodeError:
        raise Reject(utf8_problem(ctx)) from None


def _lines(stream: IO[AnyStr], limit: int) -> Iterator[AnyStr]:
    """The stream's lines, rejecting one longer than ``limit`` before it is all read."""
    number = 0
    while line := stream.readline(limit + 1):
        number += 1
        if len(line) > limit:
            raise Reject(f"line {number} is longer than max_row_bytes ({limit})")
        yield line


def _csv_rows(lines: Iterator[str], limits: ReadLimits) -> Iterator[Record]:
    reader = csv.reader(lines)
    header = _next_csv_row(reader, 1, limits)
    if header is None:
        raise Reject("empty file: no CSV header")
    row = 1
    while (cells := _next_csv_row(reader, row + 1, limits)) is not None:
        row += 1
        yield _csv_record(row, header, cells)


def _next_csv_row(reader: Iterator[list[str]], row: int, limits: ReadLimits) -> list[str] | None:
    try:
        return next((cells for cells in reader if cells), None)
    except csv.Error as exc:
        problem = str(exc)
        if "field limit" in problem:
            problem = f"a field is larger than max_field_bytes ({limits.max_field_bytes})"
        raise Reject(f"CSV row {row}: {problem}") from None


def _csv_record(row: int, header: list[str], cells: list[str]) -> Record:
    if len(cells) != len(header):
        return Record(row, error=f"row has {len(cells)} cells, the header has {len(header)}")
    return Record(row, dict(zip(header, cells, strict=True)))


def _ndjson_records(ctx: Context, limits: ReadLimits) -> Iterator[Record]:
    empty = True
    with ctx.open() as stream:
        for number, line in enumerate(_lines(stream, limits.max_row_bytes), start=1):
            if line.strip():
                empty = False
                yield _ndjson_record(number, line, limits)
    if empty:
        raise Reject("empty file: no NDJSON records")


def _ndjson_record(row: int, line: bytes, limits: ReadLimits) -> Record:
    if _too_many_values(line, limits.max_json_values):
        return Record(
            row,
            error=f"more than max_json_values ({limits.max_json_values}) values: raise it, "
            "and the step's memory_mb, to read the line",
        )
    try:
        value = json.loads(line.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return Record(row, error=f"invalid UTF-8 at byte {exc.start} of the line")
    except json.JSONDecodeError as exc:
        return Record(row, error=f"not valid JSON: {exc.msg} (column {exc.colno})")
    except RecursionError:
        return Record(row, error=TOO_DEEP)
    cost = len(line) + VALUE_BYTES * _value_bound(line)
    if line.count(b"{") + line.count(b"[") <= limits.max_depth:  # too few to nest deeper
        return Record(row, value, cost=cost)
    return _depth_checked(row, value, limits.max_depth, cost)


def _json_records(ctx: Context, limits: ReadLimits) -> Iterator[Record]:
    document = _load_json(ctx, limits)
    items = document if isinstance(document, list) else [document]
    for row, value in enumerate(items, start=1):
        yield _depth_checked(row, value, limits.max_depth)


def _load_json(ctx: Context, limits: ReadLimits) -> Any:
    with ctx.open() as stream:
        data = stream.read(limits.max_json_bytes + 1)
    if len(data) > limits.max_json_bytes:
        raise Reject(
            f"the JSON document is larger than max_json_bytes ({limits.max_json_bytes}): "
            "write large data as NDJSON (one record per line), which is read as a stream"
        )
    if not data.strip():
        raise Reject("empty file: no JSON document")
    if _too_many_values(data, limits.max_json_values):
        raise Reject(
            f"the JSON document has more than max_json_values ({limits.max_json_values}) "
            "values: write large data as NDJSON (one record per line), which is read as a stream"
        )
    try:
        return json.loads(data.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError as exc:
        raise Reject(_utf8_message(exc.start, data.count(b"\n", 0, exc.start) + 1)) from None
    except json.JSONDecodeError as exc:
        raise Reject(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Reject(f"the JSON document is {TOO_DEEP} to parse") from None


def _depth_checked(row: int, value: Any, limit: int, cost: int = 0) -> Record:
    if deeper_than(value, limit):
        return Record(row, error=f"{TOO_DEEP}: more than max_depth ({limit}) levels")
    return Record(row, value, cost=cost)


def _value_bound(text: bytes) -> int:
    """At least as many as the values JSON ``text`` holds, counted without parsing it:
    one for each comma and opening bracket, plus one (those inside strings count too)."""
    return text.count(b",") + text.count(b"{") + text.count(b"[") + 1


def _too_many_values(text: bytes, limit: int) -> bool:
    """Whether JSON ``text`` holds more than ``limit`` values, counted without parsing it.
    Only text whose :func:`_value_bound` is over the limit is counted again without the
    commas and brackets inside its strings, so that long strings refuse nothing."""
    return _value_bound(text) > limit and _values_outside_strings(text) > limit


def _values_outside_strings(text: bytes) -> int:
    """:func:`_value_bound` of JSON ``text`` without its strings, taken a window at a
    time: split whole, a line of millions of short strings would become millions of
    objects."""
    text = text.replace(b"\\\\", b"").replace(b'\\"', b"")  # the quotes left open or close strings
    values, quoted = 1, False
    for start in range(0, len(text), CHUNK):
        parts = text[start : start + CHUNK].split(b'"')
        outside = b"".join(parts[quoted::2])
        values += outside.count(b",") + outside.count(b"{") + outside.count(b"[")
        quoted = quoted != (len(parts) % 2 == 0)  # an odd number of quotes
    return values


def deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels in ``value`` (walked
    without recursion, so any depth is safe to measure)."""
    containers = (dict, list)
    stack = [(value, 0)] if isinstance(value, containers) else []
    while stack:
        item, depth = stack.pop()
        if depth >= limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, containers))
    return False


def utf8_problem(ctx: Context) -> str:
    """Where the source's first invalid UTF-8 is, as a ``Reject`` reason (re-reads it)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with ctx.open() as stream:
        while chunk := stream.read(CHUNK):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                start = exc.start - pending
                return _utf8_message(offset + start, line + chunk.count(b"\n", 0, max(start, 0)))
            offset, line = offset + len(chunk), line + chunk.count(b"\n")
    pending = len(decoder.getstate()[0])  # a sequence cut short by the end of the file
    return _utf8_message(offset - pending, line) if pending else "the file is not UTF-8"


def _utf8_message(offset: int, line: int) -> str:
    return f"invalid UTF-8 at byte offset {offset} (line {line}): the file must be UTF-8"


def shorten(message: str) -> str:
    """``message`` cut to :data:`MESSAGE_CHARS` (they quote values, which may be huge)."""
    return message if len(message) <= MESSAGE_CHARS else message[: MESSAGE_CHARS - 3] + "..."
