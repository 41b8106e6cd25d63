"""``chute serve`` and ``chute worker``: running Chute itself, rather than talking to it.

The server stack is imported inside the commands: it is heavy, and the client commands
should start fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chute.cli.output import fail
from chute.errors import ChuteError, ConfigError

if TYPE_CHECKING:
    from chute.settings import Settings

ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="CHUTE_CONFIG", help="TOML configuration file."),
]
DataDir = Annotated[
    Path | None,
    typer.Option(envvar="CHUTE_DATA_DIR", help="Folder for the catalog and local blobs."),
]
DatabaseUrl = Annotated[
    str | None, typer.Option(envvar="CHUTE_DATABASE_URL", help="SQLAlchemy URL of the catalog.")
]
Processes = Annotated[
    int | None,
    typer.Option(envvar="CHUTE_WORKER__PROCESSES", help="Worker processes (0: one per core)."),
]


def serve(
    config: ConfigFile = None,
    address: Annotated[
        str | None, typer.Option(envvar="CHUTE_ADDRESS", help="host:port to listen on.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="Run worker processes too.")
    ] = True,
    processes: Processes = None,
) -> None:
    """Run the Chute server (API and workers) until interrupted.

    Flags win over CHUTE_* variables, which win over the configuration file.
    """
    from chute.server import serve as run_server

    with startup_errors():
        settings = _settings(config, address, data_dir, database_url, processes)
        run_server(settings, workers=workers)


def worker(
    config: ConfigFile = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    processes: Processes = None,
) -> None:
    """Run worker processes only, against a shared catalog and blob store (several
    can run on one or many machines). SIGTERM drains them."""
    from chute.server import work

    with startup_errors():
        work(_settings(config, None, data_dir, database_url, processes))


@contextmanager
def startup_errors() -> Iterator[None]:
    """A broken configuration ends the command with one ``error:`` line per problem and
    exit 2; any other Chute error with ``error: CODE: message`` and exit 1."""
    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None
    except ChuteError as exc:
        fail(f"{exc.code}: {exc.message}")


def _settings(
    config: Path | None,
    address: str | None,
    data_dir: Path | None,
    database_url: str | None,
    processes: int | None,
) -> Settings:
    """The settings from the file, CHUTE_* variables and these flags, which win."""
    from chute.settings import load_settings

    worker = {"processes": processes} if processes is not None else None
    return load_settings(
        config, address=address, data_dir=data_dir, database_url=database_url, worker=worker
    )
