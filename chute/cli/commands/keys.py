"""``chute keys``: making, listing, disabling, enabling and removing access keys (an
admin's key is needed: the root key, on a fresh server)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from chute.api.rest.models.keys import GrantView, KeyView
from chute.cli.args import JsonFlag
from chute.cli.connection import connect
from chute.cli.output import new_table, print_json, print_result, show

app = typer.Typer(name="keys", help="Manage access keys (admins only).", no_args_is_help=True)


class AccessName(StrEnum):
    """What ``--access`` may name."""

    read = "read"
    write = "write"
    admin = "admin"


KeyId = Annotated[str, typer.Argument(metavar="KEY_ID", help="The access key id.")]


@app.command()
def create(
    ctx: typer.Context,
    access: Annotated[
        list[AccessName],
        typer.Option(
            "--access",
            help="read (get, list), write (put, delete) or admin (everything); repeatable.",
            show_default=False,
        ),
    ],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "key",
    bucket: Annotated[
        list[str] | None,
        typer.Option("--bucket", help="Only this bucket (repeatable; default: every bucket)."),
    ] = None,
    prefix: Annotated[
        list[str] | None,
        typer.Option("--prefix", help="Only keys under this prefix (repeatable; default: all)."),
    ] = None,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            help="On this SQS queue too (repeatable; '*': every queue); alone, on queues only.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Make an access key. Its secret is printed this once: store it now."""
    buckets = bucket or ([] if queue else ["*"])
    grant = GrantView(
        access=[a.value for a in access],
        buckets=buckets,
        prefixes=prefix or [""],
        queues=queue or [],
    )
    with connect(ctx) as client:
        new = client.create_key(name, [grant])
    if as_json:
        print_json(new)
        return
    typer.echo(f"created access key {new.id} ({new.name}): {_grants(new)}")
    typer.echo(f"access key id:     {new.id}")
    typer.echo(f"secret access key: {new.secret}")
    typer.echo("The secret is shown this once: store it now.", err=True)


@app.command("ls")
def list_keys(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List access keys (never their secrets)."""
    with connect(ctx) as client:
        found = client.list_keys()
    if as_json:
        print_json({"keys": found})
        return
    table = new_table("id", "name", "grants", "state", "created")
    for key in found:
        state = ("root, " if key.is_root else "") + ("enabled" if key.enabled else "disabled")
        table.add_row(key.id, key.name, _grants(key), state, key.created_at.isoformat())
    show(table)


@app.command("rm")
def remove(ctx: typer.Context, key_id: KeyId) -> None:
    """Remove an access key for good."""
    with connect(ctx) as client:
        client.remove_key(key_id)
    typer.echo(f"removed access key {key_id}")


@app.command()
def disable(ctx: typer.Context, key_id: KeyId, as_json: JsonFlag = False) -> None:
    """Stop an access key working (at once on this server; within auth.cache_seconds on
    others sharing its catalog)."""
    with connect(ctx) as client:
        key = client.disable_key(key_id)
    print_result(key, as_json, f"disabled access key {key_id}")


@app.command()
def enable(ctx: typer.Context, key_id: KeyId, as_json: JsonFlag = False) -> None:
    """Let a disabled access key work again."""
    with connect(ctx) as client:
        key = client.enable_key(key_id)
    print_result(key, as_json, f"enabled access key {key_id}")


def _grants(key: KeyView) -> str:
    """``read,write on photos/public/*; admin on *``."""
    parts = []
    for grant in key.grants:
        places = [
            f"{bucket}/{prefix}*" if prefix else bucket
            for bucket in grant.buckets
            for prefix in grant.prefixes
        ]
        places += [f"queue {name}" for name in grant.queues]
        parts.append(f"{','.join(grant.access)} on {' '.join(places)}")
    return "; ".join(parts)
