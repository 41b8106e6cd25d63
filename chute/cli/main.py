"""The ``chute`` command: run the server, and work with buckets, objects and events from a
shell through the JSON API (``chute put``, ``chute ls``, ``chute events --follow``).

Human output goes to stdout as tables and lines; ``--json`` prints one JSON document
instead. Server errors print ``error: CODE: message`` to stderr and exit 1; a malformed
argument is a usage error (exit 2).
"""

from __future__ import annotations

import mimetypes
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, BinaryIO, NoReturn

import typer

from chute.api.rest.models.buckets import BucketList, VersioningStatus
from chute.api.rest.models.objects import ObjectList, VersionView
from chute.cli.args import (
    Location,
    ObjectRef,
    parse_location,
    parse_metadata,
    parse_object_ref,
    parse_upload_source,
)
from chute.cli.client import ChuteClient, ChuteClientError, Download, ObjectInfo
from chute.cli.output import (
    current_lines,
    dumps,
    event_line,
    events_table,
    human_size,
    new_table,
    print_json,
    progress_bar,
    show,
    size_or_marker,
    versions_table,
)
from chute.errors import ChuteError, ConfigError, NoSuchKey
from chute.events import format_time

if TYPE_CHECKING:
    from chute.settings import Settings

DEFAULT_URL = "http://127.0.0.1:9000"
#: Seconds between polls of ``events --follow``.
FOLLOW_INTERVAL = 1.0

app = typer.Typer(
    name="chute",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


Target = Annotated[
    ObjectRef, typer.Argument(parser=parse_object_ref, metavar="BUCKET/KEY", show_default=False)
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
VersionId = Annotated[str | None, typer.Option(help="A version of the object, not the latest.")]
# Options of the commands that run Chute (serve, worker).
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


# --- plumbing ----------------------------------------------------------------------------


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(envvar="CHUTE_URL", help="The Chute server.")] = DEFAULT_URL,
) -> None:
    """Chute: a self-hosted object store with an event log."""
    ctx.obj = url


def fail(message: str) -> NoReturn:
    """Print ``error: message`` to stderr and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def connect(ctx: typer.Context) -> Iterator[ChuteClient]:
    """A client for the server ``--url`` names; its errors end the command with exit 1."""
    try:
        with ChuteClient(ctx.obj) as client:
            yield client
    except ChuteClientError as exc:
        fail(f"{exc.code}: {exc.message}")
    except OSError as exc:
        fail(str(exc))


# --- server ------------------------------------------------------------------------------


@app.command()
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
    # Imported here: the server stack is heavy, and client commands should start fast.
    from chute.server import serve as run_server

    settings = _settings(config, address, data_dir, database_url, processes)
    try:
        run_server(settings, workers=workers)
    except ConfigError as exc:
        _config_problems(exc)
    except ChuteError as exc:
        fail(f"{exc.code}: {exc.message}")


@app.command()
def worker(
    config: ConfigFile = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    processes: Processes = None,
) -> None:
    """Run worker processes only, against a shared catalog and blob store (several
    can run on one or many machines). SIGTERM drains them."""
    from chute.server import work

    settings = _settings(config, None, data_dir, database_url, processes)
    try:
        work(settings)
    except ConfigError as exc:
        _config_problems(exc)
    except ChuteError as exc:
        fail(f"{exc.code}: {exc.message}")


def _settings(
    config: Path | None,
    address: str | None,
    data_dir: Path | None,
    database_url: str | None,
    processes: int | None,
) -> Settings:
    from chute.settings import load_settings

    worker = {"processes": processes} if processes is not None else None
    try:
        return load_settings(
            config, address=address, data_dir=data_dir, database_url=database_url, worker=worker
        )
    except ConfigError as exc:
        _config_problems(exc)


def _config_problems(exc: ConfigError) -> NoReturn:
    """Print each configuration problem on its own line and exit 2."""
    for problem in exc.problems:
        typer.echo(f"error: {problem}", err=True)
    raise typer.Exit(2) from None


# --- buckets -----------------------------------------------------------------------------


@app.command()
def mb(
    ctx: typer.Context,
    bucket: Annotated[str, typer.Argument(metavar="BUCKET", help="Name of the new bucket.")],
    versioning: Annotated[
        bool, typer.Option("--versioning", help="Keep every version of every object.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Make a bucket."""
    with connect(ctx) as client:
        created = client.create_bucket(bucket, versioning=versioning)
    if as_json:
        print_json(created)
    else:
        typer.echo(f"created bucket {created.name} (versioning {created.versioning})")


@app.command()
def rb(
    ctx: typer.Context,
    bucket: Annotated[
        str, typer.Argument(metavar="BUCKET", help="The bucket to remove; it must be empty.")
    ],
) -> None:
    """Remove an empty bucket."""
    with connect(ctx) as client:
        client.delete_bucket(bucket)
    typer.echo(f"removed bucket {bucket}")


class VersioningChange(StrEnum):
    """What ``chute versioning BUCKET ACTION`` can do."""

    enable = "enable"
    suspend = "suspend"


_NEW_STATUS: dict[VersioningChange, VersioningStatus] = {
    VersioningChange.enable: "enabled",
    VersioningChange.suspend: "suspended",
}


@app.command()
def versioning(
    ctx: typer.Context,
    bucket: Annotated[str, typer.Argument(metavar="BUCKET", help="The bucket.")],
    change: Annotated[
        VersioningChange | None,
        typer.Argument(metavar="ACTION", help="Omit to show the current state."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a bucket's versioning state, or enable or suspend versioning."""
    with connect(ctx) as client:
        if change is None:
            status = client.get_versioning(bucket)
        else:
            status = client.set_versioning(bucket, _NEW_STATUS[change])
    if as_json:
        print_json({"bucket": bucket, "status": status})
    else:
        typer.echo(f"{bucket}: versioning {status}")


# --- objects -----------------------------------------------------------------------------


@contextmanager
def open_source(file: Path) -> Iterator[tuple[BinaryIO, int | None]]:
    """The upload's bytes and their size: a file, or standard input (size unknown)."""
    if str(file) == "-":
        yield sys.stdin.buffer, None
        return
    with file.open("rb") as source:
        yield source, os.fstat(source.fileno()).st_size


def guess_content_type(file: Path, key: str) -> str | None:
    """The content type the local file name suggests, or failing that the key."""
    name = key if str(file) == "-" else file.name
    return mimetypes.guess_type(name)[0] or mimetypes.guess_type(key)[0]


@app.command()
def put(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            parser=parse_upload_source,
            metavar="FILE",
            help="File to upload; - for stdin.",
        ),
    ],
    target: Target,
    content_type: Annotated[
        str | None, typer.Option(help="Guessed from the file name when omitted.")
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", metavar="NAME=VALUE", help="User metadata; repeat for more."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Upload a file as an object."""
    metadata = parse_metadata(meta or [])
    content_type = content_type or guess_content_type(file, target.key)
    with (
        connect(ctx) as client,
        open_source(file) as (source, size),
        progress_bar(size, str(target)) as advance,
    ):
        written = client.put_object(
            target.bucket,
            target.key,
            source,
            size=size,
            content_type=content_type,
            metadata=metadata,
            progress=advance,
        )
    if as_json:
        print_json(written)
    else:
        size_text = human_size(written.size)
        typer.echo(f"uploaded {target} ({size_text}, version {written.version_id})")


def save(download: Download, path: Path) -> None:
    """Write a download to ``path`` through a temporary file beside it, so an interrupted
    download never leaves a truncated file under the final name."""
    partial = path.with_name(f".{path.name}.chute-partial")
    try:
        with partial.open("wb") as sink, progress_bar(download.size, path.name) as advance:
            download.write_to(sink, advance)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


@app.command()
def get(
    ctx: typer.Context,
    source: Target,
    file: Annotated[
        Path | None,
        typer.Argument(
            allow_dash=True,
            metavar="FILE",
            help="Where to save it (in a folder: under the key's name); - or omitted: stdout.",
        ),
    ] = None,
    version_id: VersionId = None,
) -> None:
    """Download an object to a file or standard output."""
    with (
        connect(ctx) as client,
        client.open_object(source.bucket, source.key, version_id=version_id) as download,
    ):
        if file is None or str(file) == "-":
            with progress_bar(download.size, str(source)) as advance:
                download.write_to(sys.stdout.buffer, advance)
            sys.stdout.buffer.flush()
            return
        if file.is_dir():
            file = file / PurePosixPath(source.key).name
        save(download, file)


@app.command()
def rm(ctx: typer.Context, target: Target, version_id: VersionId = None) -> None:
    """Delete an object (in a versioned bucket: add a delete marker), or one version of it."""
    with connect(ctx) as client:
        deleted = client.delete_object(target.bucket, target.key, version_id=version_id)
    if version_id is not None:
        typer.echo(f"deleted {target} version {version_id}")
    elif deleted.delete_marker:
        typer.echo(f"deleted {target} (delete marker {deleted.version_id})")
    else:
        typer.echo(f"deleted {target}")


def current_version(client: ChuteClient, target: ObjectRef) -> ObjectInfo | None:
    """The object's current version, or ``None`` when its latest version is a delete marker."""
    try:
        return client.head_object(target.bucket, target.key)
    except ChuteClientError as exc:
        if exc.code == NoSuchKey.code:
            return None
        raise


@app.command()
def stat(ctx: typer.Context, target: Target, as_json: JsonFlag = False) -> None:
    """Show an object: its current version, every version, and every event that touched it."""
    with connect(ctx) as client:
        detail = client.object_detail(target.bucket, target.key)
        current = current_version(client, target)
    if as_json:
        print_json({**detail.model_dump(mode="json", by_alias=True), "current": current})
        return
    typer.echo("\n".join(current_lines(target, current)))
    show(versions_table(detail.versions))
    show(events_table(detail.events))


# --- listings ----------------------------------------------------------------------------


@app.command("ls")
def ls(
    ctx: typer.Context,
    location: Annotated[
        Location | None,
        typer.Argument(
            parser=parse_location,
            metavar="BUCKET[/PREFIX]",
            help="Omit to list buckets.",
            show_default=False,
        ),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Every key under the prefix, not one level.")
    ] = False,
    versions: Annotated[
        bool, typer.Option("--versions", help="Every version and delete marker.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """List buckets, or a bucket's objects one level at a time (PRE lines are "folders")."""
    with connect(ctx) as client:
        if location is None:
            list_buckets(client, as_json)
        elif versions:
            list_versions(client, location, as_json)
        else:
            list_objects(client, location, recursive, as_json)


def list_buckets(client: ChuteClient, as_json: bool) -> None:
    """Every bucket, as a table or ``{"buckets": [...]}``."""
    buckets = client.list_buckets()
    if as_json:
        print_json(BucketList(buckets=buckets))
        return
    table = new_table("Bucket", "Versioning", "Created")
    for bucket in buckets:
        table.add_row(bucket.name, bucket.versioning, format_time(bucket.created_at))
    show(table)


def list_objects(client: ChuteClient, where: Location, recursive: bool, as_json: bool) -> None:
    """Objects under a prefix, page after page, like ``aws s3 ls``: names relative to the
    prefix's folder, unless ``recursive``, which shows whole keys."""
    delimiter = None if recursive else "/"
    pages = client.walk_objects(where.bucket, prefix=where.prefix, delimiter=delimiter)
    if as_json:
        print_json(merge_pages(pages))
        return
    folder = "" if recursive else where.prefix[: where.prefix.rfind("/") + 1]
    for page in pages:
        for prefix in page.common_prefixes:
            typer.echo(f"{'':24} {'PRE':>10} {prefix.removeprefix(folder)}")
        for found in page.objects:
            size = human_size(found.size)
            modified = format_time(found.last_modified)
            typer.echo(f"{modified:24} {size:>10} {found.key[len(folder) :]}")


def merge_pages(pages: Iterator[ObjectList]) -> dict[str, list[VersionView] | list[str]]:
    """One listing document from all its pages."""
    objects: list[VersionView] = []
    prefixes: list[str] = []
    for page in pages:
        objects += page.objects
        prefixes += page.common_prefixes
    return {"objects": objects, "common_prefixes": prefixes}


def list_versions(client: ChuteClient, where: Location, as_json: bool) -> None:
    """Every version under a prefix: keys in order, newest version first."""
    pages = client.walk_versions(where.bucket, prefix=where.prefix)
    if as_json:
        print_json({"versions": [v for page in pages for v in page.versions]})
        return
    for page in pages:
        for version in page.versions:
            size = size_or_marker(version, "(deleted)")
            latest = "  (latest)" if version.is_latest else ""
            modified = format_time(version.last_modified)
            typer.echo(f"{modified:24} {size:>10} {version.key}  {version.version_id}{latest}")


# --- events ------------------------------------------------------------------------------


@app.command()
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


# Processing commands register themselves on ``app``.
from chute.cli import processing  # noqa: E402, F401
