"""``data.split``: a CSV or NDJSON file cut into chunks of whole rows, the items a Map step
then runs one job on each.

The file is cut on its raw bytes, where rows end (see
:mod:`chute.processors.builtin.data.boundaries`): rows are never parsed or written again,
so a chunk's rows are byte for byte the file's, and splitting costs little more than
copying the bytes. A chunk ends at the first row end past ``chunk_bytes`` of rows (or at
``rows`` rows, if that comes first).

Each CSV chunk starts with the file's header line (unless ``header`` is off), and carries
in its metadata the column types ``data.convert`` would infer for the whole file (see
:mod:`chute.processors.builtin.data.column_types`), so that converting the chunks one by
one and joining them (``data.join``) gives what converting the file at once gives. A
header-only CSV has no rows: its one chunk is the header alone.

Metadata on every chunk: ``chunk`` (its number, from 0), ``rows`` (its row ends, blank
lines included, plus a last row without one; only with the ``rows`` option, since counting
costs a pass over every row) and, for CSV, ``arrow-schema``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from chute.errors import Reject
from chute.processors.base import CHUNK, Context
from chute.processors.builtin.data.boundaries import BLOCK, RowScanner, unterminated_quote
from chute.processors.builtin.data.column_types import SCHEMA_KEY, encode_schema
from chute.processors.builtin.data.formats import CONTENT_TYPES, detect_format
from chute.processors.builtin.data.options import SplitOptions
from chute.processors.builtin.data.tables import inferred_csv_schema
from chute.processors.registry import processor


@dataclass(frozen=True, slots=True)
class Chunk:
    """A run of whole rows of the source: bytes ``start`` to ``end``."""

    start: int
    end: int
    #: Its rows, when counted.
    rows: int | None = None


@processor("data.split", options=SplitOptions, output_template="{stem}.parts/{part}.{ext}")
def split(ctx: Context) -> None:
    """Splits a CSV or NDJSON file into chunks of rows, one output each, named with
    ``{part}`` (the chunk's number, six digits from ``000000``) and ``{ext}`` (the source's
    extension); each keeps the source's content type."""
    options: SplitOptions = ctx.options
    fmt = detect_format(ctx, options.format, ("csv", "ndjson"))
    path = ctx.path()
    _check_has_rows(path)
    header = fmt == "csv" and options.header
    metadata = _column_types(ctx, path, options) if header else {}
    content_type = ctx.source.content_type or CONTENT_TYPES[fmt]
    ext = ctx.source.template_vars()["ext"] or fmt
    count = 0
    with path.open("rb") as scanned, path.open("rb") as source:
        scanner = RowScanner(scanned, quoted=fmt == "csv")
        prefix = _header(scanner, source, options) if header else b""
        for count, chunk in enumerate(_chunks(scanner, path.stat().st_size, options), 1):
            ctx.write_output(
                _pieces(source, chunk, prefix),
                content_type=content_type,
                metadata=_chunk_metadata(metadata, count - 1, chunk),
                part=f"{count - 1:06d}",
                ext=ext,
            )
        if count == 0 and prefix:
            # No row: one chunk of the header alone, which converts (and joins) to the
            # empty file of its columns a single step would write.
            ctx.write_output(
                prefix, content_type=content_type, metadata=metadata, part="000000", ext=ext
            )
            count = 1
    ctx.report.update({"format": fmt, "chunks": count, "column_types": SCHEMA_KEY in metadata})


def _check_has_rows(path: Path) -> None:
    """Rejects an empty file, or one of nothing but whitespace."""
    with path.open("rb") as stream:
        first = stream.read(BLOCK)
        if not first:
            raise Reject("empty file: nothing to split")
        block = first
        while not re.search(rb"\S", block):
            block = stream.read(BLOCK)
            if not block:
                raise Reject("blank file: nothing but whitespace, no rows to split")


def _header(scanner: RowScanner, source: IO[bytes], options: SplitOptions) -> bytes:
    """The CSV's header line (with any blank lines before it), which the scanner moves
    past; rejects one longer than ``max_row_bytes``."""
    scanner.skip_line_ends()
    scanner.row_end()
    if scanner.inside_quotes:
        raise unterminated_quote(0)
    source.seek(0)
    line = source.read(min(scanner.position, options.max_row_bytes + 1))
    if not line.endswith(b"\n") and b"\r" in line.rstrip(b"\r"):
        raise Reject("the CSV's rows end with a bare carriage return: split reads \\n or \\r\\n")
    if scanner.position > options.max_row_bytes:
        raise Reject(f"the CSV header line is longer than max_row_bytes ({options.max_row_bytes})")
    source.seek(0)
    return source.read(scanner.position)


def _column_types(ctx: Context, path: Path, options: SplitOptions) -> dict[str, str]:
    """The chunks' :data:`SCHEMA_KEY` metadata (none if pyarrow cannot read the file's
    start, which converting it would refuse, or if the schema is too large to carry)."""
    import pyarrow as pa

    try:
        with path.open("rb") as stream:
            schema = inferred_csv_schema(stream, options.max_row_bytes)
    except pa.ArrowInvalid as exc:
        ctx.log.warning("no column types for the chunks: pyarrow cannot read the CSV: %s", exc)
        return {}
    text = encode_schema(schema)
    if text is None:
        ctx.log.warning("no column types for the chunks: %d columns are too many", len(schema))
        return {}
    return {SCHEMA_KEY: text}


def _chunks(scanner: RowScanner, size: int, options: SplitOptions) -> Iterator[Chunk]:
    """The chunks from the scanner's position to the end of the file."""
    while (start := scanner.position) < size:
        rows = None
        if options.rows is None:
            scanner.skip(options.chunk_bytes - 1)
            scanner.row_end()
        else:
            rows = scanner.row_ends(options.rows, start + options.chunk_bytes)
            if scanner.position == size and not scanner.after_line_end:
                rows += 1  # the last row, without a line end
        if scanner.inside_quotes:
            raise unterminated_quote(start)
        yield Chunk(start, scanner.position, rows)


def _pieces(source: IO[bytes], chunk: Chunk, prefix: bytes) -> Iterator[bytes]:
    """A chunk's bytes, after ``prefix``, read a piece at a time."""
    if prefix:
        yield prefix
    source.seek(chunk.start)
    left = chunk.end - chunk.start
    while left > 0 and (piece := source.read(min(CHUNK, left))):
        left -= len(piece)
        yield piece


def _chunk_metadata(common: dict[str, str], number: int, chunk: Chunk) -> dict[str, str]:
    metadata = {**common, "chunk": str(number)}
    if chunk.rows is not None:
        metadata["rows"] = str(chunk.rows)
    return metadata
