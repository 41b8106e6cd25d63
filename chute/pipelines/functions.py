"""Asynchronous invocations of functions, through the durable queue.

Each function (``[functions.NAME]``) is compiled into a pipeline of its own,
``function:NAME`` (a configured pipeline's name cannot hold ``:``), with one
``function.invoke`` step and no trigger: bucket notification rules naming the
function's ARN start it with ``{"Records": [record]}`` in the transaction of the event,
and the Lambda API's ``InvocationType: Event`` queues its payload. So an event reaches
its function at least once, is retried as Lambda retries, shows in the status of its
object, and ends in the dead letters if it keeps failing.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chute.catalog import Catalog, CatalogSession
from chute.clock import Clock
from chute.functions.definitions import Function, FunctionSource
from chute.functions.processor import event_payload
from chute.pipelines.deliveries import NO_TRIGGER
from chute.pipelines.model import Pipeline, function_step
from chute.queue.records import NewJob, RunSource
from chute.queue.retry import RetryPolicy

#: Names of function pipelines: this and the function's name.
FUNCTION_PREFIX = "function:"
#: The one step of a function pipeline.
INVOKE_STEP = "invoke"


@dataclass(frozen=True)
class FunctionTarget:
    """A function as the queue sees it: the pipeline its invocations run in."""

    function: str
    pipeline: Pipeline
    #: The revision of the function it was compiled from.
    revision: str = ""
    arn: str = ""
    #: The ARNs its invocation records go to (Lambda's destinations, see
    #: :mod:`chute.pipelines.destinations`).
    on_success: str | None = None
    on_failure: str | None = None

    def jobs(self, event: Any, request_id: str | None = None, chain: int = 1) -> list[NewJob]:
        """The job invoking the function on ``event`` (every attempt with one request
        id, as Lambda keeps it across retries), ``chain`` deep in a chain of invocations."""
        step = self.pipeline.steps[INVOKE_STEP]
        payload = event_payload(event, request_id or str(uuid.uuid4()), time.time(), chain)
        return [NewJob(step=INVOKE_STEP, max_attempts=step.retry.max_attempts, payload=payload)]


def function_pipeline_name(function: str) -> str:
    return FUNCTION_PREFIX + function


def function_target(function: Function) -> FunctionTarget:
    """``function`` as the target of its asynchronous invocations."""
    config = function.config
    delay = config.retry_delay_seconds
    policy = RetryPolicy(config.maximum_retry_attempts + 1, delay, 2 * delay, False)
    step = function_step(INVOKE_STEP, function, policy)
    name = function_pipeline_name(function.name)
    pipeline = Pipeline(name, NO_TRIGGER, {INVOKE_STEP: step}, "", reads_source=False)
    return FunctionTarget(
        function.name,
        pipeline,
        function.revision,
        function.arn,
        config.on_success,
        config.on_failure,
    )


class FunctionTargets(Mapping[str, FunctionTarget]):
    """Every function as a queue target, by name, as its source knows it now: functions
    made through the Lambda API come and change while Chute runs. Each is compiled once
    per revision."""

    def __init__(self, source: FunctionSource) -> None:
        self.source = source
        self._compiled: dict[str, FunctionTarget] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> FunctionTarget:
        function = self.source.function(name)
        if function is None:
            raise KeyError(name)
        return self._target(function)

    def __iter__(self) -> Iterator[str]:
        return iter([function.name for function in self.source.functions()])

    def __len__(self) -> int:
        return len(self.source.functions())

    def pipelines(self) -> list[Pipeline]:
        """The pipelines of every function."""
        return [self._target(function).pipeline for function in self.source.functions()]

    def _target(self, function: Function) -> FunctionTarget:
        with self._lock:
            known = self._compiled.get(function.name)
        if known is not None and known.revision == function.revision:
            return known
        target = function_target(function)
        with self._lock:
            self._compiled[function.name] = target
        return target


class RunnablePipelines(Mapping[str, Pipeline]):
    """What workers run: the configured pipelines and deliveries (fixed at start), and
    the functions' pipelines (``function:NAME``), which come and go with them."""

    def __init__(self, fixed: Mapping[str, Pipeline], functions: FunctionTargets) -> None:
        self.fixed = fixed
        self.functions = functions

    def __getitem__(self, name: str) -> Pipeline:
        if name in self.fixed:
            return self.fixed[name]
        if name.startswith(FUNCTION_PREFIX):
            return self.functions[name.removeprefix(FUNCTION_PREFIX)].pipeline
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        names = [*self.fixed, *(p.name for p in self.functions.pipelines())]
        return iter(dict.fromkeys(names))

    def __len__(self) -> int:
        return len(list(iter(self)))


class FunctionQueue:
    """Queues asynchronous invocations that no object event started (the Lambda API's
    ``InvocationType: Event``)."""

    def __init__(
        self,
        catalog: Catalog,
        targets: Mapping[str, FunctionTarget],
        clock: Clock,
        on_jobs: Callable[[], None],
    ) -> None:
        self.catalog = catalog
        self.targets = targets
        self.clock = clock
        self.on_jobs = on_jobs

    def enqueue(self, function: str, event: Any, request_id: str) -> int:
        """Queue one invocation of ``function`` on ``event``; returns its run's id."""
        target = self.targets[function]

        def work(session: CatalogSession) -> int:
            source = RunSource("", "", "", None, {"eventSource": "chute:invoke"})
            jobs = target.jobs(event, request_id)
            return session.queue.create_run(target.pipeline.name, source, jobs, self.clock())

        run_id = self.catalog.run_write(work)
        self.on_jobs()
        return run_id
