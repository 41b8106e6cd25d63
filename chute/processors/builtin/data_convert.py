"""``data.convert``: CSV, JSON and NDJSON to Parquet and back, in bounded memory.

Every conversion is a stream of Arrow tables, from a reader for the source format to a
writer for the target. A table (and a Parquet row group) ends at ``batch_rows`` rows or
``batch_bytes`` of data, whichever comes first, so memory stays bounded however long the
file (a JSON document excepted: it is read whole, up to ``max_json_bytes`` and
``max_json_values``).

Width costs memory too, however few the rows: pyarrow's CSV reader and Parquet writer
take ~20 KB per column, and a Parquet file's metadata, held in memory while it is read or
written, ~2 KB per column chunk (a column in one row group). So a file with more than
``max_columns`` columns (nested fields counted one each, as Parquet does), or a Parquet
output that would have more than ``max_column_chunks`` chunks, is refused: a CSV file from
its header, before pyarrow reads it; a Parquet file from its footer, before it is parsed.

Column types: CSV columns are inferred by pyarrow from the first block of the file (1 MiB,
or ``max_row_bytes`` for a file with longer rows); JSON and NDJSON columns from the first
batch of records (a field every one of them leaves null gets the null type, and a nested
object keeps only the fields seen there). A later value that does not fit rejects the
file, naming its row (row numbers as in :mod:`chute.processors.builtin.data_validate`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Self

from pydantic import Field, model_validator

from chute.errors import Reject
from chute.processors.base import CHUNK, Context
from chute.processors.builtin.data_validate import (
    MIB,
    ReadLimits,
    Record,
    detect_format,
    read_records,
    shorten,
    utf8_problem,
)
from chute.processors.registry import processor

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

CONTENT_TYPES = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "ndjson": "application/x-ndjson",
    "json": "application/json",
}
#: First CSV block size; a file with a longer row is read again with ``max_row_bytes``.
CSV_BLOCK = MIB
ARROW_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, OverflowError)
#: Footer bytes a Parquet column chunk needs at most, about (~200 with statistics); parsed,
#: a footer takes 10 to 15 times its size.
FOOTER_CHUNK_BYTES = 256
#: Arrow data turned into Python objects at once by the JSON writers (which take several
#: times more).
PYTHON_BYTES = MIB

Tables = Iterator["pa.Table"]


class ConvertOptions(ReadLimits):
    """Options of ``data.convert``."""

    to: Literal["parquet", "csv", "ndjson", "json"]
    #: The source's format (``auto``: from the key's suffix, else the content type).
    format: Literal["auto", "csv", "json", "ndjson", "parquet"] = "auto"
    #: Parquet compression codec.
    compression: Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"] = "zstd"
    #: Most rows per batch and Parquet row group; the first batch of JSON input is the
    #: sample column types are inferred from.
    batch_rows: int = Field(default=65536, ge=1)
    #: Most bytes per batch and Parquet row group, of Arrow data (for NDJSON input, of
    #: parsed lines, as estimated from their text).
    batch_bytes: int = Field(default=64 * MIB, ge=1)
    #: Most columns, nested fields counted one each (each takes ~20 KB of memory, however
    #: few the rows).
    max_columns: int = Field(default=10_000, ge=1)
    #: Most column chunks (columns x row groups) of a Parquet file read or written: its
    #: metadata, held in memory while the file is open, takes ~2 KB per chunk.
    max_column_chunks: int = Field(default=100_000, ge=1)

    @model_validator(mode="after")
    def _room_for_one_row_group(self) -> Self:
        if self.max_column_chunks < self.max_columns:
            raise ValueError(
                "max_column_chunks must be at least max_columns (a row group has a chunk "
                "per column)"
            )
        return self


# Not in errors.py: it never leaves this module.
class _BlockTooSmall(Exception):
    """A CSV row is longer than the block pyarrow reads at once: read again with bigger
    blocks."""


@processor("data.convert", options=ConvertOptions, output_template="{stem}.{format}")
def convert(ctx: Context) -> None:
    """Converts a CSV, JSON or NDJSON file to Parquet, or a Parquet file to CSV, NDJSON or
    JSON (any other pair works too), writing one output named with ``{format}``, the
    target's extension."""
    options: ConvertOptions = ctx.options
    source = detect_format(ctx, options.format, tuple(CONTENT_TYPES))
    if source == options.to:
        raise Reject(f"the source is already {source}")
    if ctx.source.size == 0:
        raise Reject("empty file: nothing to convert")
    import pyarrow as pa

    target = ctx.temp_dir() / f"converted.{options.to}"
    try:
        _convert(ctx, source, target, options)
    except pa.ArrowNotImplementedError as exc:
        # The data has a shape the target cannot hold (Parquet: an object field that is
        # always empty); another attempt would fail the same way.
        raise Reject(f"cannot convert {source} to {options.to}: {exc}") from None
    ctx.write_output(target, content_type=CONTENT_TYPES[options.to], format=options.to)


def _convert(ctx: Context, source: str, target: Path, options: ConvertOptions) -> None:
    write = WRITERS[options.to]
    if source == "parquet":
        write(_parquet_tables(ctx, options), target, options)
    elif source != "csv":
        write(_record_tables(ctx, source, options), target, options)
    else:
        _check_csv_width(ctx, options)
        try:
            write(_csv_tables(ctx, options, min(CSV_BLOCK, options.max_row_bytes)), target, options)
        except _BlockTooSmall:
            write(_csv_tables(ctx, options, options.max_row_bytes), target, options)


def _too_wide(what: str, columns: int, options: ConvertOptions) -> Reject:
    return Reject(
        f"{what} {columns} columns, more than max_columns ({options.max_columns}): raise "
        "max_columns, and the step's memory_mb, to convert it"
    )


# --- readers -------------------------------------------------------------------------


def _check_csv_width(ctx: Context, options: ConvertOptions) -> None:
    """Refuses a CSV file whose header has more than ``max_columns`` columns, before
    pyarrow, which takes ~20 KB per column however few the rows, opens it."""
    with ctx.open() as stream:
        columns = _header_width(stream, options.max_row_bytes)
    if columns > options.max_columns:
        raise _too_wide("the CSV header has", columns, options)


def _header_width(stream: IO[bytes], limit: int) -> int:
    """The columns of a CSV stream's first non-blank line (its commas outside quotes, plus
    one), counted a chunk at a time in its first ``limit`` bytes, without parsing it."""
    commas, quoted, seen = 0, False, 0
    while seen < limit and (chunk := stream.read(CHUNK)):
        chunk = chunk if seen else chunk.lstrip(b"\r\n")  # pyarrow skips blank lines
        seen += len(chunk)
        for index, part in enumerate(chunk.split(b'"')):
            quoted = quoted != (index > 0)  # each quote opens or closes a quoted field
            if not quoted:
                end = _line_end(part)
                commas += part.count(b",", 0, end)
                if end < len(part):
                    return commas + 1
    return commas + 1


def _line_end(data: bytes) -> int:
    ends = [at for at in (data.find(b"\n"), data.find(b"\r")) if at >= 0]
    return min(ends, default=len(data))


def _csv_tables(ctx: Context, options: ConvertOptions, block: int) -> Tables:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(block_size=block, use_threads=False)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    with ctx.open() as stream:
        try:
            reader = pacsv.open_csv(stream, read_options=read, parse_options=parse)
            if any(pa.types.is_binary(f.type) for f in reader.schema):
                raise Reject(utf8_problem(ctx))
            yield from _field_checked(_regroup(reader, reader.schema, options), options)
        except pa.ArrowInvalid as exc:
            raise _csv_failure(ctx, str(exc), block, options) from None


def _csv_failure(ctx: Context, message: str, block: int, options: ConvertOptions) -> Exception:
    if "straddling" in message:
        if block < options.max_row_bytes:
            return _BlockTooSmall()
        return Reject(f"a CSV row is longer than max_row_bytes ({options.max_row_bytes})")
    if "UTF8" in message:
        return Reject(utf8_problem(ctx))
    if message == "Empty CSV file":
        return Reject("empty file: no CSV header")
    hint = " (column types are inferred from the file's first block)"
    hint = hint if "conversion error" in message else ""
    row = re.search(r"Row #(\d+): ", message)
    if row is None:
        return Reject(f"cannot convert the CSV: {shorten(message)}{hint}")
    return Reject(f"CSV row {row[1]}: {shorten(message.replace(row[0], ''))}{hint}")


def _field_checked(tables: Tables, options: ConvertOptions) -> Tables:
    """Rejects a CSV field over ``max_field_bytes``, as ``data.validate`` does."""
    import pyarrow as pa
    import pyarrow.compute as pc

    row = 2  # the header is row 1
    for table in tables:
        for name, column in zip(table.column_names, table.columns, strict=True):
            if pa.types.is_string(column.type) and table.num_rows:
                lengths = pc.binary_length(column)
                longest = pc.max(lengths).as_py() or 0
                if longest > options.max_field_bytes:
                    at = row + pc.index(lengths, longest).as_py()
                    raise Reject(
                        f"CSV row {at}: field {name!r} has {longest} bytes, more than "
                        f"max_field_bytes ({options.max_field_bytes})"
                    )
        row += table.num_rows
        yield table
        del table  # see _write_parquet


def _parquet_tables(ctx: Context, options: ConvertOptions) -> Tables:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = ctx.path()
    _check_footer(path, options)
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise Reject(f"not a Parquet file: {shorten(str(exc))}") from None
    with file:
        if file.metadata.num_columns > options.max_columns:
            raise _too_wide("the Parquet file has", file.metadata.num_columns, options)
        batches = file.iter_batches(batch_size=_parquet_batch_rows(file.metadata, options))
        yield from _regroup(batches, file.schema_arrow, options)


def _check_footer(path: Path, options: ConvertOptions) -> None:
    """Refuses a Parquet file whose footer (its metadata, parsed whole on opening) is
    larger than ``max_column_chunks`` chunks need, before it is parsed."""
    with path.open("rb") as file:
        if file.seek(0, 2) < 8:
            return  # too short for a footer: pyarrow says what is wrong
        file.seek(-8, 2)
        tail = file.read(8)
    size = int.from_bytes(tail[:4], "little")
    limit = options.max_column_chunks * FOOTER_CHUNK_BYTES
    if tail[4:] == b"PAR1" and size > limit:
        raise Reject(
            f"the Parquet footer has {size} bytes, more than max_column_chunks "
            f"({options.max_column_chunks}) chunks need ({limit}): raise max_column_chunks, "
            "and the step's memory_mb, to convert it"
        )


def _parquet_batch_rows(metadata: pq.FileMetaData, options: ConvertOptions) -> int:
    """Rows per batch read: ``batch_rows``, or as many as take a quarter of ``batch_bytes``
    by an estimate of a row's size (its uncompressed size in the file, and at least 8
    bytes a column). Values stored dictionary-encoded take more once read, so an estimate
    up to four times too low still reads no more than a batch at once; :func:`_regroup`
    then gathers tables of the real size."""
    stored = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    row_bytes = max(stored // max(metadata.num_rows, 1), 8 * metadata.num_columns)
    return max(1, min(options.batch_rows, options.batch_bytes // (4 * row_bytes)))


def _record_tables(ctx: Context, source: str, options: ConvertOptions) -> Tables:
    label = "NDJSON line" if source == "ndjson" else "JSON record"
    records = read_records(ctx, source, options)
    schema, sample = None, 0
    for chunk in _chunks(records, options):
        sample = sample or len(chunk)
        table = _records_table(chunk, schema, label, sample, options)
        schema = table.schema
        del chunk  # see _write_parquet
        yield table
        del table
    if schema is None:
        raise Reject("no records to convert")


def _chunks(records: Iterator[Record], options: ConvertOptions) -> Iterator[list[Record]]:
    """Lists of ``batch_rows`` records, or fewer if they take ``batch_bytes``."""
    chunk: list[Record] = []
    cost = 0
    for record in records:
        chunk.append(record)
        cost += record.cost
        if len(chunk) == options.batch_rows or cost >= options.batch_bytes:
            yield chunk
            chunk, cost = [], 0
    if chunk:
        yield chunk


def _records_table(
    chunk: list[Record], schema: pa.Schema | None, label: str, sample: int, options: ConvertOptions
) -> pa.Table:
    import pyarrow as pa

    names = _field_names(chunk, label, options)
    if schema is None:
        return pa.table({name: _column(chunk, name, None, label) for name in names})
    unknown = set(names) - set(schema.names)
    if unknown:
        row = next(r.row for r in chunk if unknown & r.value.keys())
        raise Reject(
            f"{label} {row}: field {min(unknown)!r} is not in the first {sample} records, "
            "which set the columns (raise batch_rows, or batch_bytes)"
        )
    return pa.table([_column(chunk, f.name, f.type, label) for f in schema], schema=schema)


def _field_names(chunk: list[Record], label: str, options: ConvertOptions) -> list[str]:
    """The fields of the chunk's records, in order of appearance; rejects a record that is
    not an object, or that brings them to more than ``max_columns``."""
    names: dict[str, None] = {}
    for record in chunk:
        if record.error or not isinstance(record.value, dict):
            raise Reject(f"{label} {record.row}: {record.error or 'not an object'}")
        names.update(dict.fromkeys(record.value))
        if len(names) > options.max_columns:
            raise _too_wide(f"the records up to {label} {record.row} have", len(names), options)
    return list(names)


def _column(chunk: list[Record], name: str, kind: pa.DataType | None, label: str) -> pa.Array[Any]:
    import pyarrow as pa

    values = [record.value.get(name) for record in chunk]
    try:
        return pa.array(values, type=kind)
    except ARROW_ERRORS as exc:
        if kind is None:
            where = f"{label}s {chunk[0].row}-{chunk[-1].row}"
        else:
            where = f"{label} {_first_misfit(chunk, values, kind)}"
        raise Reject(f"{where}, field {name!r}: {shorten(str(exc))}") from None


def _first_misfit(chunk: list[Record], values: list[Any], kind: pa.DataType) -> int:
    import pyarrow as pa

    for record, value in zip(chunk, values, strict=True):
        try:
            pa.array([value], type=kind)
        except ARROW_ERRORS:
            return record.row
    return chunk[0].row


def _regroup(batches: Any, schema: pa.Schema, options: ConvertOptions) -> Tables:
    """Tables of ``batch_rows`` rows, or fewer once they reach ``batch_bytes`` (the last
    one shorter, and one even if there are no rows), from batches of any size.

    A batch is cut where a table ends, so a table shares buffers with one batch of the next
    at most (cutting the table instead would keep all of it alive in the next)."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = nbytes = 0
    for batch in batches:
        while batch.num_rows:
            fit = _rows_that_fit(batch, options.batch_rows - count, options.batch_bytes - nbytes)
            head, batch = batch.slice(0, fit), batch.slice(fit)
            pending.append(head)
            count, nbytes = count + head.num_rows, nbytes + head.nbytes
            if batch.num_rows or count == options.batch_rows or nbytes >= options.batch_bytes:
                yield pa.Table.from_batches(pending, schema=schema)
                pending, count, nbytes = [], 0, 0
    yield pa.Table.from_batches(pending, schema=schema)


def _rows_that_fit(batch: pa.RecordBatch, rows: int, room: int) -> int:
    """How many of the batch's first rows fit in ``rows`` rows and ``room`` bytes, by its
    average row size (one at least, so that every table has a row)."""
    if batch.nbytes <= room:
        return rows
    return min(rows, max(1, room * batch.num_rows // batch.nbytes))


# --- writers -------------------------------------------------------------------------


def _peek(tables: Tables) -> tuple[pa.Schema, Tables]:
    """The tables' schema, and all the tables (the first is not kept once it is written)."""
    first = next(tables)
    return first.schema, chain([first], tables)


def _write_parquet(tables: Tables, target: Path, options: ConvertOptions) -> None:
    import pyarrow.parquet as pq

    schema, tables = _peek(tables)
    columns = _leaf_columns(schema)
    if columns > options.max_columns:
        raise _too_wide("counting nested fields, the Parquet output would have", columns, options)
    groups = 0
    # An open file, not a path: a writer that refuses the schema must not leak its file.
    with (
        target.open("wb") as sink,
        pq.ParquetWriter(sink, schema, compression=options.compression) as writer,
    ):
        for table in tables:
            if table.num_rows:  # at most batch_rows: one row group
                groups += 1
                _check_column_chunks(columns, groups, options)
                writer.write_table(table, row_group_size=options.batch_rows)
            # A loop's variable keeps its table alive while the next is read: memory would
            # hold two batches, not one (so here and in every loop over batches).
            del table


def _leaf_columns(schema: pa.Schema) -> int:
    """The columns of a Parquet file with this schema: one per leaf field, nested ones
    included."""
    leaves = 0
    types = [field.type for field in schema]
    while types:
        kind = types.pop()
        leaves += kind.num_fields == 0
        types.extend(kind.field(i).type for i in range(kind.num_fields))
    return leaves


def _check_column_chunks(columns: int, groups: int, options: ConvertOptions) -> None:
    if columns * groups > options.max_column_chunks:
        raise Reject(
            f"the Parquet output would have more than max_column_chunks "
            f"({options.max_column_chunks}) column chunks ({columns} columns x {groups} row "
            "groups), whose metadata stays in memory until the file is written: raise "
            "batch_bytes or batch_rows for fewer row groups, or max_column_chunks and the "
            "step's memory_mb"
        )


def _write_csv(tables: Tables, target: Path, options: ConvertOptions) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    schema, tables = _peek(tables)
    nested = [f.name for f in schema if pa.types.is_nested(f.type)]
    if nested:
        raise Reject(f"CSV cannot hold the nested column {nested[0]!r}: convert to NDJSON")
    with pacsv.CSVWriter(target, schema) as writer:
        for table in tables:
            writer.write_table(table)
            del table  # see _write_parquet


def _write_ndjson(tables: Tables, target: Path, options: ConvertOptions) -> None:
    with target.open("wb") as out:
        for row in _python_rows(tables):
            out.write(_json_bytes(row) + b"\n")


def _write_json(tables: Tables, target: Path, options: ConvertOptions) -> None:
    separator = b"\n"
    with target.open("wb") as out:
        out.write(b"[")
        for row in _python_rows(tables):
            out.write(separator + _json_bytes(row))
            separator = b",\n"
        out.write(b"\n]\n")


def _python_rows(tables: Tables) -> Iterator[dict[str, Any]]:
    """The tables' rows as dicts, made from about :data:`PYTHON_BYTES` of Arrow data at a
    time (as Python objects a batch would take several times its Arrow size)."""
    for table in tables:
        step = max(1, table.num_rows * PYTHON_BYTES // max(table.nbytes, 1))
        for start in range(0, table.num_rows, step):
            yield from table.slice(start, step).to_pylist()
        del table  # see _write_parquet


def _json_bytes(row: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(row, default=_json_value, allow_nan=False, ensure_ascii=False)
    except ValueError:
        raise Reject("a value is NaN or infinite, which JSON cannot hold") from None
    return text.encode()


def _json_value(value: Any) -> Any:
    """JSON for the Python values Arrow types turn into (dates as ISO 8601, decimals as
    strings to keep their digits, binary as base64)."""
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise Reject(f"a value of type {type(value).__name__} cannot be written as JSON")


WRITERS: dict[str, Callable[[Tables, Path, ConvertOptions], None]] = {
    "parquet": _write_parquet,
    "csv": _write_csv,
    "ndjson": _write_ndjson,
    "json": _write_json,
}
