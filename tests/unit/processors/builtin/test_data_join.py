"""``data.join`` over a Map's items, and the property the Map is for: split, convert each
chunk, join equals converting the file at once.

Every input is generated here; Parquet outputs are read back with pyarrow.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chute.errors import Reject
from chute.processors.base import local_context
from chute.processors.builtin import data
from chute.processors.registry import ProcessorSpec, get_processor

Items = Sequence[tuple[str, bytes, str, dict[str, str]]]
PARQUET = "application/vnd.apache.parquet"


def _spec(func: Any) -> ProcessorSpec:
    spec: ProcessorSpec = func.__chute_processor__
    return spec


def _run(func: Any, source: bytes, key: str, items: Items = (), **options: Any) -> Any:
    spec = _spec(func)
    ctx = local_context(
        source,
        key=key,
        options=spec.parse_options(options),
        output_template=spec.output_template,
        items=items,
    )
    try:
        func(ctx)
    finally:
        ctx.close()
    return ctx


def _join(items: Items, **options: Any) -> tuple[str, bytes]:
    ctx = _run(data.join, b"", "orders.csv", items, **options)
    (output,) = ctx.outputs
    return output.key, output.data


def _rejected(items: Items, **options: Any) -> str:
    with pytest.raises(Reject) as caught:
        _join(items, **options)
    return caught.value.message


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _read(body: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(body))


# --- registration --------------------------------------------------------------------------


def test_registered_with_its_defaults() -> None:
    spec = get_processor("data.join")
    assert spec.output_template == "{stem}.{format}"
    options = spec.parse_options({})
    assert (options.format, options.compression) == ("auto", "zstd")


def test_no_items_is_rejected() -> None:
    assert _rejected([]) == "nothing to join: the Map produced no items"


# --- Parquet -------------------------------------------------------------------------------


def test_parquet_parts_join_in_order() -> None:
    parts = [pa.table({"id": list(range(i * 10, i * 10 + 10))}) for i in range(3)]
    items: Items = [(f"p/{i}.parquet", _parquet(t), PARQUET, {}) for i, t in enumerate(parts)]
    key, body = _join(items, compression="gzip")
    assert key == "orders.parquet"
    assert _read(body).column("id").to_pylist() == list(range(30))
    assert pq.ParquetFile(io.BytesIO(body)).metadata.row_group(0).column(0).compression == "GZIP"


def test_parquet_parts_differing_only_in_nullability_are_cast() -> None:
    strict = pa.schema([pa.field("id", pa.int64(), nullable=False)], metadata={b"k": b"v"})
    items: Items = [
        ("0.parquet", _parquet(pa.table({"id": [1]}, schema=strict)), PARQUET, {}),
        ("1.parquet", _parquet(pa.table({"id": [2, 3]})), PARQUET, {}),
    ]
    joined = _read(_join(items)[1])
    assert joined.column("id").to_pylist() == [1, 2, 3]
    assert not joined.schema.field("id").nullable


def test_a_null_cannot_be_cast_into_a_required_column() -> None:
    strict = pa.schema([pa.field("id", pa.int64(), nullable=False)])
    items: Items = [
        ("0.parquet", _parquet(pa.table({"id": [1]}, schema=strict)), PARQUET, {}),
        (
            "1.parquet",
            _parquet(pa.table({"id": [None]}, schema=pa.schema([("id", pa.int64())]))),
            PARQUET,
            {},
        ),
    ]
    assert "item 1 ('1.parquet') does not fit" in _rejected(items)


def test_a_real_schema_mismatch_names_the_item() -> None:
    items: Items = [
        ("0.parquet", _parquet(pa.table({"id": [1]})), PARQUET, {}),
        ("1.parquet", _parquet(pa.table({"id": ["one"]})), PARQUET, {}),
    ]
    reason = _rejected(items)
    assert "item 1 ('1.parquet') has the columns id: string" in reason
    assert "id: int64" in reason


def test_a_part_that_is_not_parquet_is_rejected() -> None:
    items: Items = [
        ("0.parquet", _parquet(pa.table({"id": [1]})), PARQUET, {}),
        ("1.parquet", b"PAR1 but not really", PARQUET, {}),
    ]
    assert "item 1 ('1.parquet') is not a Parquet file" in _rejected(items)


def test_a_part_in_another_format_is_rejected() -> None:
    items: Items = [
        ("0.parquet", _parquet(pa.table({"id": [1]})), PARQUET, {}),
        ("1.csv", b"id\n2\n", "text/csv", {}),
    ]
    assert _rejected(items) == "item 1 ('1.csv') is csv, not parquet"
    assert "cannot tell the format" in _rejected([("0.bin", b"x", "", {})])


# --- CSV and NDJSON ------------------------------------------------------------------------


def test_csv_parts_keep_one_header_and_end_their_lines() -> None:
    items: Items = [
        ("0.csv", b"a,b\r\n1,2", "text/csv", {}),
        ("1.csv", b"a,b\r\n", "text/csv", {}),
        ("2.csv", b"", "text/csv", {}),
        ("3.csv", b'a,b\r\n3,"x\r\ny"\r\n', "text/csv", {}),
    ]
    assert _join(items) == ("orders.csv", b'a,b\r\n1,2\r\n3,"x\r\ny"\r\n')


def test_an_empty_first_csv_part_leaves_the_header_to_the_next() -> None:
    items: Items = [
        ("0.csv", b"", "text/csv", {}),
        ("1.csv", b"a,b\n1,2\n", "text/csv", {}),
        ("2.csv", b"a,b\n3,4\n", "text/csv", {}),
    ]
    assert _join(items) == ("orders.csv", b"a,b\n1,2\n3,4\n")


def test_a_different_csv_header_is_rejected() -> None:
    items: Items = [
        ("0.csv", b"a,b\n1,2\n", "text/csv", {}),
        ("1.csv", b"a,c\n3,4\n", "text/csv", {}),
    ]
    assert (
        _rejected(items)
        == "item 1 ('1.csv') has the CSV header 'a,c', where the first item has 'a,b'"
    )


def test_ndjson_parts_are_concatenated_line_by_line() -> None:
    items: Items = [
        ("0.ndjson", b'{"a": 1}', "application/x-ndjson", {}),
        ("1.ndjson", b'{"a": 2}\n', "application/x-ndjson", {}),
        ("2.ndjson", b'{"a": 3}\n', "application/x-ndjson", {}),
    ]
    assert _join(items, format="ndjson") == ("orders.ndjson", b'{"a": 1}\n{"a": 2}\n{"a": 3}\n')


# --- split, convert each chunk, join ------------------------------------------------------


def _mixed_csv(rows: int, newline: str) -> bytes:
    """~5 MB for 100k rows: integers, decimals that are whole numbers late in the file,
    a column empty late in the file, dates, booleans and text with quoted commas, quotes and
    line breaks."""
    rng = random.Random(rows)
    texts = ["plain", '"with, comma"', '"say ""hi"""', '"two\nlines"', '"cr\r\nlf"', ""]
    lines = ["id,amount,maybe,day,flag,text,tail"]
    for row in range(rows):
        late = row > rows // 3
        amount = str(rng.randint(0, 999)) if late else f"{rng.random() * 1000:.2f}"
        maybe = "" if late else str(rng.randint(-5, 5))
        day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        flag = rng.choice(["true", "false", ""])
        text = rng.choice(texts)
        lines.append(f"{row},{amount},{maybe},{day},{flag},{text},{'x' * rng.randint(0, 20)}")
    return (newline.join(lines) + newline).encode()


def _convert(
    body: bytes, key: str, item: int | None = None, metadata: dict[str, str] | None = None
) -> bytes:
    """``data.convert`` to Parquet; with ``item``, of a Map's item carrying ``metadata``."""
    spec = _spec(data.convert)
    ctx = local_context(
        body,
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
    return ctx.outputs[0].data or b""


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_split_convert_join_equals_one_conversion(newline: str) -> None:
    source = _mixed_csv(100_000, newline)
    assert len(source) > 4_500_000
    chunks = _run(data.split, source, "orders.csv", chunk_bytes=300_000).outputs
    assert len(chunks) > 10
    converted: Items = [
        (f"{c.key}.parquet", _convert(c.data, c.key, i, c.metadata), PARQUET, {})
        for i, c in enumerate(chunks)
    ]
    joined = _read(_join(converted)[1])
    whole = _read(_convert(source, "orders.csv"))
    assert whole.schema.field("amount").type == pa.float64()
    assert whole.schema.field("maybe").type == pa.int64()
    assert joined.equals(whole)
    assert joined.schema == whole.schema
    # without the carried column types, a late chunk alone infers other types
    alone = _read(_convert(chunks[-1].data, chunks[-1].key))
    assert alone.schema.field("amount").type == pa.int64()
    assert alone.schema.field("maybe").type == pa.null()
