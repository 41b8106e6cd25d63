"""Presentation for the ``chute`` command: sizes in binary units, ``--json`` documents,
tables that keep keys, version ids and hashes whole, progress bars for big transfers on
stderr, the human-readable forms of versions and events, and ``error:`` lines. Nothing
here talks to the server; the commands in :mod:`chute.cli.commands` fetch, and these
functions print.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn
from urllib.parse import unquote_plus

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from chute.api.rest.models.events import EventView
from chute.api.rest.models.objects import AnyVersion, DeleteMarkerView
from chute.cli.args import ObjectRef
from chute.cli.client import ObjectInfo, ProgressCallback
from chute.events import format_time

#: Transfers at least this big get a progress bar (on a terminal).
PROGRESS_THRESHOLD = 8 * 1024 * 1024
#: Width of tables written to a pipe or file, where there is no terminal to fit.
PIPED_WIDTH = 1000

progress_console = Console(stderr=True, highlight=False)

_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``3.0 GiB``: binary units, one decimal."""
    exponent = min((size.bit_length() - 1) // 10, len(_SIZE_UNITS) - 1) if size else 0
    if exponent == 0:
        return f"{size} B"
    return f"{size / 1024**exponent:.1f} {_SIZE_UNITS[exponent]}"


def dumps(document: Any, indent: int | None = None) -> str:
    """``document`` as JSON text; models in it are written as the server writes them."""
    return json.dumps(document, indent=indent, default=_plain)


def _plain(value: object) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    raise TypeError(f"{type(value).__name__} is not JSON")


def print_json(document: Any) -> None:
    """``--json`` output: one indented JSON document on stdout."""
    typer.echo(dumps(document, indent=2))


def print_result(document: Any, as_json: bool, line: str) -> None:
    """What a command did: ``document`` as JSON with ``--json``, else one line for people."""
    if as_json:
        print_json(document)
    else:
        typer.echo(line)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def progress_bar(total: int | None, label: str) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing a bar on stderr, or ``None`` for transfers too small to
    bother, of unknown size, or when stderr is not a terminal."""
    if total is None or total < PROGRESS_THRESHOLD or not progress_console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=progress_console, transient=True) as bar:
        task = bar.add_task(escape(label), total=total)
        yield lambda done: bar.advance(task, done)


def show(table: Table) -> None:
    """Print a table on stdout: fitted to the terminal, or at its natural width when
    stdout is a pipe or file, so no cell is folded there."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    console.print(table)


def new_table(*headers: str, title: str | None = None) -> Table:
    """A table whose cells wrap rather than lose characters: keys, version ids and hashes
    must stay whole to be copied."""
    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def current_lines(target: ObjectRef, current: ObjectInfo | None) -> list[str]:
    """The current version's attributes, one per line, never cut: hashes and version ids
    are there to be copied."""
    if current is None:
        return [str(target), "  current: none, the latest version is a delete marker"]
    metadata = ", ".join(f"{k}={v}" for k, v in current.metadata.items())
    rows = [
        ("version", current.version_id),
        ("size", f"{human_size(current.size)} ({current.size} bytes)"),
        ("content type", current.content_type),
        ("last modified", current.last_modified),
        ("etag", current.etag),
        ("sha256", current.sha256),
        ("metadata", metadata or "-"),
    ]
    return [str(target)] + [f"  {name + ':':<15}{value}" for name, value in rows]


def size_or_marker(version: AnyVersion, marker: str) -> str:
    """A version's size for people, or ``marker`` for a delete marker."""
    if isinstance(version, DeleteMarkerView):
        return marker
    return human_size(version.size)


def versions_table(versions: list[AnyVersion]) -> Table:
    """Versions newest first, delete markers included."""
    table = new_table("Version", "Latest", "Size", "Last modified", title="Versions")
    for version in versions:
        size = size_or_marker(version, "delete marker")
        latest = "yes" if version.is_latest else ""
        modified = format_time(version.last_modified)
        table.add_row(escape(version.version_id), latest, size, modified)
    return table


def event_summary(event: EventView) -> tuple[str, str, str, str, str]:
    """Id, time, name, ``bucket/key`` and version of an event, for people to read."""
    record = event.record
    s3 = record.s3
    where = f"{s3.bucket.name}/{unquote_plus(s3.s3_object.key)}"
    version = s3.s3_object.version_id or ""
    return str(event.id), record.event_time, record.event_name, where, version


def event_line(event: EventView) -> str:
    """One event on one line, for ``events --follow``."""
    event_id, moment, name, where, version = event_summary(event)
    return f"{event_id:>8}  {moment}  {name:<34}  {where}  {version}".rstrip()


def events_table(events: list[EventView]) -> Table:
    """Events as a table, oldest first."""
    table = new_table("Id", "Time", "Event", "Object", "Version", title="Events")
    for event in events:
        table.add_row(*(escape(cell) for cell in event_summary(event)))
    return table
