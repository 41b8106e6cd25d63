"""``data.validate``: check the records of a CSV, JSON or NDJSON file against a schema.

Records are read in bounded memory, one at a time (a JSON document, which cannot be
streamed without a dependency, is read whole up to ``max_json_bytes``). Parsed JSON takes
up to ~100 bytes of memory per value however short its text (``{},`` is three bytes), so an
NDJSON line or JSON document with more than ``max_json_values`` values is refused before it
is parsed. The readers here are shared with ``data.convert``
(:mod:`chute.processors.builtin.data_convert`).

Row numbers, the same in reports and in ``Reject`` reasons:

- CSV: the record's position in the file counting the header as row 1, so the first data
  row is row 2. Blank lines are skipped and not counted, so the row number is the line
  number unless blank lines or quoted line breaks come before it (pyarrow, which
  ``data.convert`` uses, numbers rows the same way).
- NDJSON: the line number (blank lines are skipped but counted).
- JSON: a top-level array's index + 1; any other document is one record, row 1.

A CSV cell is a string. With a column schema it is converted to the column's type; with a
JSON Schema it is converted guided by the types the schema declares for that top-level
property (``properties.<name>.type``): a property whose types include ``"string"``, or
that declares none, keeps the text; otherwise an empty cell is null if ``"null"`` is
allowed and missing if not, and other text becomes the first of integer, number, boolean
it parses as (else it stays text and the schema reports the type error).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any, AnyStr, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chute.errors import Reject
from chute.processors.base import CHUNK, Context
from chute.processors.registry import processor

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

MIB = 1024 * 1024
#: Longest error message kept: messages quote values, and a value may be megabytes long.
MESSAGE_CHARS = 300
#: Errors copied into ``ctx.report`` (the output report lists up to ``max_errors``).
SUMMARY_ERRORS = 10
RECORD_FORMATS = ("csv", "json", "ndjson")
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
}
CONTENT_TYPE_FORMATS = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
TOO_DEEP = "nested too deeply"
#: Memory one parsed JSON value takes at most, about (a one-member object, ~200 bytes,
#: counts as two values: itself and its member).
VALUE_BYTES = 100

# --- options -------------------------------------------------------------------------


class ReadLimits(BaseModel):
    """Bounds on what a data processor reads, so hostile input fails with a clear reason
    instead of exhausting memory or the stack."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Largest CSV field (the csv module counts characters, pyarrow bytes).
    max_field_bytes: int = Field(default=16 * MIB, ge=1)
    #: Largest CSV or NDJSON line; for ``data.convert``, the largest CSV row sure to be
    #: read (pyarrow reads in blocks, of this size once a row is over 1 MiB).
    max_row_bytes: int = Field(default=64 * MIB, ge=1)
    #: Largest JSON document, which is parsed whole (use NDJSON for more).
    max_json_bytes: int = Field(default=64 * MIB, ge=1)
    #: Deepest nesting of objects and arrays in a record (past ~200 Python recurses
    #: too deeply to parse or validate it).
    max_depth: int = Field(default=64, ge=1, le=200)
    #: Most values (objects, arrays, strings, numbers...) in one NDJSON line or JSON
    #: document: parsed, each takes up to ~100 bytes, so the default bounds a parse to
    #: ~400 MB whatever the text's size.
    max_json_values: int = Field(default=4_000_000, ge=1)


ColumnType = Literal["string", "integer", "number", "boolean", "date", "datetime"]


class Column(BaseModel):
    """One column of a column schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: ColumnType = "string"
    #: A missing value (absent, null, or an empty CSV cell) is an error.
    required: bool = False
    #: A regular expression the text must contain a match of (``re.search``, as in JSON
    #: Schema); applies to CSV cells and JSON strings.
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class ValidateOptions(ReadLimits):
    """Options of ``data.validate``: a schema (JSON Schema or columns, exactly one) and
    what to do about invalid rows."""

    format: Literal["auto", "csv", "json", "ndjson"] = "auto"
    #: A JSON Schema (Draft 2020-12 unless its ``$schema`` names another draft).
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    columns: list[Column] | None = None
    #: ``fail``: reject the file (no output); ``report``: pass and write a JSON report.
    on_invalid: Literal["fail", "report"] = "fail"
    #: Errors listed in the report (all are counted).
    max_errors: int = Field(default=100, ge=0)

    @model_validator(mode="after")
    def _one_schema(self) -> Self:
        if (self.json_schema is None) == (self.columns is None):
            raise ValueError("give exactly one of schema (a JSON Schema) and columns")
        if self.json_schema is not None:
            _check_json_schema(self.json_schema)
        names = [column.name for column in self.columns or ()]
        if len(set(names)) != len(names):
            raise ValueError("columns: each name may appear once")
        return self


def _check_json_schema(schema: dict[str, Any]) -> None:
    from jsonschema.exceptions import SchemaError

    try:
        _validator_class(schema).check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"schema is not a valid JSON Schema: {exc.message}") from None


def _validator_class(schema: dict[str, Any]) -> type[Validator]:
    from jsonschema.validators import Draft202012Validator, validator_for

    return validator_for(schema, default=Draft202012Validator)


# --- formats and records -------------------------------------------------------------


def detect_format(ctx: Context, choice: str, allowed: tuple[str, ...]) -> str:
    """The source's format: ``choice`` unless it is ``auto``, else from the key's suffix,
    else from the content type; rejects a format not in ``allowed``."""
    if choice != "auto":
        return choice
    suffix = PurePosixPath(ctx.source.key).suffix.lower()
    content_type = ctx.source.content_type.partition(";")[0].strip().lower()
    found = SUFFIX_FORMATS.get(suffix) or CONTENT_TYPE_FORMATS.get(content_type)
    if found not in allowed:
        raise Reject(
            f"cannot tell the format of {ctx.source.key!r} (content type {content_type!r}) "
            f"as one of {', '.join(allowed)}: set the step's format option"
        )
    return found


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


# --- checks --------------------------------------------------------------------------

#: A record's problems as (JSON path, message) pairs.
Problem = tuple[str, str]
Check = Callable[[Any], list[Problem]]
_MISSING = object()


def _to_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(text)
    return int(text)


def _to_number(text: str) -> float:
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        raise ValueError(text)
    return float(text)


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(text)
    return lowered in ("true", "1", "yes")


#: How a CSV cell becomes a typed value (raises ``ValueError`` if it does not parse).
CELL_PARSERS: dict[str, Callable[[str], Any]] = {
    "string": str,
    "integer": _to_int,
    "number": _to_number,
    "boolean": _to_bool,
    "date": date.fromisoformat,
    "datetime": datetime.fromisoformat,
}


def _json_type_ok(kind: str, value: Any) -> bool:
    if kind in ("date", "datetime"):
        return isinstance(value, str) and _parses(CELL_PARSERS[kind], value)
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float)
    return kind == "string" and isinstance(value, str)


def _parses(parser: Callable[[str], Any], text: str) -> bool:
    try:
        parser(text)
    except ValueError:
        return False
    return True


class ColumnCheck:
    """Checks records against a column schema (CSV cells are parsed per column type;
    JSON values must already have the type)."""

    def __init__(self, columns: list[Column], *, from_csv: bool) -> None:
        self.columns = columns
        self.from_csv = from_csv
        self.patterns = {c.name: re.compile(c.pattern) for c in columns if c.pattern}

    def __call__(self, record: Any) -> list[Problem]:
        if not isinstance(record, dict):
            return [("$", "the record is not an object")]
        return [p for column in self.columns for p in self._check(column, record.get(column.name))]

    def _check(self, column: Column, value: Any) -> list[Problem]:
        if value is None or (self.from_csv and value == ""):
            return [("$", f"{column.name!r} is a required property")] if column.required else []
        path = f"$.{column.name}"
        if not self._type_ok(column.type, value):
            return [(path, f"{shorten(repr(value))} is not of type {column.type!r}")]
        pattern = self.patterns.get(column.name)
        if pattern and isinstance(value, str) and not pattern.search(value):
            return [(path, f"{shorten(repr(value))} does not match {pattern.pattern!r}")]
        return []

    def _type_ok(self, kind: str, value: Any) -> bool:
        if self.from_csv:
            return _parses(CELL_PARSERS[kind], value)
        return _json_type_ok(kind, value)


class SchemaCheck:
    """Checks records against a JSON Schema (with format checking on); CSV records are
    converted first as the module docstring says."""

    def __init__(self, schema: dict[str, Any], *, from_csv: bool) -> None:
        cls = _validator_class(schema)
        self.validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        properties = schema.get("properties", {}) if from_csv else {}
        self.types = {name: _declared_types(prop) for name, prop in properties.items()}
        self.from_csv = from_csv

    def __call__(self, record: Any) -> list[Problem]:
        if self.from_csv:
            record = self._coerce(record)
        try:
            errors = list(self.validator.iter_errors(record))
        except RecursionError:
            return [("$", f"{TOO_DEEP} to validate")]
        return [(error.json_path, shorten(error.message)) for error in errors]

    def _coerce(self, record: dict[str, str]) -> dict[str, Any]:
        values = {name: _coerce_cell(cell, self.types.get(name)) for name, cell in record.items()}
        return {name: value for name, value in values.items() if value is not _MISSING}


def _declared_types(prop: Any) -> set[str] | None:
    kinds = prop.get("type") if isinstance(prop, dict) else None
    if isinstance(kinds, str):
        return {kinds}
    return set(kinds) if isinstance(kinds, list) else None


def _coerce_cell(cell: str, types: set[str] | None) -> Any:
    if not types or "string" in types:
        return cell
    if cell == "":
        return None if "null" in types else _MISSING
    for kind in ("integer", "number", "boolean"):
        if kind in types and _parses(CELL_PARSERS[kind], cell):
            return CELL_PARSERS[kind](cell)
    return cell


# --- the processor -------------------------------------------------------------------


@dataclass
class Tally:
    """What validating a file found: rows, invalid rows, and errors (all counted, the
    first ``max_errors`` kept)."""

    max_errors: int
    rows: int = 0
    invalid: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: int, problems: list[Problem]) -> None:
        """Count one row and its problems (none if it is valid)."""
        self.rows += 1
        self.invalid += bool(problems)
        self.error_count += len(problems)
        room = self.max_errors - len(self.errors)
        self.errors.extend({"row": row, "path": p, "message": m} for p, m in problems[:room])

    def summary(self) -> dict[str, Any]:
        """The short form kept as the step's report."""
        return {"rows": self.rows, "invalid": self.invalid, "errors": self.errors[:SUMMARY_ERRORS]}

    def reason(self) -> str:
        """A one-line account of the invalid rows, for a ``Reject``."""
        noun = "row" if self.invalid == 1 else "rows"
        text = f"{self.invalid} invalid {noun} of {self.rows}"
        if self.errors:
            first = self.errors[0]
            where = "" if first["path"] == "$" else f", {first['path']}"
            text += f"; first: row {first['row']}{where}: {first['message']}"
        return text


@processor("data.validate", options=ValidateOptions, output_template="{stem}.validation.json")
def validate(ctx: Context) -> None:
    """Validates every record of a CSV, JSON or NDJSON file against the step's schema.

    With ``on_invalid = "fail"`` invalid rows reject the file (the reason summarises them,
    nothing is written); with ``"report"`` the step passes and writes a JSON report."""
    options: ValidateOptions = ctx.options
    fmt = detect_format(ctx, options.format, RECORD_FORMATS)
    check = _make_check(options, from_csv=fmt == "csv")
    tally = Tally(options.max_errors)
    for record in read_records(ctx, fmt, options):
        tally.add(record.row, [("$", record.error)] if record.error else check(record.value))
    ctx.report = tally.summary()
    if tally.invalid and options.on_invalid == "fail":
        raise Reject(tally.reason())
    if options.on_invalid == "report":
        ctx.write_output(_report_json(ctx, fmt, tally), content_type="application/json")


def _make_check(options: ValidateOptions, *, from_csv: bool) -> Check:
    if options.columns is not None:
        return ColumnCheck(options.columns, from_csv=from_csv)
    assert options.json_schema is not None  # the options' validator ensures one of them
    return SchemaCheck(options.json_schema, from_csv=from_csv)


def _report_json(ctx: Context, fmt: str, tally: Tally) -> bytes:
    report = {
        "source": ctx.source.key,
        "format": fmt,
        "rows": tally.rows,
        "valid": tally.rows - tally.invalid,
        "invalid": tally.invalid,
        "error_count": tally.error_count,
        "errors": tally.errors,
        "errors_truncated": tally.error_count > len(tally.errors),
    }
    return json.dumps(report, indent=2).encode()
