"""Arrow tables written in ``data.convert``'s target format: Parquet (a row group per
table), CSV, NDJSON and JSON."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chute.errors import Reject
from chute.processors.builtin.data.options import MIB, ConvertOptions
from chute.processors.builtin.data.tables import Tables, too_wide

if TYPE_CHECKING:
    import pyarrow as pa

#: Arrow data turned into Python objects at once by the JSON writers (which take several
#: times more).
PYTHON_BYTES = MIB


def _peek(tables: Tables) -> tuple[pa.Schema, Tables]:
    """The tables' schema, and all the tables (the first is not kept once it is written)."""
    first = next(tables)
    return first.schema, chain([first], tables)


def _write_parquet(tables: Tables, target: Path, options: ConvertOptions) -> None:
    import pyarrow.parquet as pq

    schema, tables = _peek(tables)
    columns = _leaf_columns(schema)
    if columns > options.max_columns:
        raise too_wide("counting nested fields, the Parquet output would have", columns, options)
    groups = 0
    # An open file, not a path: a writer that refuses the schema must not leak its file.
    with (
        target.open("wb") as sink,
        pq.ParquetWriter(sink, schema, compression=options.compression) as writer,
    ):
        for table in tables:
            if table.num_rows:  # at most batch_rows: one row group
                groups += 1
                check_column_chunks(
                    columns,
                    groups,
                    options.max_column_chunks,
                    "the Parquet output",
                    "raise batch_bytes or batch_rows for fewer row groups",
                )
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


def check_column_chunks(columns: int, groups: int, limit: int, what: str, remedy: str) -> None:
    """Refuses a Parquet file of more than ``limit`` column chunks (columns x row groups),
    whose metadata stays in memory until it is written; ``what`` names the file, ``remedy``
    says how to get fewer row groups."""
    if columns * groups > limit:
        raise Reject(
            f"{what} would have more than max_column_chunks ({limit}) column chunks "
            f"({columns} columns x {groups} row groups), whose metadata stays in memory "
            f"until the file is written: {remedy}, or raise max_column_chunks and the "
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
