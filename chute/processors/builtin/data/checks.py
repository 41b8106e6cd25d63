"""Checking records against a column schema or a JSON Schema, for ``data.validate``.

A CSV cell is a string. With a column schema it is converted to the column's type; with a
JSON Schema it is converted guided by the types the schema declares for that top-level
property (``properties.<name>.type``): a property whose types include ``"string"``, or
that declares none, keeps the text; otherwise an empty cell is null if ``"null"`` is
allowed and missing if not, and other text becomes the first of integer, number, boolean
it parses as (else it stays text and the schema reports the type error).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from chute.processors.builtin.data.options import Column, validator_class
from chute.processors.builtin.data.records import TOO_DEEP, shorten

#: A record's problems as (JSON path, message) pairs.
Problem = tuple[str, str]
Check = Callable[[Any], list[Problem]]
_MISSING = object()


def _to_int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(text)
    return int(text)


def _to_number(text: str) -> float:
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        raise ValueError(text)
    return float(text)


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(text)
    return lowered in ("true", "1", "yes")


#: How a CSV cell becomes a typed value (raises ``ValueError`` if it does not parse).
CELL_PARSERS: dict[str, Callable[[str], Any]] = {
    "string": str,
    "integer": _to_int,
    "number": _to_number,
    "boolean": _to_bool,
    "date": date.fromisoformat,
    "datetime": datetime.fromisoformat,
}


def _json_type_ok(kind: str, value: Any) -> bool:
    if kind in ("date", "datetime"):
        return isinstance(value, str) and _parses(CELL_PARSERS[kind], value)
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float)
    return kind == "string" and isinstance(value, str)


def _parses(parser: Callable[[str], Any], text: str) -> bool:
    try:
        parser(text)
    except ValueError:
        return False
    return True


class ColumnCheck:
    """Checks records against a column schema (CSV cells are parsed per column type;
    JSON values must already have the type)."""

    def __init__(self, columns: list[Column], *, from_csv: bool) -> None:
        self.columns = columns
        self.from_csv = from_csv
        self.patterns = {c.name: re.compile(c.pattern) for c in columns if c.pattern}

    def __call__(self, record: Any) -> list[Problem]:
        if not isinstance(record, dict):
            return [("$", "the record is not an object")]
        return [p for column in self.columns for p in self._check(column, record.get(column.name))]

    def _check(self, column: Column, value: Any) -> list[Problem]:
        if value is None or (self.from_csv and value == ""):
            return [("$", f"{column.name!r} is a required property")] if column.required else []
        path = f"$.{column.name}"
        if not self._type_ok(column.type, value):
            return [(path, f"{shorten(repr(value))} is not of type {column.type!r}")]
        pattern = self.patterns.get(column.name)
        if pattern and isinstance(value, str) and not pattern.search(value):
            return [(path, f"{shorten(repr(value))} does not match {pattern.pattern!r}")]
        return []

    def _type_ok(self, kind: str, value: Any) -> bool:
        if self.from_csv:
            return _parses(CELL_PARSERS[kind], value)
        return _json_type_ok(kind, value)


class SchemaCheck:
    """Checks records against a JSON Schema (with format checking on); CSV records are
    converted first as the module docstring says."""

    def __init__(self, schema: dict[str, Any], *, from_csv: bool) -> None:
        cls = validator_class(schema)
        self.validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        properties = schema.get("properties", {}) if from_csv else {}
        self.types = {name: _declared_types(prop) for name, prop in properties.items()}
        self.from_csv = from_csv

    def __call__(self, record: Any) -> list[Problem]:
        if self.from_csv:
            record = self._coerce(record)
        try:
            errors = list(self.validator.iter_errors(record))
        except RecursionError:
            return [("$", f"{TOO_DEEP} to validate")]
        return [(error.json_path, shorten(error.message)) for error in errors]

    def _coerce(self, record: dict[str, str]) -> dict[str, Any]:
        values = {name: _coerce_cell(cell, self.types.get(name)) for name, cell in record.items()}
        return {name: value for name, value in values.items() if value is not _MISSING}


def _declared_types(prop: Any) -> set[str] | None:
    kinds = prop.get("type") if isinstance(prop, dict) else None
    if isinstance(kinds, str):
        return {kinds}
    return set(kinds) if isinstance(kinds, list) else None


def _coerce_cell(cell: str, types: set[str] | None) -> Any:
    if not types or "string" in types:
        return cell
    if cell == "":
        return None if "null" in types else _MISSING
    for kind in ("integer", "number", "boolean"):
        if kind in types and _parses(CELL_PARSERS[kind], cell):
            return CELL_PARSERS[kind](cell)
    return cell
