"""``data.convert``: CSV, JSON and NDJSON to Parquet and back, in bounded memory.

Every conversion is a stream of Arrow tables, from a reader for the source format
(:mod:`chute.processors.builtin.data.tables`) to a writer for the target
(:mod:`chute.processors.builtin.data.writers`). A table (and a Parquet row group) ends
at ``batch_rows`` rows or ``batch_bytes`` of data, whichever comes first, so memory stays
bounded however long the file (a JSON document excepted: it is read whole, up to
``max_json_bytes`` and ``max_json_values``).

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
file, naming its row (row numbers as in :mod:`chute.processors.builtin.data.records`).
"""

from __future__ import annotations

from pathlib import Path

from chute.errors import Reject
from chute.processors.base import Context
from chute.processors.builtin.data.formats import CONTENT_TYPES, detect_format
from chute.processors.builtin.data.options import ConvertOptions
from chute.processors.builtin.data.tables import (
    CSV_BLOCK,
    BlockTooSmall,
    check_csv_width,
    csv_tables,
    parquet_tables,
    record_tables,
)
from chute.processors.builtin.data.writers import WRITERS
from chute.processors.registry import processor


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
        write(parquet_tables(ctx, options), target, options)
    elif source != "csv":
        write(record_tables(ctx, source, options), target, options)
    else:
        check_csv_width(ctx, options)
        try:
            write(csv_tables(ctx, options, min(CSV_BLOCK, options.max_row_bytes)), target, options)
        except BlockTooSmall:
            write(csv_tables(ctx, options, options.max_row_bytes), target, options)
