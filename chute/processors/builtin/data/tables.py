"""A source file as a stream of Arrow tables, for ``data.convert``: CSV (read by pyarrow),
Parquet, and the records of JSON and NDJSON files. A table ends at ``batch_rows`` rows or
``batch_bytes`` of data; a file too wide to read in bounded memory is refused before it
is parsed (see :mod:`chute.processors.builtin.data.convert`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from chute.errors import Reject
from chute.processors.base import CHUNK, Context
from chute.processors.builtin.data.column_types import SCHEMA_KEY, decode_schema
from chute.processors.builtin.data.options import MIB, ConvertOptions
from chute.processors.builtin.data.records import Record, read_records, shorten, utf8_problem

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

#: First CSV block size; a file with a longer row is read again with ``max_row_bytes``.
CSV_BLOCK = MIB
ARROW_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, OverflowError)
#: Footer bytes a Parquet column chunk needs at most, about (~200 with statistics); parsed,
#: a footer takes 10 to 15 times its size.
FOOTER_CHUNK_BYTES = 256

#: A file's data, a table at a time (each one dropped before the next is read).
Tables = Iterator["pa.Table"]


# Not in errors.py: it never leaves this package (data.convert reads again on it).
class BlockTooSmall(Exception):
    """A CSV row is longer than the block pyarrow reads at once: read again with bigger
    blocks."""


def too_wide(what: str, columns: int, options: ConvertOptions) -> Reject:
    """The refusal of a source or output with more than ``max_columns`` columns."""
    return Reject(
        f"{what} {columns} columns, more than max_columns ({options.max_columns}): raise "
        "max_columns, and the step's memory_mb, to convert it"
    )


def check_csv_width(ctx: Context, options: ConvertOptions) -> None:
    """Refuses a CSV file whose header has more than ``max_columns`` columns, before
    pyarrow, which takes ~20 KB per column however few the rows, opens it."""
    with ctx.open() as stream:
        columns = _header_width(stream, options.max_row_bytes)
    if columns > options.max_columns:
        raise too_wide("the CSV header has", columns, options)


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


def csv_tables(ctx: Context, options: ConvertOptions, block: int) -> Tables:
    """The CSV source's tables, with the column types its :data:`SCHEMA_KEY` metadata
    gives (a chunk ``data.split`` wrote), else those pyarrow infers from its first block."""
    import pyarrow as pa

    # Only an item of a Map (a chunk data.split wrote) carries the whole file's column
    # types: an uploaded object's metadata, which its uploader sets, is never read so.
    types = ctx.source.user_metadata.get(SCHEMA_KEY) if ctx.item_index is not None else None
    schema = decode_schema(types) if types is not None else None
    with ctx.open() as stream:
        try:
            reader = _open_csv(stream, block, schema)
            if any(pa.types.is_binary(f.type) for f in reader.schema):
                raise Reject(utf8_problem(ctx))
            yield from _field_checked(_regroup(reader, reader.schema, options), options)
        except pa.ArrowInvalid as exc:
            raise _csv_failure(ctx, str(exc), block, options) from None


def _open_csv(stream: IO[bytes], block: int, schema: pa.Schema | None = None) -> Any:
    """A pyarrow CSV reader, set up as every CSV read here is (one thread, line breaks
    allowed in quoted values), with ``schema``'s column types if given."""
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(block_size=block, use_threads=False)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    convert = pacsv.ConvertOptions(column_types=schema)
    return pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)


def inferred_csv_schema(stream: IO[bytes], max_row_bytes: int) -> pa.Schema:
    """The column types ``data.convert`` would give a CSV stream: those pyarrow infers
    from its first block (larger if its first row does not fit). Raises pyarrow's
    ``ArrowInvalid`` for a file pyarrow cannot read."""
    import pyarrow as pa

    start = stream.tell()
    try:
        schema: pa.Schema = _open_csv(stream, min(CSV_BLOCK, max_row_bytes)).schema
        return schema
    except pa.ArrowInvalid as exc:
        if "straddling" not in str(exc) or max_row_bytes <= CSV_BLOCK:
            raise
    stream.seek(start)
    schema = _open_csv(stream, max_row_bytes).schema
    return schema


def _csv_failure(ctx: Context, message: str, block: int, options: ConvertOptions) -> Exception:
    if "straddling" in message:
        if block < options.max_row_bytes:
            return BlockTooSmall()
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
        del table  # see writers._write_parquet


def parquet_tables(ctx: Context, options: ConvertOptions) -> Tables:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = ctx.path()
    check_footer(path, options.max_column_chunks, "convert")
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise Reject(f"not a Parquet file: {shorten(str(exc))}") from None
    with file:
        if file.metadata.num_columns > options.max_columns:
            raise too_wide("the Parquet file has", file.metadata.num_columns, options)
        batches = file.iter_batches(batch_size=_parquet_batch_rows(file.metadata, options))
        yield from _regroup(batches, file.schema_arrow, options)


def check_footer(path: Path, max_column_chunks: int, purpose: str) -> None:
    """Refuses a Parquet file whose footer (its metadata, parsed whole on opening) is
    larger than ``max_column_chunks`` chunks need, before it is parsed (``purpose``, the
    step's verb, ends the reason)."""
    with path.open("rb") as file:
        if file.seek(0, 2) < 8:
            return  # too short for a footer: pyarrow says what is wrong
        file.seek(-8, 2)
        tail = file.read(8)
    size = int.from_bytes(tail[:4], "little")
    limit = max_column_chunks * FOOTER_CHUNK_BYTES
    if tail[4:] == b"PAR1" and size > limit:
        raise Reject(
            f"the Parquet footer has {size} bytes, more than max_column_chunks "
            f"({max_column_chunks}) chunks need ({limit}): raise max_column_chunks, "
            f"and the step's memory_mb, to {purpose} it"
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


def record_tables(ctx: Context, source: str, options: ConvertOptions) -> Tables:
    label = "NDJSON line" if source == "ndjson" else "JSON record"
    records = read_records(ctx, source, options)
    schema, sample = None, 0
    for chunk in _chunks(records, options):
        sample = sample or len(chunk)
        table = _records_table(chunk, schema, label, sample, options)
        schema = table.schema
        del chunk  # see writers._write_parquet
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
            raise too_wide(f"the records up to {label} {record.row} have", len(names), options)
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
