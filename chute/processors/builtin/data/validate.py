"""``data.validate``: check the records of a CSV, JSON or NDJSON file against a schema.

Records are read in bounded memory by :mod:`chute.processors.builtin.data.records`,
which defines their row numbers (the same in reports and in ``Reject`` reasons), and
checked by :mod:`chute.processors.builtin.data.checks`, which says how a CSV cell is typed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chute.errors import Reject
from chute.processors.base import Context
from chute.processors.builtin.data.checks import Check, ColumnCheck, Problem, SchemaCheck
from chute.processors.builtin.data.formats import RECORD_FORMATS, detect_format
from chute.processors.builtin.data.options import ValidateOptions
from chute.processors.builtin.data.records import read_records
from chute.processors.registry import processor

#: Errors copied into ``ctx.report`` (the output report lists up to ``max_errors``).
SUMMARY_ERRORS = 10


@dataclass
class Tally:
    """What validating a file found: rows, invalid rows, and errors (all counted, the
    first ``max_errors`` kept)."""

    max_errors: int
    rows: int = 0
    invalid: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: int, problems: list[Problem]) -> None:
        """Count one row and its problems (none if it is valid)."""
        self.rows += 1
        self.invalid += bool(problems)
        self.error_count += len(problems)
        room = self.max_errors - len(self.errors)
        self.errors.extend({"row": row, "path": p, "message": m} for p, m in problems[:room])

    def summary(self) -> dict[str, Any]:
        """The short form kept as the step's report."""
        return {"rows": self.rows, "invalid": self.invalid, "errors": self.errors[:SUMMARY_ERRORS]}

    def reason(self) -> str:
        """A one-line account of the invalid rows, for a ``Reject``."""
        noun = "row" if self.invalid == 1 else "rows"
        text = f"{self.invalid} invalid {noun} of {self.rows}"
        if self.errors:
            first = self.errors[0]
            where = "" if first["path"] == "$" else f", {first['path']}"
            text += f"; first: row {first['row']}{where}: {first['message']}"
        return text


@processor("data.validate", options=ValidateOptions, output_template="{stem}.validation.json")
def validate(ctx: Context) -> None:
    """Validates every record of a CSV, JSON or NDJSON file against the step's schema.

    With ``on_invalid = "fail"`` invalid rows reject the file (the reason summarises them,
    nothing is written); with ``"report"`` the step passes and writes a JSON report."""
    options: ValidateOptions = ctx.options
    fmt = detect_format(ctx, options.format, RECORD_FORMATS)
    check = _make_check(options, from_csv=fmt == "csv")
    tally = Tally(options.max_errors)
    for record in read_records(ctx, fmt, options):
        tally.add(record.row, [("$", record.error)] if record.error else check(record.value))
    ctx.report = tally.summary()
    if tally.invalid and options.on_invalid == "fail":
        raise Reject(tally.reason())
    if options.on_invalid == "report":
        ctx.write_output(_report_json(ctx, fmt, tally), content_type="application/json")


def _make_check(options: ValidateOptions, *, from_csv: bool) -> Check:
    if options.columns is not None:
        return ColumnCheck(options.columns, from_csv=from_csv)
    assert options.json_schema is not None  # the options' validator ensures one of them
    return SchemaCheck(options.json_schema, from_csv=from_csv)


def _report_json(ctx: Context, fmt: str, tally: Tally) -> bytes:
    report = {
        "source": ctx.source.key,
        "format": fmt,
        "rows": tally.rows,
        "valid": tally.rows - tally.invalid,
        "invalid": tally.invalid,
        "error_count": tally.error_count,
        "errors": tally.errors,
        "errors_truncated": tally.error_count > len(tally.errors),
    }
    return json.dumps(report, indent=2).encode()
