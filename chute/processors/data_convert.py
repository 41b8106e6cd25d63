"""``data.convert``: CSV, JSON and NDJSON to Parquet and back, in bounded memory.

Every conversion is a stream of Arrow tables of at most ``batch_rows`` rows, from a reader
for the source format to a writer for the target, so memory stays bounded however large
the file (a JSON document excepted: it is read whole, up to ``max_json_bytes``).

Column types: CSV columns are inferred by pyarrow from the first block of the file (1 MiB,
or ``max_row_bytes`` for a file with longer rows); JSON and NDJSON columns from the first
``batch_rows`` records (a field every one of them leaves null gets the null type, and a
nested object keeps only the fields seen there). A later value that does not fit rejects
the file, naming its row (row numbers as in :mod:`chute.processors.data_validate`).
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
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from chute.errors import Reject
from chute.processors.base import Context
from chute.processors.data_validate import (
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

CONTENT_TYPES = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "ndjson": "application/x-ndjson",
    "json": "application/json",
}
#: First CSV block size; a file with a longer row is read again with ``max_row_bytes``.
CSV_BLOCK = MIB
ARROW_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, OverflowError)

Tables = Iterator["pa.Table"]


class ConvertOptions(ReadLimits):
    """Options of ``data.convert``."""

    to: Literal["parquet", "csv", "ndjson", "json"]
    #: The source's format (``auto``: from the key's suffix, else the content type).
    format: Literal["auto", "csv", "json", "ndjson", "parquet"] = "auto"
    #: Parquet compression codec.
    compression: Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"] = "zstd"
    #: Rows per batch, Parquet row group, and type-inference sample for JSON input.
    batch_rows: int = Field(default=65536, ge=1)


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
    target = ctx.temp_dir() / f"converted.{options.to}"
    _convert(ctx, source, target, options)
    ctx.write_output(target, content_type=CONTENT_TYPES[options.to], format=options.to)


def _convert(ctx: Context, source: str, target: Path, options: ConvertOptions) -> None:
    write = WRITERS[options.to]
    if source == "parquet":
        write(_parquet_tables(ctx, options), target, options)
    elif source != "csv":
        write(_record_tables(ctx, source, options), target, options)
    else:
        try:
            write(_csv_tables(ctx, options, min(CSV_BLOCK, options.max_row_bytes)), target, options)
        except _BlockTooSmall:
            write(_csv_tables(ctx, options, options.max_row_bytes), target, options)


# --- readers -------------------------------------------------------------------------


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
            yield from _field_checked(_regroup(reader, reader.schema, options.batch_rows), options)
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


def _parquet_tables(ctx: Context, options: ConvertOptions) -> Tables:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(ctx.path())
    except (pa.ArrowInvalid, OSError) as exc:
        raise Reject(f"not a Parquet file: {shorten(str(exc))}") from None
    with file:
        batches = file.iter_batches(batch_size=options.batch_rows)
        yield from _regroup(batches, file.schema_arrow, options.batch_rows)


def _record_tables(ctx: Context, source: str, options: ConvertOptions) -> Tables:
    label = "NDJSON line" if source == "ndjson" else "JSON record"
    records = read_records(ctx, source, options)
    schema = None
    for chunk in _chunks(records, options.batch_rows):
        table = _records_table(chunk, schema, label, options.batch_rows)
        schema = table.schema
        yield table
    if schema is None:
        raise Reject("no records to convert")


def _chunks(records: Iterator[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _records_table(
    chunk: list[Record], schema: pa.Schema | None, label: str, sample: int
) -> pa.Table:
    import pyarrow as pa

    for record in chunk:
        if record.error or not isinstance(record.value, dict):
            raise Reject(f"{label} {record.row}: {record.error or 'not an object'}")
    names = list(dict.fromkeys(key for record in chunk for key in record.value))
    if schema is None:
        return pa.table({name: _column(chunk, name, None, label) for name in names})
    unknown = set(names) - set(schema.names)
    if unknown:
        row = next(r.row for r in chunk if unknown & r.value.keys())
        raise Reject(
            f"{label} {row}: field {min(unknown)!r} is not in the first {sample} records, "
            "which set the columns (raise batch_rows)"
        )
    return pa.table([_column(chunk, f.name, f.type, label) for f in schema], schema=schema)


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


def _regroup(batches: Any, schema: pa.Schema, size: int) -> Tables:
    """Tables of ``size`` rows (the last one shorter, and one even if there are none)
    from batches of any size."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= size:
            table = pa.Table.from_batches(pending, schema=schema)
            full = count - count % size
            yield from (table.slice(start, size) for start in range(0, full, size))
            pending, count = table.slice(full).to_batches(), count - full
    yield pa.Table.from_batches(pending, schema=schema)


# --- writers -------------------------------------------------------------------------


def _write_parquet(tables: Tables, target: Path, options: ConvertOptions) -> None:
    import pyarrow.parquet as pq

    first = next(tables)
    with pq.ParquetWriter(target, first.schema, compression=options.compression) as writer:
        for table in chain([first], tables):
            if table.num_rows:
                writer.write_table(table, row_group_size=options.batch_rows)


def _write_csv(tables: Tables, target: Path, options: ConvertOptions) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    first = next(tables)
    nested = [f.name for f in first.schema if pa.types.is_nested(f.type)]
    if nested:
        raise Reject(f"CSV cannot hold the nested column {nested[0]!r}: convert to NDJSON")
    with pacsv.CSVWriter(target, first.schema) as writer:
        for table in chain([first], tables):
            writer.write_table(table)


def _write_ndjson(tables: Tables, target: Path, options: ConvertOptions) -> None:
    with target.open("wb") as out:
        for table in tables:
            out.writelines(_json_bytes(row) + b"\n" for row in table.to_pylist())


def _write_json(tables: Tables, target: Path, options: ConvertOptions) -> None:
    separator = b"\n"
    with target.open("wb") as out:
        out.write(b"[")
        for table in tables:
            for row in table.to_pylist():
                out.write(separator + _json_bytes(row))
                separator = b",\n"
        out.write(b"\n]\n")


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
