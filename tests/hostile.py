"""Processors that misbehave on purpose, for the worker pool's tests. Worker processes
import this module through ``worker.modules``."""

from __future__ import annotations

import os
import time
from pathlib import Path

from chute.errors import Retry
from chute.processors import Context, processor


@processor("test.hang")
def hang(ctx: Context) -> None:
    """Never returns (until the pool kills it)."""
    while True:
        time.sleep(1)


@processor("test.allocate")
def allocate(ctx: Context) -> None:
    """Allocates without bound."""
    blocks = []
    while True:
        blocks.append(bytearray(16 * 1024 * 1024))


@processor("test.abort")
def abort(ctx: Context) -> None:
    """Kills its own process (like a segfault in a C library)."""
    os.abort()


@processor("test.raise")
def fail(ctx: Context) -> None:
    """Raises an ordinary exception."""
    raise ValueError(f"cannot handle {ctx.source.key}")


@processor("test.retry")
def retry(ctx: Context) -> None:
    """Asks for a retry on its first attempt, then succeeds."""
    if ctx.attempt == 1:
        raise Retry(delay=0.0, reason="not yet")
    ctx.write_output(b"done", content_type="text/plain")


@processor("test.once", output_template="{key}.out")
def once(ctx: Context) -> None:
    """Writes one output; hangs on the first attempt if the source says so, leaving a
    marker file so a test knows the attempt has started."""
    data = ctx.open().read()
    if data.startswith(b"hang-first:") and ctx.attempt == 1:
        Path(data.split(b":", 1)[1].decode()).write_text("started")
        while True:
            time.sleep(1)
    ctx.write_output(data[::-1], content_type="application/octet-stream")


@processor("test.batch", batch_size=4, batch_wait_ms=200)
def batch(contexts: list[Context]) -> None:
    """Records how many jobs came in its batch."""
    for ctx in contexts:
        ctx.report["batch"] = len(contexts)


@processor("test.wait")
def wait_for_release(ctx: Context) -> None:
    """Marks that it started (``<source>.started``), then waits for ``<source>.release``;
    the source's bytes name the folder of both files."""
    folder = Path(ctx.open().read().decode())
    (folder / "started").write_text("")
    while not (folder / "release").exists():
        time.sleep(0.01)
    ctx.write_output(b"released", content_type="text/plain")


@processor("test.sleep")
def sleep(ctx: Context) -> None:
    """Takes a second: a slow step, for tests of how jobs spread over workers."""
    time.sleep(1.0)


@processor("test.gather", batch_size=10, batch_wait_ms=60_000)
def gather(contexts: list[Context]) -> None:
    """A batch step that waits a minute for its batch to fill: its jobs stay claimed
    and unstarted in the pool's buffer meanwhile."""


@processor("test.stage_then_wait", output_template="{key}.out")
def stage_then_wait(ctx: Context) -> None:
    """Stage an output big enough for the blob store, touch ``started`` in the folder the
    source's bytes name, then wait until ``release`` appears there."""
    folder = Path(ctx.open().read().decode())
    ctx.write_output(b"x" * (200 * 1024), content_type="application/octet-stream")
    (folder / "started").write_text("")
    while not (folder / "release").exists():
        time.sleep(0.01)
