"""The worker process: runs the attempts the pool sends it (each one task, or a batch of
tasks of one batch step), one at a time, in order.

It holds no catalog connection: a :class:`~chute.worker.messages.Task` carries all an
attempt needs, and the :class:`~chute.worker.messages.Result` goes back over the pipe.
A task that hangs or crashes the process is dealt with by the pool, which kills or
replaces this process; everything a processor raises is turned into a result here.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import pickle
import signal
import traceback
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from chute.blobs import BlobStore, open_blob_store
from chute.errors import Reject, Retry
from chute.functions.processor import install
from chute.functions.service import FunctionsSetup, open_functions
from chute.jobs import Result, Task, staging_prefix
from chute.processors.base import Context, ItemSource
from chute.processors.registry import ProcessorSpec, get_processor, import_modules
from chute.queue.states import Outcome
from chute.settings import BlobSettings
from chute.worker.limits import die_with_parent
from chute.worker.staging import BlobInput, BlobSink

log = logging.getLogger("chute.worker")


@dataclass(frozen=True, slots=True)
class ChildConfig:
    """What a worker process needs to start (picklable)."""

    blobs: BlobSettings
    data_dir: Path
    small_blob_limit: int
    modules: tuple[str, ...]
    log_level: str = "info"
    #: The functions this process's ``function.invoke`` steps run (``None``: none).
    functions: FunctionsSetup | None = None


def main(conn: Connection, config: ChildConfig) -> None:
    """Entry point of a worker process: run the attempts the pool sends, in order, until
    the pipe closes."""
    die_with_parent()
    # Ctrl-C and service managers signal the whole process group: the pool alone decides
    # when a running step stops (it drains, then kills), so its processes ignore them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(
        level=config.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    # libvips narrates every operation at INFO; keep the step's own logs readable.
    logging.getLogger("pyvips").setLevel(max(logging.WARNING, logging.getLogger().level))
    for problem in import_modules(list(config.modules)):
        log.error("%s", problem)
    runner = TaskRunner(open_blob_store(config.blobs, config.data_dir), config.small_blob_limit)
    if config.functions is not None:
        install(open_functions(config.functions, blobs=runner.blobs))
    conn.send(("ready", os.getpid()))
    waiting: deque[list[Task]] = deque()
    while True:
        # The answer to each attempt goes back before the next one starts. The pipe is
        # read once every attempt taken from it is answered: the pool never lets more
        # wait in it than it holds.
        while not waiting:
            try:
                attempts = _attempts(conn.recv_bytes())
            except (EOFError, OSError):
                return
            if attempts is None:
                return
            waiting.extend(attempts)
        conn.send(runner.run(waiting.popleft()))


def _attempts(message: bytes) -> list[list[Task]] | None:
    """The attempts in one message from the pool (one pickle each), or ``None``: stop."""
    stream = io.BytesIO(message)
    attempts = []
    while stream.tell() < len(message):
        attempt = pickle.load(stream)
        if attempt is None:
            return None
        attempts.append(attempt)
    return attempts


class TaskRunner:
    """Runs tasks in this process and describes how each ended."""

    def __init__(self, blobs: BlobStore, inline_limit: int) -> None:
        self.blobs = blobs
        self.inline_limit = inline_limit
        self._options: dict[tuple[str, str, int], Any] = {}

    def run(self, tasks: list[Task]) -> list[Result]:
        """Run one task, or a batch of tasks of one batch-processor step."""
        first = tasks[0]
        started = _now()
        try:
            spec = get_processor(first.processor)
            contexts = [self._context(task, spec) for task in tasks]
        except Exception as exc:
            return [_failure(task, exc, started) for task in tasks]
        try:
            return self._call(spec, tasks, contexts, started)
        finally:
            for context in contexts:
                context.close()

    def _call(
        self, spec: ProcessorSpec, tasks: list[Task], contexts: list[Context], started: datetime
    ) -> list[Result]:
        try:
            if spec.batch is not None:
                spec.func(contexts)
            else:
                spec.func(contexts[0])
        except BaseException as exc:
            for context in contexts:
                context.discard_outputs()
            if not isinstance(exc, Exception | MemoryError):
                raise
            # What a step found out before it failed (a delivery's status code, a
            # function's log) is kept.
            return [
                dataclasses.replace(
                    _failure(task, exc, started),
                    report=_json_safe(c.report),
                    function_logs=c.function_logs,
                )
                for task, c in zip(tasks, contexts, strict=True)
            ]
        ended = _now()
        return [
            Result(
                task.job_id,
                task.attempt,
                Outcome.SUCCEEDED,
                started,
                ended,
                outputs=context.outputs,
                metadata=_json_safe(context.metadata),
                report=_json_safe(context.report),
                function_logs=context.function_logs,
            )
            for task, context in zip(tasks, contexts, strict=True)
        ]

    def _context(self, task: Task, spec: ProcessorSpec) -> Context:
        inline_limit = 0 if task.keeps_items else self.inline_limit
        items = [
            ItemSource(
                i.key,
                i.size,
                i.content_type,
                i.metadata,
                BlobInput(self.blobs, i.location, i.inline),
                i.step,
            )
            for i in task.items
        ]
        return Context(
            source=task.source,
            source_input=BlobInput(self.blobs, task.location, task.inline, task.segments),
            sink=BlobSink(self.blobs, inline_limit, staging_prefix(task.job_id, task.claim)),
            options=self._parsed_options(task, spec),
            event=task.event_json,
            output_template=task.output_template,
            pipeline=task.pipeline,
            step=task.step,
            attempt=task.attempt,
            logger=logging.getLogger(f"chute.step.{task.pipeline}.{task.step}"),
            payload=task.payload,
            items=items,
            item_index=task.payload.get("item"),
        )

    def _parsed_options(self, task: Task, spec: ProcessorSpec) -> Any:
        key = (task.pipeline, task.step, hash(repr(sorted(task.options.items()))))
        if key not in self._options:
            self._options[key] = spec.parse_options(task.options)
        return self._options[key]


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as the catalog can store them: JSON, with anything else (dates, bytes,
    custom objects) as its text."""
    if not values:
        return {}
    safe: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return safe


def _failure(task: Task, exc: BaseException, started: datetime) -> Result:
    """The result of an attempt that raised ``exc``."""
    ended = _now()
    if isinstance(exc, Retry):
        return Result(
            task.job_id,
            task.attempt,
            Outcome.RETRY,
            started,
            ended,
            error=exc.message,
            retry_delay=exc.delay,
        )
    if isinstance(exc, Reject):
        return Result(
            task.job_id,
            task.attempt,
            Outcome.REJECTED,
            started,
            ended,
            error=f"rejected: {exc.message}",
        )
    if isinstance(exc, MemoryError):
        error = "ran out of memory (the machine's, or the process's address space)"
        return Result(task.job_id, task.attempt, Outcome.OUT_OF_MEMORY, started, ended, error=error)
    error = f"{type(exc).__name__}: {exc}"
    return Result(
        task.job_id,
        task.attempt,
        Outcome.FAILED,
        started,
        ended,
        error=error,
        traceback="".join(traceback.format_exception(exc)),
    )


def _now() -> datetime:
    return datetime.now(UTC)
