"""The options of ``data.validate``, ``data.convert``, ``data.split`` and ``data.join``,
checked when the pipeline configuration is loaded, and the read limits they share."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

MIB = 1024 * 1024


class ReadLimits(BaseModel):
    """Bounds on what a data processor reads, so hostile input fails with a clear reason
    instead of exhausting memory or the stack."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Largest CSV field (the csv module counts characters, pyarrow bytes).
    max_field_bytes: int = Field(default=16 * MIB, ge=1)
    #: Largest CSV or NDJSON line; for ``data.convert``, the largest CSV row sure to be
    #: read (pyarrow reads in blocks, of this size once a row is over 1 MiB).
    max_row_bytes: int = Field(default=64 * MIB, ge=1)
    #: Largest JSON document, which is parsed whole (use NDJSON for more).
    max_json_bytes: int = Field(default=64 * MIB, ge=1)
    #: Deepest nesting of objects and arrays in a record (past ~200 Python recurses
    #: too deeply to parse or validate it).
    max_depth: int = Field(default=64, ge=1, le=200)
    #: Most values (objects, arrays, strings, numbers...) in one NDJSON line or JSON
    #: document: parsed, each takes up to ~100 bytes, so the default bounds a parse to
    #: ~400 MB whatever the text's size.
    max_json_values: int = Field(default=4_000_000, ge=1)


#: Parquet compression codecs.
Compression = Literal["zstd", "snappy", "gzip", "brotli", "lz4", "none"]
ColumnType = Literal["string", "integer", "number", "boolean", "date", "datetime"]


class Column(BaseModel):
    """One column of a column schema."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: ColumnType = "string"
    #: A missing value (absent, null, or an empty CSV cell) is an error.
    required: bool = False
    #: A regular expression the text must contain a match of (``re.search``, as in JSON
    #: Schema); applies to CSV cells and JSON strings.
    pattern: str | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class ValidateOptions(ReadLimits):
    """Options of ``data.validate``: a schema (JSON Schema or columns, exactly one) and
    what to do about invalid rows."""

    format: Literal["auto", "csv", "json", "ndjson"] = "auto"
    #: A JSON Schema (Draft 2020-12 unless its ``$schema`` names another draft).
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    columns: list[Column] | None = None
    #: ``fail``: reject the file (no output); ``report``: pass and write a JSON report.
    on_invalid: Literal["fail", "report"] = "fail"
    #: Errors listed in the report (all are counted).
    max_errors: int = Field(default=100, ge=0)

    @model_validator(mode="after")
    def _one_schema(self) -> Self:
        if (self.json_schema is None) == (self.columns is None):
            raise ValueError("give exactly one of schema (a JSON Schema) and columns")
        if self.json_schema is not None:
            _check_json_schema(self.json_schema)
        names = [column.name for column in self.columns or ()]
        if len(set(names)) != len(names):
            raise ValueError("columns: each name may appear once")
        return self


def _check_json_schema(schema: dict[str, Any]) -> None:
    from jsonschema.exceptions import SchemaError

    try:
        validator_class(schema).check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"schema is not a valid JSON Schema: {exc.message}") from None


def validator_class(schema: dict[str, Any]) -> type[Validator]:
    """The jsonschema validator for the draft the schema's ``$schema`` names (2020-12 if
    none)."""
    from jsonschema.validators import Draft202012Validator, validator_for

    return validator_for(schema, default=Draft202012Validator)


class ConvertOptions(ReadLimits):
    """Options of ``data.convert``."""

    to: Literal["parquet", "csv", "ndjson", "json"]
    #: The source's format (``auto``: from the key's suffix, else the content type).
    format: Literal["auto", "csv", "json", "ndjson", "parquet"] = "auto"
    #: Parquet compression codec.
    compression: Compression = "zstd"
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


class SplitOptions(BaseModel):
    """Options of ``data.split``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The source's format (``auto``: from the key's suffix, else the content type).
    format: Literal["auto", "csv", "ndjson"] = "auto"
    #: Bytes of rows per chunk: a chunk ends at the first row end past them (so a row
    #: longer than this makes a chunk of its own).
    chunk_bytes: int = Field(default=16 * MIB, ge=1)
    #: Most rows per chunk (counting them costs a pass over every row end); none: no limit.
    rows: int | None = Field(default=None, ge=1)
    #: CSV: start every chunk with the file's header line, and give each the column types
    #: ``data.convert`` would infer for the whole file (without it, only the first chunk
    #: has the header, and the chunks together are the file).
    header: bool = True
    #: As ``data.convert``'s: the block column types are inferred from when the file's
    #: first row is longer than 1 MiB. Set it as the converting step does.
    max_row_bytes: int = Field(default=64 * MIB, ge=1)


class JoinOptions(BaseModel):
    """Options of ``data.join``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The parts' format (``auto``: from the first item's suffix, else its content type).
    format: Literal["auto", "parquet", "csv", "ndjson"] = "auto"
    #: Parquet compression codec of the joined file.
    compression: Compression = "zstd"
    #: Most column chunks (columns x row groups) of the joined Parquet file, whose metadata
    #: (~2 KB a chunk) stays in memory until it is written.
    max_column_chunks: int = Field(default=100_000, ge=1)
