"""Small general processors: ``noop`` and ``copy``."""

from __future__ import annotations

from chute.processors.base import Context
from chute.processors.registry import processor


@processor("noop")
def noop(ctx: Context) -> None:
    """Does nothing: for trying pipelines out and measuring the queue's own overhead."""


@processor("copy", output_template="{key}")
def copy(ctx: Context) -> None:
    """Copies the source object to the output bucket (by default under the same key)."""
    with ctx.open() as stream:
        ctx.write_output(
            iter(lambda: stream.read(1024 * 1024), b""), content_type=ctx.source.content_type
        )
