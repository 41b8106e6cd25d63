"""``chute functions``: list, describe and invoke the server's functions, and read each
invocation's log (``chute functions logs NAME``, or ``chute logs NAME``), a page of it
or followed live. An admin's key is needed."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from chute.api.rest.models.functions import FunctionLogView, FunctionView, InvocationView
from chute.cli.args import JsonFlag, parse_payload
from chute.cli.client import ChuteClient
from chute.cli.connection import connect
from chute.cli.output import dumps, fail, new_table, print_json, show
from chute.events import format_time

app = typer.Typer(
    name="functions",
    help="List, describe and invoke functions, and read their logs (admins only).",
    no_args_is_help=True,
)

#: Seconds between polls of ``logs --follow``.
FOLLOW_INTERVAL = 1.0

Name = Annotated[
    str,
    typer.Argument(metavar="FUNCTION", help="The function's name (or ARN).", show_default=False),
]


@app.command("ls")
def list_functions(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the functions, by name."""
    with connect(ctx) as client:
        found = client.list_functions()
    if as_json:
        print_json({"functions": found})
        return
    table = new_table("name", "runtime", "handler", "memory", "timeout", "defined in")
    for function in found:
        table.add_row(
            function.name,
            function.runtime,
            function.handler,
            f"{function.memory_mb} MB",
            f"{function.timeout_seconds:g} s",
            function.defined_in,
        )
    show(table)


@app.command("show")
def show_function(ctx: typer.Context, name: Name, as_json: JsonFlag = False) -> None:
    """Describe a function: what runs, with which limits, where it is defined."""
    with connect(ctx) as client:
        function = client.get_function(name)
    if as_json:
        print_json(function)
        return
    for line in function_lines(function):
        typer.echo(line)


def function_lines(function: FunctionView) -> list[str]:
    """A function's settings, one per line."""
    concurrency, modified = function.reserved_concurrency, function.last_modified
    rows = [
        ("arn", function.arn),
        ("description", function.description or "-"),
        ("handler", function.handler),
        ("runtime", function.runtime),
        ("memory", f"{function.memory_mb} MB"),
        ("timeout", f"{function.timeout_seconds:g} s"),
        ("/tmp", f"{function.ephemeral_storage_mb} MB"),
        ("concurrency", "unreserved" if concurrency is None else str(concurrency)),
        ("defined in", function.defined_in),
        ("revision", function.revision),
        ("last modified", format_time(modified) if modified else "-"),
        ("layers", ", ".join(function.layers) or "-"),
        ("environment", ", ".join(function.environment) or "-"),
    ]
    return [function.name] + [f"  {label + ':':<15}{value}" for label, value in rows]


@app.command()
def invoke(
    ctx: typer.Context,
    name: Name,
    payload: Annotated[
        str, typer.Option(help="The event: JSON, or @FILE holding it (@- reads stdin).")
    ] = "{}",
    event: Annotated[
        bool, typer.Option("--event", help="Queue it (retried as configured); do not wait.")
    ] = False,
    log: Annotated[
        bool, typer.Option("--log", help="Print the invocation's log to stderr.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Invoke a function and print what it answered. Exit 1 if the function failed."""
    document = parse_payload(payload)
    with connect(ctx) as client:
        done = client.invoke(name, document, event=event)
    if as_json:
        print_json(done)
    elif done.status == "queued":
        typer.echo(f"queued {done.function} (request id {done.request_id})")
    else:
        typer.echo(dumps(done.payload, indent=2))
    if log and done.log:
        typer.echo(done.log, err=True)
    if done.status == "failed":
        fail(invocation_error(done))


def invocation_error(done: InvocationView) -> str:
    """``function hello failed (request id R): ValueError: no good``."""
    found = f"function {done.function} failed (request id {done.request_id}): {done.error_type}"
    message = done.payload.get("errorMessage") if isinstance(done.payload, dict) else None
    return f"{found}: {message}" if message else found


@app.command("logs")
def logs(
    ctx: typer.Context,
    name: Name,
    after: Annotated[int, typer.Option(min=0, help="Only logs after this cursor.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Logs per request.")] = 100,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new logs until Ctrl-C.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Print a function's invocation logs, oldest first: START, its output, END, REPORT."""
    with connect(ctx) as client:
        if follow:
            follow_logs(client, name, after, limit, as_json)
            return
        page = client.function_logs(name, after=after, limit=limit)
    if as_json:
        print_json(page)
        return
    for entry in page.entries:
        typer.echo(entry.text)


def follow_logs(client: ChuteClient, name: str, cursor: int, limit: int, as_json: bool) -> None:
    """Print logs as invocations end, polling every :data:`FOLLOW_INTERVAL` seconds when
    caught up; one JSON object per line with ``as_json``. Ctrl-C ends it normally."""
    try:
        while True:
            page = client.function_logs(name, after=cursor, limit=limit)
            for entry in page.entries:
                typer.echo(_entry_line(entry, as_json))
            cursor = page.next_cursor
            if len(page.entries) < limit:
                time.sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        return


def _entry_line(entry: FunctionLogView, as_json: bool) -> str:
    return dumps(entry) if as_json else entry.text
