"""``chute ls``: buckets, a bucket's objects one level at a time or all of them, or every
version, following the listing's pages to the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import typer

from chute.api.rest.models.buckets import BucketList
from chute.api.rest.models.objects import ObjectList, VersionView
from chute.cli.args import JsonFlag, Location, parse_location
from chute.cli.client import ChuteClient
from chute.cli.connection import connect
from chute.cli.output import human_size, new_table, print_json, show, size_or_marker
from chute.events import format_time


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
            typer.echo(_line("", "PRE", prefix.removeprefix(folder)))
        for found in page.objects:
            modified = format_time(found.last_modified)
            typer.echo(_line(modified, human_size(found.size), found.key[len(folder) :]))


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
            name = f"{version.key}  {version.version_id}{latest}"
            typer.echo(_line(format_time(version.last_modified), size, name))


def _line(modified: str, size: str, name: str) -> str:
    """One line of a human listing; its columns are the same for objects and versions."""
    return f"{modified:24} {size:>10} {name}"
