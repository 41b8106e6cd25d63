"""``data.validate`` and ``data.convert``: options, outputs, row numbers, and hostile input.

Every input is generated here; Parquet outputs are read back with pyarrow.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from chute.errors import Reject
from chute.processors.base import Context, MemorySink, local_context
from chute.processors.builtin import data
from chute.processors.builtin.data.records import deeper_than
from chute.processors.registry import ProcessorSpec

MIB = 1024 * 1024
COLUMNS = [
    {"name": "id", "type": "integer", "required": True},
    {"name": "email", "type": "string", "pattern": "^[^@]+@[^@]+$"},
    {"name": "born", "type": "date"},
]
USER_SCHEMA = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "score": {"type": ["number", "null"]},
    },
}

# --- helpers -----------------------------------------------------------------------------


def _spec(func: Any) -> ProcessorSpec:
    spec: ProcessorSpec = func.__chute_processor__
    return spec


def _context(
    func: Any, source: bytes | Path, key: str, sink: MemorySink | None = None, **options: Any
) -> Context:
    spec = _spec(func)
    return local_context(
        source,
        key=key,
        options=spec.parse_options(options),
        output_template=spec.output_template,
        sink=sink,
    )


def _run(func: Any, source: bytes | Path, key: str, **options: Any) -> tuple[Context, MemorySink]:
    """Runs the processor; returns its context and the sink holding its outputs."""
    sink = MemorySink()
    ctx = _context(func, source, key, sink, **options)
    try:
        func(ctx)
    finally:
        ctx.close()
    return ctx, sink


def _rejected(func: Any, source: bytes | Path, key: str, **options: Any) -> str:
    """The reason the processor rejects the source with."""
    with pytest.raises(Reject) as caught:
        _run(func, source, key, **options)
    return caught.value.message


def _report(source: bytes, key: str, **options: Any) -> dict[str, Any]:
    """The JSON report ``data.validate`` writes in report mode."""
    _, sink = _run(data.validate, source, key, on_invalid="report", **options)
    stem = key.rpartition(".")[0]
    report: dict[str, Any] = json.loads(sink.files[f"{stem}.validation.json"])
    return report


def _csv(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def _parquet(sink: MemorySink, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(sink.files[key]))


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_importing_the_processors_leaves_heavy_libraries_unloaded() -> None:
    code = (
        "import sys, chute.processors.builtin.data;"
        " print({'pyarrow', 'jsonschema'} & set(sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.returncode, result.stdout.strip()) == (0, "set()")


# --- data.validate: options --------------------------------------------------------------


def test_options_need_exactly_one_schema() -> None:
    spec = _spec(data.validate)
    with pytest.raises(ValidationError, match="exactly one"):
        spec.parse_options({})
    with pytest.raises(ValidationError, match="exactly one"):
        spec.parse_options({"schema": {"type": "object"}, "columns": COLUMNS})


def test_options_check_the_schema_and_patterns() -> None:
    spec = _spec(data.validate)
    with pytest.raises(ValidationError, match="not a valid JSON Schema"):
        spec.parse_options({"schema": {"type": "no-such-type"}})
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        spec.parse_options({"columns": [{"name": "a", "pattern": "("}]})
    with pytest.raises(ValidationError, match="each name may appear once"):
        spec.parse_options({"columns": [{"name": "a"}, {"name": "a"}]})
    with pytest.raises(ValidationError, match="on_invalid"):
        spec.parse_options({"columns": COLUMNS, "on_invalid": "ignore"})


# --- data.validate: CSV ------------------------------------------------------------------


def test_valid_csv_reports_no_errors() -> None:
    source = _csv(["id,email,born", "1,a@example.com,2001-02-03", "2,,"])
    ctx, sink = _run(data.validate, source, "in/users.csv", columns=COLUMNS, on_invalid="report")
    assert list(sink.files) == ["in/users.validation.json"]
    report = json.loads(sink.files["in/users.validation.json"])
    assert report["rows"] == 2
    assert report["invalid"] == 0
    assert report["errors"] == []
    assert ctx.report == {"rows": 2, "invalid": 0, "errors": []}


def test_csv_rows_count_the_header_as_row_one() -> None:
    source = _csv(
        [
            "id,email,born",
            "1,a@example.com,2001-02-03",
            ",b@example.com,",
            "x3,c@example.com,2001-13-01",
            "",
            "4,nobody,",
        ]
    )
    report = _report(source, "users.csv", columns=COLUMNS)
    assert (report["rows"], report["invalid"], report["error_count"]) == (4, 3, 4)
    assert [(e["row"], e["path"]) for e in report["errors"]] == [
        (3, "$"),
        (4, "$.id"),
        (4, "$.born"),
        (5, "$.email"),
    ]
    assert report["errors"][0]["message"] == "'id' is a required property"
    assert report["errors"][1]["message"] == "'x3' is not of type 'integer'"


def test_fail_mode_rejects_with_a_summary_and_writes_nothing() -> None:
    source = _csv(["id,email,born", "1,a@example.com,", ",b@example.com,", ",c@example.com,"])
    ctx = _context(data.validate, source, "users.csv", columns=COLUMNS)
    with pytest.raises(Reject) as caught:
        data.validate(ctx)
    assert caught.value.message == (
        "2 invalid rows of 3; first: row 3: 'id' is a required property"
    )
    assert ctx.outputs == []
    assert ctx.report["invalid"] == 2


def test_errors_are_capped_but_all_counted() -> None:
    rows = ["id,email,born"] + [f"x{n},," for n in range(300)]
    report = _report(_csv(rows), "users.csv", columns=COLUMNS, max_errors=5)
    assert (report["invalid"], report["error_count"]) == (300, 300)
    assert [e["row"] for e in report["errors"]] == [2, 3, 4, 5, 6]
    assert report["errors_truncated"] is True


def test_csv_cells_are_converted_as_the_json_schema_declares() -> None:
    source = _csv(["id,name,score", "1,007,2.5", "2,,", "abc,x,1e3", ",y,high"])
    report = _report(source, "scores.csv", schema=USER_SCHEMA)
    assert report["rows"] == 4
    assert [(e["row"], e["path"], e["message"]) for e in report["errors"]] == [
        (4, "$.id", "'abc' is not of type 'integer'"),
        (5, "$", "'id' is a required property"),
        (5, "$.score", "'high' is not of type 'number', 'null'"),
    ]


def test_column_types_boolean_number_datetime() -> None:
    columns = [
        {"name": "ok", "type": "boolean"},
        {"name": "n", "type": "number"},
        {"name": "at", "type": "datetime"},
    ]
    source = _csv(["ok,n,at", "TRUE,-1.5e2,2024-01-02T03:04:05Z", "maybe,1_0,yesterday"])
    report = _report(source, "t.csv", columns=columns)
    assert [e["path"] for e in report["errors"]] == ["$.ok", "$.n", "$.at"]
    assert {e["row"] for e in report["errors"]} == {3}


def test_ragged_csv_rows_are_invalid_rows() -> None:
    source = _csv(["id,email,born", "1,a@example.com,", "2,b@example.com", "3,c,d,e"])
    report = _report(source, "users.csv", columns=COLUMNS)
    assert [(e["row"], e["message"]) for e in report["errors"]] == [
        (3, "row has 2 cells, the header has 3"),
        (4, "row has 4 cells, the header has 3"),
    ]


def test_csv_with_a_quoted_line_break_counts_records() -> None:
    source = b'id,email,born\n1,"a\nb@example.com",\nx,c@example.com,\n'
    report = _report(source, "users.csv", columns=COLUMNS)
    assert [(e["row"], e["path"]) for e in report["errors"]] == [(3, "$.id")]


def test_csv_invalid_utf8_names_the_byte_offset_and_line() -> None:
    source = b"id,email,born\n1,a@example.com,\n2,b\xff@example.com,\n"
    reason = _rejected(data.validate, source, "users.csv", columns=COLUMNS)
    assert source.index(b"\xff") == 34
    assert reason.startswith("invalid UTF-8 at byte offset 34 (line 3)")


def test_csv_invalid_utf8_far_into_a_large_file() -> None:
    rows = ["id,email,born"] + [f"{n},é{n}@example.com," for n in range(100_000)]
    source = _csv(rows) + b"7,\xc3(,\n"
    reason = _rejected(data.validate, source, "users.csv", columns=COLUMNS)
    offset = source.rindex(b"\xc3")
    assert f"byte offset {offset} (line 100002)" in reason


def test_ten_megabyte_field_validates(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"id,email,born\n1,a@" + b"x" * (10 * MIB) + b",\n2,b@example.com,\n")
    report = _report(path.read_bytes(), "big.csv", columns=COLUMNS)
    assert (report["rows"], report["invalid"]) == (2, 0)


def test_field_over_max_field_bytes_is_rejected() -> None:
    source = b"id,email,born\n1,a@example.com,\n2,b@" + b"x" * (2 * MIB) + b",\n"
    reason = _rejected(data.validate, source, "big.csv", columns=COLUMNS, max_field_bytes=MIB)
    assert reason == f"CSV row 3: a field is larger than max_field_bytes ({MIB})"


def test_line_over_max_row_bytes_is_rejected() -> None:
    source = b"id,email,born\n" + b"1,a@example.com,\n" * 3 + b"2," * 1000 + b"\n"
    reason = _rejected(data.validate, source, "big.csv", columns=COLUMNS, max_row_bytes=1000)
    assert reason == "line 5 is longer than max_row_bytes (1000)"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("empty.csv", "empty file: no CSV header"),
        ("empty.json", "empty file: no JSON document"),
        ("empty.ndjson", "empty file: no NDJSON records"),
    ],
)
def test_empty_file_is_rejected(key: str, expected: str) -> None:
    assert _rejected(data.validate, b"", key, columns=COLUMNS) == expected


# --- data.validate: JSON and NDJSON ------------------------------------------------------


def test_json_array_rows_are_index_plus_one() -> None:
    records = [{"id": 1, "name": "a"}, {"name": "b"}, {"id": "3"}, {"id": 4, "score": None}]
    report = _report(json.dumps(records).encode(), "users.json", schema=USER_SCHEMA)
    assert [(e["row"], e["message"]) for e in report["errors"]] == [
        (2, "'id' is a required property"),
        (3, "'3' is not of type 'integer'"),
    ]


def test_json_object_is_one_record() -> None:
    report = _report(b'{"name": "a"}', "user.json", schema=USER_SCHEMA)
    assert (report["rows"], report["invalid"]) == (1, 1)


def test_json_records_against_columns_keep_their_types() -> None:
    records = [{"id": 1, "born": "2001-02-03"}, {"id": "2"}, {"id": True}, "text"]
    report = _report(json.dumps(records).encode(), "users.json", columns=COLUMNS)
    assert [(e["row"], e["path"]) for e in report["errors"]] == [(2, "$.id"), (3, "$.id"), (4, "$")]


def test_ndjson_rows_are_line_numbers_and_broken_lines_are_reported() -> None:
    lines = [b'{"id": 1}', b"", b'{"id": 2', b'{"id": "x"}', b"\xff", b'{"id": 6}']
    report = _report(b"\n".join(lines) + b"\n", "users.ndjson", schema=USER_SCHEMA)
    assert report["rows"] == 5
    assert [e["row"] for e in report["errors"]] == [3, 4, 5]
    assert report["errors"][0]["message"].startswith("not valid JSON")
    assert report["errors"][2]["message"] == "invalid UTF-8 at byte 0 of the line"


def test_json_nested_ten_thousand_deep_is_rejected() -> None:
    reason = _rejected(data.validate, _nested(10_000).encode(), "deep.json", schema={})
    assert reason == "the JSON document is nested too deeply to parse"


def test_ndjson_line_nested_ten_thousand_deep_is_an_invalid_row() -> None:
    source = b'{"id": 1}\n' + _nested(10_000).encode() + b"\n"
    report = _report(source, "deep.ndjson", schema={})
    assert report["errors"] == [{"row": 2, "path": "$", "message": "nested too deeply"}]


def test_records_deeper_than_max_depth_are_invalid() -> None:
    record = json.dumps({"id": 1, "tree": json.loads(_nested(150))})
    report = _report(f"[{record}]".encode(), "deep.json", schema=USER_SCHEMA)
    assert report["errors"][0]["message"] == "nested too deeply: more than max_depth (64) levels"
    report = _report(f"[{record}]".encode(), "deep.json", schema=USER_SCHEMA, max_depth=200)
    assert report["invalid"] == 0
    report = _report(f'{{"id": 1}}\n{record}\n'.encode(), "deep.ndjson", schema=USER_SCHEMA)
    assert [(e["row"], e["message"][:17]) for e in report["errors"]] == [(2, "nested too deeply")]


def test_deeper_than_counts_levels() -> None:
    assert not deeper_than({"a": [1]}, 2)
    assert deeper_than({"a": [[1]]}, 2)
    assert not deeper_than("scalar", 1)


def test_json_larger_than_max_json_bytes_suggests_ndjson() -> None:
    source = json.dumps([{"id": n} for n in range(1000)]).encode()
    reason = _rejected(data.validate, source, "big.json", schema=USER_SCHEMA, max_json_bytes=1000)
    assert "larger than max_json_bytes (1000)" in reason
    assert "NDJSON" in reason


def test_broken_json_is_rejected_with_its_position() -> None:
    reason = _rejected(data.validate, b'[{"id": 1},\n {"id": }]', "x.json", schema=USER_SCHEMA)
    assert reason == "not valid JSON: Expecting value at line 2 column 9"


def test_format_comes_from_suffix_then_content_type_then_option() -> None:
    source = b'{"id": 1}\n{"name": "x"}\n'
    ctx = _context(data.validate, source, "upload", schema=USER_SCHEMA, on_invalid="report")
    with pytest.raises(Reject, match="set the step's format option"):
        data.validate(ctx)
    ctx = local_context(
        source,
        key="upload",
        content_type="application/x-ndjson; charset=utf-8",
        options=ctx.options,
        output_template="{key}.report",
    )
    data.validate(ctx)
    assert ctx.report["invalid"] == 1
    report = _report(source, "upload.txt", schema=USER_SCHEMA, format="ndjson")
    assert report["format"] == "ndjson"


# --- data.convert ------------------------------------------------------------------------


def test_csv_to_parquet_infers_types() -> None:
    source = _csv(["id,name,score,ok,day", "1,a,0.5,true,2024-01-02", "2,b,,false,2024-02-03"])
    _, sink = _run(data.convert, source, "in/t.csv", to="parquet")
    table = _parquet(sink, "in/t.parquet")
    assert table.schema.types == [pa.int64(), pa.string(), pa.float64(), pa.bool_(), pa.date32()]
    assert table.to_pylist()[1] == {
        "id": 2,
        "name": "b",
        "score": None,
        "ok": False,
        "day": date(2024, 2, 3),
    }
    metadata = pq.ParquetFile(io.BytesIO(sink.files["in/t.parquet"])).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_compression_option_reaches_parquet() -> None:
    _, sink = _run(data.convert, _csv(["a", "1"]), "t.csv", to="parquet", compression="snappy")
    metadata = pq.ParquetFile(io.BytesIO(sink.files["t.parquet"])).metadata
    assert metadata.row_group(0).column(0).compression == "SNAPPY"


def test_large_csv_round_trips_in_batches() -> None:
    rows = 300_000
    body = "".join(f"{n},name {n},{n % 7}\n" for n in range(rows))
    source = ("id,name,group\n" + body).encode()
    ctx, sink = _run(data.convert, source, "big.csv", to="parquet", batch_rows=10_000)
    assert ctx.outputs[0].content_type == "application/vnd.apache.parquet"
    parquet = pq.ParquetFile(io.BytesIO(sink.files["big.parquet"]))
    assert parquet.metadata.num_rows == rows
    assert parquet.metadata.num_row_groups == rows // 10_000
    _, back = _run(data.convert, sink.files["big.parquet"], "big.parquet", to="csv")
    assert back.files["big.csv"].replace(b'"', b"") == source


def test_ndjson_parquet_ndjson_round_trip() -> None:
    records = [{"id": n, "tags": ["a", "b"][: n % 3], "meta": {"x": n * 0.5}} for n in range(25)]
    records[3]["id"] = None
    source = "".join(json.dumps(r) + "\n" for r in records).encode()
    _, sink = _run(data.convert, source, "r.ndjson", to="parquet", batch_rows=10)
    table = _parquet(sink, "r.parquet")
    assert table.schema.field("tags").type == pa.list_(pa.string())
    assert table.to_pylist() == records
    _, back = _run(data.convert, sink.files["r.parquet"], "r.parquet", to="ndjson")
    assert [json.loads(line) for line in back.files["r.ndjson"].splitlines()] == records


def test_json_to_parquet_to_json() -> None:
    records = [{"id": 1, "when": "x"}, {"id": 2, "extra": True}]
    _, sink = _run(data.convert, json.dumps(records).encode(), "r.json", to="parquet")
    table = _parquet(sink, "r.parquet")
    assert table.column_names == ["id", "when", "extra"]
    _, back = _run(data.convert, sink.files["r.parquet"], "r.parquet", to="json")
    assert json.loads(back.files["r.json"]) == [
        {"id": 1, "when": "x", "extra": None},
        {"id": 2, "when": None, "extra": True},
    ]


def test_parquet_dates_and_binary_become_json_text() -> None:
    table = pa.table({"day": [date(2024, 1, 2)], "raw": [b"\x00\x01"]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    _, sink = _run(data.convert, buffer.getvalue(), "t.parquet", to="ndjson")
    assert json.loads(sink.files["t.ndjson"]) == {"day": "2024-01-02", "raw": "AAE="}


def test_nested_parquet_columns_cannot_become_csv() -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"tags": [["a"]]}), buffer)
    reason = _rejected(data.convert, buffer.getvalue(), "t.parquet", to="csv")
    assert reason == "CSV cannot hold the nested column 'tags': convert to NDJSON"


def test_nan_cannot_become_json() -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": [float("nan")]}), buffer)
    reason = _rejected(data.convert, buffer.getvalue(), "t.parquet", to="json")
    assert "NaN" in reason


def test_convert_rejects_a_ragged_csv_row_by_number() -> None:
    source = _csv(["a,b,c", "1,2,3", "", "4,5", "6,7,8"])
    reason = _rejected(data.convert, source, "t.csv", to="parquet")
    assert reason == "CSV row 3: CSV parse error: Expected 3 columns, got 2: 4,5"


def test_convert_names_the_csv_row_whose_value_does_not_fit() -> None:
    source = b"a,b\n" + b"1,x\n" * 300_000 + b"y,x\n"
    reason = _rejected(data.convert, source, "t.csv", to="parquet")
    assert reason.startswith("CSV row 300002: In CSV column #0: CSV conversion error to int64")
    assert reason.endswith("(column types are inferred from the file's first block)")


def test_convert_rejects_invalid_utf8_by_offset() -> None:
    source = b"a,b\n1,x\n2,\xe9t\xe9\n"
    reason = _rejected(data.convert, source, "t.csv", to="parquet")
    assert reason.startswith("invalid UTF-8 at byte offset 10 (line 3)")


def test_convert_rejects_invalid_utf8_in_a_later_block() -> None:
    source = b"a,b\n" + b"1,text\n" * 300_000 + b"2,\xff\n"
    reason = _rejected(data.convert, source, "t.csv", to="parquet")
    assert f"byte offset {len(source) - 2} (line 300002)" in reason


def test_convert_reads_a_ten_megabyte_field() -> None:
    source = b"id,text\n1," + b"x" * (10 * MIB) + b"\n2,short\n"
    _, sink = _run(data.convert, source, "big.csv", to="parquet")
    table = _parquet(sink, "big.parquet")
    assert table.num_rows == 2
    assert len(table.column("text")[0].as_py()) == 10 * MIB


def test_convert_rejects_a_field_over_the_limit() -> None:
    source = b"id,text\n1,short\n2," + b"x" * (2 * MIB) + b"\n"
    reason = _rejected(data.convert, source, "big.csv", to="parquet", max_field_bytes=MIB)
    assert (
        reason == f"CSV row 3: field 'text' has {2 * MIB} bytes, more than max_field_bytes ({MIB})"
    )


def test_convert_rejects_a_row_over_max_row_bytes() -> None:
    source = b"id,text\n1," + b"x" * (5 * MIB) + b"\n"
    reason = _rejected(data.convert, source, "big.csv", to="parquet", max_row_bytes=2 * MIB)
    assert reason == f"a CSV row is longer than max_row_bytes ({2 * MIB})"


def test_convert_keeps_quoted_line_breaks_across_blocks() -> None:
    body = "".join(f'{n},"line one\nline two {n}"\n' for n in range(100_000))
    _, sink = _run(data.convert, ("id,text\n" + body).encode(), "t.csv", to="parquet")
    table = _parquet(sink, "t.parquet")
    assert table.num_rows == 100_000
    assert table.column("text")[-1].as_py() == "line one\nline two 99999"


def test_convert_rejects_a_broken_ndjson_line() -> None:
    source = b'{"id": 1}\n\n{"id": 2,}\n'
    reason = _rejected(data.convert, source, "t.ndjson", to="parquet")
    assert reason.startswith("NDJSON line 3: not valid JSON")


def test_convert_rejects_deep_json() -> None:
    reason = _rejected(data.convert, _nested(10_000).encode(), "deep.json", to="parquet")
    assert reason == "the JSON document is nested too deeply to parse"
    source = b'{"id": 1}\n' + _nested(10_000).encode() + b"\n"
    reason = _rejected(data.convert, source, "deep.ndjson", to="parquet")
    assert reason == "NDJSON line 2: nested too deeply"


def test_convert_names_the_line_whose_value_does_not_fit() -> None:
    source = b"".join(b'{"id": %d}\n' % n for n in range(10)) + b'{"id": "eleven"}\n'
    reason = _rejected(data.convert, source, "t.ndjson", to="parquet", batch_rows=5)
    assert reason.startswith("NDJSON line 11, field 'id': ")
    source = b'{"id": 1}\n{"id": 2}\n{"id": 3, "late": true}\n'
    reason = _rejected(data.convert, source, "t.ndjson", to="parquet", batch_rows=2)
    assert reason.startswith("NDJSON line 3: field 'late' is not in the first 2 records")


def test_convert_rejects_mixed_types_in_the_first_batch() -> None:
    source = b'{"id": 1}\n{"id": "two"}\n'
    reason = _rejected(data.convert, source, "t.ndjson", to="parquet")
    assert reason.startswith("NDJSON lines 1-2, field 'id': ")


@pytest.mark.parametrize(
    ("source", "key", "options", "expected"),
    [
        (b"", "t.csv", {}, "empty file: nothing to convert"),
        (b"a\n1\n", "t.csv", {"to": "csv"}, "the source is already csv"),
        (b"[]", "t.json", {}, "no records to convert"),
        (b"[1, 2]", "t.json", {}, "JSON record 1: not an object"),
        (b"not parquet", "t.parquet", {"to": "csv"}, "not a Parquet file"),
        (b"a\n1\n", "t.bin", {}, "cannot tell the format"),
    ],
)
def test_convert_rejects(source: bytes, key: str, options: dict[str, Any], expected: str) -> None:
    reason = _rejected(data.convert, source, key, **({"to": "parquet"} | options))
    assert reason.startswith(expected)


def test_convert_options_need_a_target() -> None:
    spec = _spec(data.convert)
    with pytest.raises(ValidationError, match="to"):
        spec.parse_options({})
    assert spec.parse_options({"to": "csv", "compression": "none"}).batch_rows == 65536


def test_convert_options_check_the_width_limits() -> None:
    spec = _spec(data.convert)
    options = spec.parse_options({"to": "parquet"})
    assert (options.max_columns, options.max_column_chunks) == (10_000, 100_000)
    assert (options.batch_bytes, options.max_json_values) == (64 * MIB, 4_000_000)
    with pytest.raises(ValidationError, match="max_column_chunks must be at least max_columns"):
        spec.parse_options({"to": "parquet", "max_columns": 20, "max_column_chunks": 10})


# --- data.convert: wide files ------------------------------------------------------------


def _wide_csv(columns: int, rows: int) -> bytes:
    header = ",".join(f"column_{n}" for n in range(columns))
    return _csv([header] + [",".join(["1"] * columns)] * rows)


def test_convert_refuses_a_csv_wider_than_max_columns_before_reading_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 100,000 columns of 5 rows (2 MB) took pyarrow over 1 GiB; it is never opened.
    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pyarrow opened a CSV file too wide to convert")

    monkeypatch.setattr("pyarrow.csv.open_csv", unreachable)
    reason = _rejected(data.convert, _wide_csv(100_000, 5), "wide.csv", to="parquet")
    assert reason == (
        "the CSV header has 100000 columns, more than max_columns (10000): raise max_columns, "
        "and the step's memory_mb, to convert it"
    )


def test_convert_counts_csv_columns_as_pyarrow_does() -> None:
    # Blank lines before the header are skipped; quoted commas and line breaks are text.
    source = b'\n\r\nid,"a,b","c\nd"\r\n1,2,3\n'
    reason = _rejected(data.convert, source, "t.csv", to="parquet", max_columns=2)
    assert reason.startswith("the CSV header has 3 columns, more than max_columns (2)")
    _, sink = _run(data.convert, source, "t.csv", to="parquet", max_columns=3)
    assert _parquet(sink, "t.parquet").column_names == ["id", "a,b", "c\nd"]


def test_convert_reads_a_csv_at_max_columns() -> None:
    _, sink = _run(data.convert, _wide_csv(2000, 5), "w.csv", to="parquet", max_columns=2000)
    assert _parquet(sink, "w.parquet").shape == (5, 2000)


def test_convert_refuses_a_json_object_with_a_hundred_thousand_keys() -> None:
    source = json.dumps({f"key_{n}": n for n in range(100_000)}).encode()
    reason = _rejected(data.convert, source, "wide.json", to="parquet")
    assert reason == (
        "the records up to JSON record 1 have 100000 columns, more than max_columns (10000): "
        "raise max_columns, and the step's memory_mb, to convert it"
    )


def test_convert_counts_the_columns_of_all_the_records_in_a_batch() -> None:
    lines = [json.dumps({f"f{line}_{n}": n for n in range(400)}) for line in range(3)]
    source = "\n".join(lines).encode()
    reason = _rejected(data.convert, source, "t.ndjson", to="parquet", max_columns=1000)
    assert reason.startswith("the records up to NDJSON line 3 have 1200 columns, more than")


def test_convert_counts_nested_fields_as_parquet_columns() -> None:
    source = json.dumps({"id": 1, "inner": {f"key_{n}": n for n in range(20_000)}}).encode()
    reason = _rejected(data.convert, source, "nested.json", to="parquet")
    assert reason.startswith(
        "counting nested fields, the Parquet output would have 20001 columns, more than "
        "max_columns (10000)"
    )


def test_convert_refuses_a_fifty_megabyte_ndjson_line_of_tiny_values() -> None:
    # Parsed, this line (17 million empty objects) would take about 1.3 GB.
    source = b'{"id": 1}\n{"items": [' + b"{}," * (17 * 1000 * 1000) + b"{}]}\n"
    assert len(source) > 50 * 1000 * 1000
    reason = _rejected(data.convert, source, "big.ndjson", to="parquet")
    assert reason == (
        "NDJSON line 2: more than max_json_values (4000000) values: raise it, and the step's "
        "memory_mb, to read the line"
    )


def test_commas_and_brackets_in_strings_are_not_values() -> None:
    text = '[{,}] \\ "quoted, [escaped]" ' * 100_000  # 3 MB, with escapes across windows
    source = json.dumps({"id": 1, "text": text}).encode() + b"\n"
    _, sink = _run(data.convert, source, "t.ndjson", to="parquet", max_json_values=10)
    assert _parquet(sink, "t.parquet").column("text")[0].as_py() == text
    source = json.dumps([text, *range(10)]).encode()
    reason = _rejected(data.convert, source, "t.json", to="parquet", max_json_values=10)
    assert reason.startswith("the JSON document has more than max_json_values (10) values")


def test_a_json_document_with_too_many_values_is_refused_before_parsing() -> None:
    source = json.dumps([{"id": n} for n in range(100)]).encode()
    reason = _rejected(data.convert, source, "t.json", to="parquet", max_json_values=150)
    assert reason.startswith("the JSON document has more than max_json_values (150) values")
    report = _report(source, "t.json", schema=USER_SCHEMA, max_json_values=250)
    assert report["rows"] == 100


def test_validate_reports_an_ndjson_line_with_too_many_values() -> None:
    source = b'{"id": 1}\n{"id": 2, "tags": [1, 2, 3, 4, 5, 6]}\n'
    report = _report(source, "t.ndjson", schema=USER_SCHEMA, max_json_values=5)
    assert [(e["row"], e["message"]) for e in report["errors"]] == [
        (
            2,
            "more than max_json_values (5) values: raise it, and the step's memory_mb, "
            "to read the line",
        )
    ]


def test_csv_row_groups_are_bounded_by_bytes_as_well_as_rows() -> None:
    source = _csv(["id,text"] + [f"{n},{'x' * 100}" for n in range(20_000)])
    _, sink = _run(data.convert, source, "t.csv", to="parquet", batch_bytes=200_000)
    parquet = pq.ParquetFile(io.BytesIO(sink.files["t.parquet"]))
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert sum(sizes) == 20_000
    assert max(sizes) * 112 <= 200_000 + 112  # 8 + 4 + 100 bytes a row in Arrow
    assert parquet.read().column("id").to_pylist() == list(range(20_000))


def test_ndjson_batches_are_bounded_by_the_size_of_their_lines() -> None:
    lines = [json.dumps({"id": n, "text": "x" * 1000}) for n in range(100)]
    source = "\n".join(lines).encode()
    _, sink = _run(data.convert, source, "t.ndjson", to="parquet", batch_bytes=10_000)
    parquet = pq.ParquetFile(io.BytesIO(sink.files["t.parquet"]))
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    assert 1 < max(sizes) < 10  # a line has 1000 bytes, and takes more parsed
    assert parquet.read().column("id").to_pylist() == list(range(100))


def test_parquet_read_in_batches_smaller_than_batch_bytes_keeps_every_row() -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"id": range(10_000), "text": ["y" * 100] * 10_000}), buffer)
    _, sink = _run(data.convert, buffer.getvalue(), "t.parquet", to="ndjson", batch_bytes=50_000)
    lines = sink.files["t.ndjson"].splitlines()
    assert [json.loads(line)["id"] for line in lines] == list(range(10_000))


def test_convert_refuses_more_parquet_column_chunks_than_max_column_chunks() -> None:
    source = _wide_csv(100, 50)
    reason = _rejected(
        data.convert,
        source,
        "t.csv",
        to="parquet",
        batch_rows=10,
        max_columns=100,
        max_column_chunks=400,
    )
    assert reason.startswith(
        "the Parquet output would have more than max_column_chunks (400) column chunks "
        "(100 columns x 5 row groups)"
    )
    _, sink = _run(
        data.convert,
        source,
        "t.csv",
        to="parquet",
        batch_rows=10,
        max_columns=100,
        max_column_chunks=500,
    )
    assert pq.ParquetFile(io.BytesIO(sink.files["t.parquet"])).num_row_groups == 5


def test_convert_refuses_a_wide_parquet_file_before_reading_its_rows() -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({f"c{n}": [n] for n in range(300)}), buffer, row_group_size=1)
    reason = _rejected(data.convert, buffer.getvalue(), "w.parquet", to="csv", max_columns=200)
    assert reason.startswith("the Parquet file has 300 columns, more than max_columns (200)")


def test_convert_refuses_a_parquet_footer_too_large_to_parse() -> None:
    buffer = io.BytesIO()
    table = pa.table({f"c{n}": range(100) for n in range(20)})
    pq.write_table(table, buffer, row_group_size=1)  # 100 row groups: 2000 column chunks
    source = buffer.getvalue()
    reason = _rejected(
        data.convert, source, "t.parquet", to="csv", max_columns=20, max_column_chunks=100
    )
    footer = int.from_bytes(source[-8:-4], "little")
    assert reason.startswith(
        f"the Parquet footer has {footer} bytes, more than max_column_chunks (100) chunks "
        "need (25600)"
    )
    _, sink = _run(data.convert, source, "t.parquet", to="csv")
    assert len(sink.files["t.csv"].splitlines()) == 101


@pytest.mark.parametrize(
    ("body", "key"),
    [(b'[{"a": {}}, {"a": {}}]', "x.json"), (b'{"a": {}}\n{"a": {}}\n', "x.ndjson")],
)
def test_data_parquet_cannot_hold_is_rejected_not_retried(body: bytes, key: str) -> None:
    from chute.errors import Reject
    from chute.processors import get_processor

    spec = get_processor("data.convert")
    ctx = local_context(body, key=key, options=spec.parse_options({"to": "parquet"}))
    try:
        with pytest.raises(Reject, match="struct type 'a' with no child field"):
            spec.func(ctx)
    finally:
        ctx.close()
