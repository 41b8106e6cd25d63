"""``data.join``: the results of a Map step (``ctx.items``, in order) put together into
one file, in bounded memory.

- Parquet: one file with the first part's schema, written a row group of a part at a
  time. A part whose columns differ only in nullability or schema metadata is cast to it;
  any other difference refuses the join, naming the part.
- CSV: the parts one after the other, the first part's header kept and every other
  part's dropped, which must be the same line (a different one refuses the join).
- NDJSON: the parts one after the other.

A part that does not end its last line gets a line end before the next part's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from chute.errors import Reject
from chute.processors.base import CHUNK, Context, Item
from chute.processors.builtin.data.boundaries import RowScanner, unterminated_quote
from chute.processors.builtin.data.formats import (
    CONTENT_TYPE_FORMATS,
    CONTENT_TYPES,
    SUFFIX_FORMATS,
)
from chute.processors.builtin.data.options import JoinOptions, ReadLimits
from chute.processors.builtin.data.records import shorten
from chute.processors.builtin.data.tables import check_footer
from chute.processors.builtin.data.writers import check_column_chunks
from chute.processors.registry import processor

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

JOINABLE = ("parquet", "csv", "ndjson")
#: Longest CSV header line read (the default ``max_row_bytes`` of the other data steps).
MAX_HEADER_BYTES = ReadLimits.model_fields["max_row_bytes"].default


@processor("data.join", options=JoinOptions, output_template="{stem}.{format}")
def join(ctx: Context) -> None:
    """Joins the Map's results, in order, into one Parquet, CSV or NDJSON file, written as
    one output named with ``{format}``."""
    options: JoinOptions = ctx.options
    if not ctx.items:
        raise Reject("nothing to join: the Map produced no items")
    fmt = _format(ctx.items, options.format)
    target = ctx.temp_dir() / f"joined.{fmt}"
    _JOINERS[fmt](ctx.items, target, options)
    ctx.write_output(target, content_type=CONTENT_TYPES[fmt], format=fmt)
    ctx.report.update({"format": fmt, "parts": len(ctx.items)})


def _format(items: list[Item], choice: str) -> str:
    """The parts' format (``choice``, else the first part's); rejects a part that is
    plainly in another."""
    fmt = choice if choice != "auto" else _item_format(items[0])
    if fmt not in JOINABLE:
        raise Reject(
            f"cannot tell the format of the first item, {items[0].key!r}, as one of "
            f"{', '.join(JOINABLE)}: set the step's format option"
        )
    for item in items:
        found = _item_format(item)
        if found is not None and found != fmt:
            raise Reject(f"item {item.index} ({item.key!r}) is {found}, not {fmt}")
    return fmt


def _item_format(item: Item) -> str | None:
    suffix = PurePosixPath(item.key).suffix.lower()
    content_type = item.content_type.partition(";")[0].strip().lower()
    return SUFFIX_FORMATS.get(suffix) or CONTENT_TYPE_FORMATS.get(content_type)


# --- Parquet ---------------------------------------------------------------------------


def _join_parquet(items: list[Item], target: Path, options: JoinOptions) -> None:
    import pyarrow.parquet as pq

    first = _parquet_file(items[0], options)
    schema = first.schema_arrow
    first.close()
    groups = 0
    # An open file, not a path: a writer that refuses the schema must not leak its file.
    with (
        target.open("wb") as sink,
        pq.ParquetWriter(sink, schema, compression=options.compression) as writer,
    ):
        for item in items:
            with _parquet_file(item, options) as part:
                for table in _part_tables(item, part, schema):
                    groups += 1
                    check_column_chunks(
                        len(schema),
                        groups,
                        options.max_column_chunks,
                        "the joined Parquet file",
                        "convert with larger row groups",
                    )
                    writer.write_table(table)
                    del table  # see writers._write_parquet


def _parquet_file(item: Item, options: JoinOptions) -> pq.ParquetFile:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = item.path()
    try:
        check_footer(path, options.max_column_chunks, "join")
        return pq.ParquetFile(path)
    except Reject as exc:
        raise Reject(f"item {item.index} ({item.key!r}): {exc.message}") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise Reject(
            f"item {item.index} ({item.key!r}) is not a Parquet file: {shorten(str(exc))}"
        ) from None


def _part_tables(item: Item, part: pq.ParquetFile, schema: pa.Schema) -> Iterator[pa.Table]:
    """The part's row groups, one table each, cast to ``schema`` if need be."""
    import pyarrow as pa

    own = part.schema_arrow
    cast = not own.equals(schema, check_metadata=False)
    if cast and not _same_columns(own, schema):
        raise Reject(
            f"item {item.index} ({item.key!r}) has the columns {_columns(own)}, where the "
            f"first item has {_columns(schema)}"
        )
    for index in range(part.num_row_groups):
        table = part.read_row_group(index)
        if cast:
            try:
                table = table.cast(schema)
            except (pa.ArrowInvalid, ValueError) as exc:
                raise Reject(
                    f"item {item.index} ({item.key!r}) does not fit the first item's "
                    f"columns: {shorten(str(exc))}"
                ) from None
        yield table
        del table


def _same_columns(schema: pa.Schema, other: pa.Schema) -> bool:
    """Same names and types, nullability and metadata aside."""
    return schema.names == other.names and all(
        field.type.equals(theirs.type) for field, theirs in zip(schema, other, strict=True)
    )


def _columns(schema: pa.Schema) -> str:
    return shorten(", ".join(f"{field.name}: {field.type}" for field in schema))


# --- CSV and NDJSON ----------------------------------------------------------------------


class _Concatenation:
    """Parts written one after another, each starting on a line of its own."""

    def __init__(self, out: IO[bytes], newline: bytes = b"\n") -> None:
        self._out = out
        self.newline = newline
        self._ended = True

    def add(self, pieces: Iterable[bytes]) -> None:
        """Writes one part (its pieces in order)."""
        started = False
        for piece in pieces:
            if piece:
                if not started and not self._ended:
                    self._out.write(self.newline)
                started = True
                self._out.write(piece)
                self._ended = piece.endswith(b"\n")


def _join_csv(items: list[Item], target: Path, options: JoinOptions) -> None:
    header: bytes | None = None
    with target.open("wb") as out:
        joined = _Concatenation(out)
        for item in items:
            with item.path().open("rb") as part:
                own = _csv_header(item, part)
                if header is None and not own:
                    continue  # an empty part: the header comes from the next
                if header is None:
                    header = own
                    joined.newline = b"\r\n" if own.endswith(b"\r\n") else b"\n"
                    joined.add([own])
                elif own and own.strip(b"\r\n") != header.strip(b"\r\n"):
                    raise Reject(
                        f"item {item.index} ({item.key!r}) has the CSV header "
                        f"{_shown(own)}, where the first item has {_shown(header)}"
                    )
                joined.add(_rest(part))


def _csv_header(item: Item, part: IO[bytes]) -> bytes:
    """The part's header line (with any blank lines before it); the stream is left just
    after it."""
    scanner = RowScanner(part, quoted=True)
    scanner.skip_line_ends()
    scanner.row_end()
    if scanner.inside_quotes:
        raise Reject(f"item {item.index} ({item.key!r}): {unterminated_quote(0).message}")
    if scanner.position > MAX_HEADER_BYTES:
        raise Reject(f"item {item.index} ({item.key!r}): the CSV header line is too long")
    part.seek(0)
    return part.read(scanner.position)


def _shown(header: bytes) -> str:
    return repr(shorten(header.strip(b"\r\n").decode("utf-8", "replace")))


def _join_ndjson(items: list[Item], target: Path, options: JoinOptions) -> None:
    with target.open("wb") as out:
        joined = _Concatenation(out)
        for item in items:
            with item.open() as part:
                joined.add(_rest(part))


def _rest(stream: IO[bytes]) -> Iterator[bytes]:
    while piece := stream.read(CHUNK):
        yield piece


_JOINERS: dict[str, Callable[[list[Item], Path, JoinOptions], None]] = {
    "parquet": _join_parquet,
    "csv": _join_csv,
    "ndjson": _join_ndjson,
}
