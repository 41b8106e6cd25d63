"""``chute mb``, ``rb`` and ``versioning``: making, removing and versioning buckets."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from chute.api.rest.models.buckets import VersioningStatus
from chute.cli.args import JsonFlag
from chute.cli.connection import connect
from chute.cli.output import print_result


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
    line = f"created bucket {created.name} (versioning {created.versioning})"
    print_result(created, as_json, line)


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
    print_result({"bucket": bucket, "status": status}, as_json, f"{bucket}: versioning {status}")
