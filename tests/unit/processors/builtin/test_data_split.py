"""``data.split`` and the row scanner under it: chunks of whole rows on raw bytes, the
column types CSV chunks carry to ``data.convert``, and hostile input.

Every input is generated here; chunk boundaries are checked against the stdlib csv module.
"""

from __future__ import annotations

import csv
import io
import random
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from chute.errors import Reject
from chute.jobs import StagedOutput
from chute.processors.base import local_context
from chute.processors.builtin import data
from chute.processors.builtin.data.boundaries import RowScanner
from chute.processors.builtin.data.column_types import (
    SCHEMA_KEY,
    decode_schema,
    encode_schema,
)
from chute.processors.registry import ProcessorSpec, get_processor

# --- helpers -----------------------------------------------------------------------------


def _spec(func: Any) -> ProcessorSpec:
    spec: ProcessorSpec = func.__chute_processor__
    return spec


def _split(
    source: bytes, key: str = "t.csv", content_type: str = "text/csv", **options: Any
) -> list[StagedOutput]:
    """The outputs of ``data.split`` over ``source``."""
    spec = _spec(data.split)
    ctx = local_context(
        source,
        key=key,
        content_type=content_type,
        options=spec.parse_options(options),
        output_template=spec.output_template,
    )
    try:
        data.split(ctx)
    finally:
        ctx.close()
    return ctx.outputs


def _bodies(outputs: list[StagedOutput]) -> list[bytes]:
    return [output.data or b"" for output in outputs]


def _rejected(source: bytes, key: str = "t.csv", **options: Any) -> str:
    with pytest.raises(Reject) as caught:
        _split(source, key, **options)
    return caught.value.message


def _convert(
    source: bytes, key: str, metadata: dict[str, str] | None = None, item: int | None = 0
) -> pa.Table:
    """``data.convert`` of a CSV to Parquet (by default as an item of a Map), read back."""
    spec = _spec(data.convert)
    ctx = local_context(
        source,
        key=key,
        content_type="text/csv",
        options=spec.parse_options({"to": "parquet"}),
        output_template=spec.output_template,
        metadata=metadata,
        item_index=item,
    )
    try:
        data.convert(ctx)
    finally:
        ctx.close()
    return pq.read_table(io.BytesIO(ctx.outputs[0].data or b""))


def _messy_csv(rows: int, seed: int = 7, newline: str = "\n") -> bytes:
    """A CSV with quoted commas, doubled quotes and line breaks inside quoted fields."""
    rng = random.Random(seed)
    lines = ["id,name,score"]
    for row in range(rows):
        name = rng.choice(["plain", "with, comma", 'say ""hi""', "two\nlines", "cr\r\nlf", ""])
        quoted = f'"{name}"' if rng.random() < 0.7 or any(c in name for c in ',"\r\n') else name
        lines.append(f"{row},{quoted},{rng.random():.3f}")
    return (newline.join(lines) + newline).encode()


def _rows(source: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(source.decode(), newline="")))


# --- registration and options ------------------------------------------------------------


def test_registered_with_its_defaults() -> None:
    spec = get_processor("data.split")
    assert spec.output_template == "{stem}.parts/{part}.{ext}"
    options = spec.parse_options({})
    assert (options.format, options.chunk_bytes, options.rows, options.header) == (
        "auto",
        16 * 1024 * 1024,
        None,
        True,
    )
    for bad in ({"chunk_bytes": 0}, {"rows": 0}, {"format": "json"}, {"chunk": 1}):
        with pytest.raises(ValidationError):
            spec.parse_options(bad)


# --- the row scanner ---------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64])
def test_row_ends_skip_line_breaks_inside_quotes_at_any_block_size(block: int) -> None:
    source = _messy_csv(60, seed=block)
    scanner = RowScanner(io.BytesIO(source), quoted=True, block=block)
    ends = []
    while scanner.row_end():
        ends.append(scanner.position)
    pieces = [source[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    assert b"".join(pieces) == source
    assert all(len(_rows(piece)) == 1 for piece in pieces)
    assert len(pieces) == 61


@pytest.mark.parametrize("block", [1, 5, 64, 1 << 20])
def test_row_ends_counts_rows_and_stops_at_the_byte_limit(block: int) -> None:
    source = _messy_csv(100, seed=3, newline="\r\n")
    scanner = RowScanner(io.BytesIO(source), quoted=True, block=block)
    assert scanner.row_ends(11, len(source)) == 11
    assert len(_rows(source[: scanner.position])) == 11
    start = scanner.position
    passed = scanner.row_ends(1000, start + 50)
    assert scanner.position - start >= 50
    piece = source[start : scanner.position]
    assert len(_rows(piece)) == passed
    assert len(_rows(source[start : scanner.position - 1])) == passed  # the last row ended it


def test_ndjson_lines_ignore_quotes() -> None:
    scanner = RowScanner(io.BytesIO(b'{"a": "\\""}\n{"b": 1}\n'), quoted=False, block=4)
    assert scanner.row_ends(5, 100) == 2
    assert not scanner.inside_quotes


# --- data.split: chunks ------------------------------------------------------------------


def test_chunks_repeat_the_header_and_hold_whole_rows() -> None:
    source = _messy_csv(500)
    outputs = _split(source, chunk_bytes=1000)
    assert len(outputs) > 5
    assert [o.key for o in outputs[:2]] == ["t.parts/000000.csv", "t.parts/000001.csv"]
    rows = [_rows(body) for body in _bodies(outputs)]
    assert all(chunk[0] == ["id", "name", "score"] for chunk in rows)
    assert [r for chunk in rows for r in chunk[1:]] == _rows(source)[1:]
    assert all(o.content_type == "text/csv" for o in outputs)
    assert [o.metadata["chunk"] for o in outputs] == [str(i) for i in range(len(outputs))]


def test_a_chunk_ends_at_the_first_row_end_past_chunk_bytes() -> None:
    source = b"h\n" + b"".join(b"%03d\n" % i for i in range(10))  # rows of 4 bytes
    assert _bodies(_split(source, chunk_bytes=8))[:2] == [b"h\n000\n001\n", b"h\n002\n003\n"]
    assert _bodies(_split(source, chunk_bytes=9))[0] == b"h\n000\n001\n002\n"
    assert len(_split(source, chunk_bytes=1)) == 10


def test_without_header_the_chunks_are_the_file() -> None:
    source = _messy_csv(300, newline="\r\n")
    outputs = _split(source, chunk_bytes=700, header=False)
    assert b"".join(_bodies(outputs)) == source
    assert all(SCHEMA_KEY not in o.metadata for o in outputs)


def test_a_quoted_line_break_is_not_a_row_end() -> None:
    source = b'a,b\n1,"x\ny\nz"\n2,"p\r\nq"\r\n3,""""\n'
    assert _bodies(_split(source, chunk_bytes=1)) == [
        b'a,b\n1,"x\ny\nz"\n',
        b'a,b\n2,"p\r\nq"\r\n',
        b'a,b\n3,""""\n',
    ]


def test_a_row_longer_than_chunk_bytes_makes_a_chunk_of_its_own() -> None:
    long = b"2," + b"x" * 5000 + b"\n"
    source = b"a,b\n1,y\n" + long + b"3,z\n"
    assert _bodies(_split(source, chunk_bytes=100)) == [
        b"a,b\n1,y\n" + long,
        b"a,b\n3,z\n",
    ]


def test_rows_option_counts_rows_and_the_last_unterminated_one() -> None:
    source = b'a\n1\n"2\n2"\n3\n4\n5'
    outputs = _split(source, rows=2)
    assert _bodies(outputs) == [b'a\n1\n"2\n2"\n', b"a\n3\n4\n", b"a\n5"]
    assert [o.metadata["rows"] for o in outputs] == ["2", "2", "1"]


def test_rows_and_chunk_bytes_whichever_comes_first() -> None:
    source = b"a\n" + b"".join(b"%d\n" % i for i in range(100))
    outputs = _split(source, rows=30, chunk_bytes=20)
    assert [o.metadata["rows"] for o in outputs][:2] == ["10", "7"]
    assert [r for b in _bodies(outputs) for r in b.split(b"\n")[1:-1]] == source.split(b"\n")[1:-1]


def test_missing_final_newline_keeps_the_last_row() -> None:
    assert _bodies(_split(b"a,b\r\n1,2\r\n3,4", chunk_bytes=1)) == [
        b"a,b\r\n1,2\r\n",
        b"a,b\r\n3,4",
    ]


def test_a_header_only_csv_is_one_chunk_of_its_header() -> None:
    assert _bodies(_split(b"a,b,c\n")) == [b"a,b,c\n"]
    assert _bodies(_split(b"a,b,c")) == [b"a,b,c"]
    assert _bodies(_split(b'\n\r\n"a\nb",c\r\n')) == [b'\n\r\n"a\nb",c\r\n']
    # Converted and joined, it is what one conversion of the file writes.
    (chunk,) = _split(b"a,b,c\n")
    assert _convert(chunk.data or b"", chunk.key, chunk.metadata).equals(
        _convert(b"a,b,c\n", "t.csv", item=None)
    )


def test_rows_ending_in_a_bare_carriage_return_are_refused() -> None:
    assert "bare carriage return" in _rejected(b"a,b\r1,2\r3,4\r")


def test_blank_lines_before_the_header_stay_with_it() -> None:
    assert _bodies(_split(b"\n\na,b\n1,2\n3,4\n", chunk_bytes=1))[1] == b"\n\na,b\n3,4\n"


def test_ndjson_is_split_on_lines_without_a_header() -> None:
    source = b'{"a": "x\\ny", "q": "\\""}\n{"a": 2}\n{"a": 3}\n'
    outputs = _split(source, key="logs/day.jsonl", content_type="application/x-ndjson", rows=2)
    assert [o.key for o in outputs] == [
        "logs/day.parts/000000.jsonl",
        "logs/day.parts/000001.jsonl",
    ]
    assert b"".join(_bodies(outputs)) == source
    assert [o.content_type for o in outputs] == ["application/x-ndjson"] * 2
    assert SCHEMA_KEY not in outputs[0].metadata


def test_a_key_without_extension_gets_the_formats() -> None:
    outputs = _split(b"a\n1\n", key="upload", content_type="text/csv")
    assert outputs[0].key == "upload.parts/000000.csv"


# --- data.split: hostile input -----------------------------------------------------------


def test_empty_and_blank_files_are_rejected() -> None:
    assert _rejected(b"") == "empty file: nothing to split"
    assert "blank file" in _rejected(b"\n \r\n\t\n")


def test_an_unterminated_quote_is_rejected() -> None:
    assert "unterminated quote" in _rejected(b'a,b\n1,2\n3,"never closed\n4,5\n', chunk_bytes=1)
    assert "unterminated quote" in _rejected(b'a,b\n1,"x\n', rows=5)
    assert "unterminated quote" in _rejected(b'"a,b\n1,2\n')


def test_a_format_it_cannot_split_is_rejected() -> None:
    assert "cannot tell the format" in _rejected(b"[1]", key="x.json")
    assert "cannot tell the format" in _rejected(b"PAR1", key="x.parquet")


def test_a_million_one_byte_rows_split_quickly_in_bounded_pieces() -> None:
    source = b"a\n" + b"\n" * 1_000_000
    outputs = _split(source, rows=400_000)
    assert [o.metadata["rows"] for o in outputs] == ["400000", "400000", "200000"]


# --- column types --------------------------------------------------------------------------


def test_csv_chunks_carry_the_files_inferred_schema_compactly() -> None:
    source = b"id,price,note,day\n" + b"1,2.5,,2024-01-02\n" * 10 + b"2,3,x,2024-01-03\n"
    outputs = _split(source, chunk_bytes=1)
    text = outputs[-1].metadata[SCHEMA_KEY]
    assert len(text) < 400
    schema = decode_schema(text)
    assert schema.names == ["id", "price", "note", "day"]
    assert [str(kind) for kind in schema.types] == ["int64", "double", "string", "date32[day]"]


def test_a_schema_too_large_to_carry_is_left_out() -> None:
    header = ",".join(f"column_{i}_{'x' * 20}" for i in range(3000)).encode()
    outputs = _split(header + b"\n" + b",".join([b"1"] * 3000) + b"\n")
    assert outputs
    assert SCHEMA_KEY not in outputs[0].metadata


def test_convert_uses_the_chunks_column_types() -> None:
    source = b"id,price,extra\n" + b"1,2.5,7\n" * 5 + b"2,3,\n"
    last = _split(source, chunk_bytes=1)[-1]
    alone = _convert(last.data or b"", "t.parts/000005.csv")
    assert alone.schema.field("price").type == pa.int64()  # what the chunk would infer
    typed = _convert(last.data or b"", "t.parts/000005.csv", last.metadata)
    assert [str(kind) for kind in typed.schema.types] == ["int64", "double", "int64"]
    assert typed.column("extra").to_pylist() == [None]
    # An uploaded object is no Map item: column types in its metadata are not read.
    uploaded = _convert(last.data or b"", "t.csv", last.metadata, item=None)
    assert uploaded.schema == alone.schema


@pytest.mark.parametrize(
    "value",
    ["not base64!", "aGVsbG8=", (encode_schema(pa.schema([pa.field("a", pa.int8())])) or "")[:-8]],
)
def test_convert_rejects_metadata_that_is_no_schema(value: str) -> None:
    with pytest.raises(Reject, match="not a serialised Arrow schema"):
        _convert(b"a\n1\n", "x.csv", {SCHEMA_KEY: value})


def test_convert_never_expands_a_compressed_bomb() -> None:
    import base64
    import zlib

    bomb = base64.b64encode(zlib.compress(b"\0" * (64 * 1024 * 1024), 9)).decode()
    with pytest.raises(Reject, match="too long"):
        _convert(b"a\n1\n", "x.csv", {SCHEMA_KEY: bomb})


def test_rows_counted_over_many_quoted_windows_match_the_csv_module() -> None:
    source = _messy_csv(20_000, seed=11)  # ~400 KB: several scanner windows
    outputs = _split(source, rows=3000)
    parsed = [_rows(body)[1:] for body in _bodies(outputs)]
    assert [len(rows) for rows in parsed] == [int(o.metadata["rows"]) for o in outputs]
    assert [row for rows in parsed for row in rows] == _rows(source)[1:]
    assert [o.metadata["rows"] for o in outputs[:6]] == ["3000"] * 6
