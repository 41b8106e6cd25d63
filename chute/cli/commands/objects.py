"""``chute put``, ``get``, ``rm`` and ``stat``: one object at a time, streamed both ways."""

from __future__ import annotations

import mimetypes
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Annotated, BinaryIO

import typer

from chute.cli.args import (
    JsonFlag,
    ObjectRef,
    Target,
    VersionId,
    parse_metadata,
    parse_upload_source,
)
from chute.cli.client import ChuteClient, ChuteClientError, Download, ObjectInfo
from chute.cli.connection import connect
from chute.cli.output import (
    current_lines,
    events_table,
    human_size,
    print_json,
    print_result,
    progress_bar,
    show,
    versions_table,
)
from chute.errors import NoSuchKey


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
    line = f"uploaded {target} ({human_size(written.size)}, version {written.version_id})"
    print_result(written, as_json, line)


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
