"""How a command reaches the server: the ``--url`` option, and :func:`connect`, which
opens a client to it and ends the command with exit 1 on any failure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from chute.cli.client import ChuteClient, ChuteClientError
from chute.cli.output import fail

DEFAULT_URL = "http://127.0.0.1:9000"

ServerUrl = Annotated[str, typer.Option(envvar="CHUTE_URL", help="The Chute server.")]


@contextmanager
def connect(ctx: typer.Context) -> Iterator[ChuteClient]:
    """A client for the server ``--url`` names (the app's callback keeps it in
    ``ctx.obj``); its errors end the command with exit 1."""
    try:
        with ChuteClient(ctx.obj) as client:
            yield client
    except ChuteClientError as exc:
        fail(f"{exc.code}: {exc.message}")
    except OSError as exc:
        fail(str(exc))
