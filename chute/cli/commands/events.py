"""``chute events``: the event log (S3 event records), a page of it or followed live."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from chute.cli.args import JsonFlag
from chute.cli.client import ChuteClient
from chute.cli.connection import connect
from chute.cli.output import dumps, event_line, events_table, print_json, show

#: Seconds between polls of ``events --follow``.
FOLLOW_INTERVAL = 1.0


def events(
    ctx: typer.Context,
    after: Annotated[int, typer.Option(min=0, help="Only events after this id.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Events per request.")] = 100,
    bucket: Annotated[str | None, typer.Option(help="Only this bucket's events.")] = None,
    key: Annotated[str | None, typer.Option(help="Only this key's events.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Read the event log (S3 event records), oldest first."""
    with connect(ctx) as client:
        if follow:
            follow_events(client, after, limit, bucket, key, as_json)
            return
        page = client.events(after=after, limit=limit, bucket=bucket, key=key)
    if as_json:
        print_json(page)
    else:
        show(events_table(page.events))


def follow_events(
    client: ChuteClient,
    cursor: int,
    limit: int,
    bucket: str | None,
    key: str | None,
    as_json: bool,
) -> None:
    """Print events as they come, polling every :data:`FOLLOW_INTERVAL` seconds when caught
    up; one JSON object per line with ``as_json``. Ctrl-C ends it normally."""
    try:
        while True:
            page = client.events(after=cursor, limit=limit, bucket=bucket, key=key)
            for event in page.events:
                typer.echo(dumps(event) if as_json else event_line(event))
            cursor = page.next_cursor
            if len(page.events) < limit:
                time.sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        return
