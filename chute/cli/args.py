"""Parsing of the ``chute`` command's arguments: objects named as ``BUCKET/KEY``,
locations as ``BUCKET[/PREFIX]``, upload sources, ``--meta NAME=VALUE`` pairs and JSON
payloads (``--payload JSON|@FILE``). Each parser turns a malformed value into
``typer.BadParameter``, so the command ends with a usage error (exit 2) before any
request reaches the server. Also the arguments and
options that commands of several areas share (:data:`Target`, :data:`JsonFlag`,
:data:`VersionId`).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer


@dataclass(frozen=True)
class ObjectRef:
    """An object named on the command line as ``BUCKET/KEY``."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Location:
    """A bucket and a key prefix, named on the command line as ``BUCKET[/PREFIX]``."""

    bucket: str
    prefix: str = ""


def parse_object_ref(value: str) -> ObjectRef:
    """``BUCKET/KEY``, both parts required; the key may contain further slashes."""
    bucket, slash, key = value.partition("/")
    if not (bucket and slash and key):
        raise typer.BadParameter(f"{value!r} is not BUCKET/KEY")
    return ObjectRef(bucket, key)


def parse_upload_source(value: str) -> Path:
    """An existing file to upload, or ``-`` for standard input."""
    if value != "-" and not Path(value).is_file():
        raise typer.BadParameter(f"{value!r} is not a file")
    return Path(value)


def parse_payload(value: str, option: str = "--payload") -> Any:
    """JSON text, or ``@FILE`` holding it (``@-``: standard input)."""
    text = value
    if value.startswith("@"):
        source = value[1:]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {source!r}: {exc}", param_hint=option) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"is not JSON ({exc})", param_hint=option) from None


def parse_location(value: str) -> Location:
    """``BUCKET`` or ``BUCKET/PREFIX``."""
    bucket, _, prefix = value.partition("/")
    if not bucket:
        raise typer.BadParameter(f"{value!r} is not BUCKET[/PREFIX]")
    return Location(bucket, prefix)


_META_NAME = re.compile(r"[A-Za-z0-9_-]+")
_META_VALUE = re.compile(r"[ -~]*")


def parse_metadata(pairs: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` pairs as user metadata. HTTP headers carry them, hence ASCII only."""
    metadata = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not (equals and _META_NAME.fullmatch(name) and _META_VALUE.fullmatch(value)):
            raise typer.BadParameter(
                f"{pair!r} is not NAME=VALUE (letters, digits, - and _ in the name; "
                "printable ASCII in the value)",
                param_hint="--meta",
            )
        metadata[name.lower()] = value
    return metadata


Target = Annotated[
    ObjectRef, typer.Argument(parser=parse_object_ref, metavar="BUCKET/KEY", show_default=False)
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
VersionId = Annotated[str | None, typer.Option(help="A version of the object, not the latest.")]
