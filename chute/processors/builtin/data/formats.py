"""The data formats (``csv``, ``json``, ``ndjson``, ``parquet``): how a source's is told,
and the content type of each."""

from __future__ import annotations

from pathlib import PurePosixPath

from chute.errors import Reject
from chute.processors.base import Context

RECORD_FORMATS = ("csv", "json", "ndjson")
SUFFIX_FORMATS = {
    ".csv": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
}
CONTENT_TYPE_FORMATS = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
#: The content type ``data.convert`` gives an output in each format.
CONTENT_TYPES = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "ndjson": "application/x-ndjson",
    "json": "application/json",
}


def detect_format(ctx: Context, choice: str, allowed: tuple[str, ...]) -> str:
    """The source's format: ``choice`` unless it is ``auto``, else from the key's suffix,
    else from the content type; rejects a format not in ``allowed``."""
    if choice != "auto":
        return choice
    suffix = PurePosixPath(ctx.source.key).suffix.lower()
    content_type = ctx.source.content_type.partition(";")[0].strip().lower()
    found = SUFFIX_FORMATS.get(suffix) or CONTENT_TYPE_FORMATS.get(content_type)
    if found not in allowed:
        raise Reject(
            f"cannot tell the format of {ctx.source.key!r} (content type {content_type!r}) "
            f"as one of {', '.join(allowed)}: set the step's format option"
        )
    return found
