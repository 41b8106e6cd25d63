"""Pipelines as the worker and router use them, compiled from the config.

:func:`compile_pipelines` checks everything that needs the processors (each exists,
accepts its options, ``needs`` contain no cycle, ``when`` conditions compile, see
:mod:`chute.pipelines.conditions`, and Maps run over a step's items, see
:mod:`chute.pipelines.maps`) and reports every problem at once,
each naming its pipeline, step and field, so a broken config fails at start.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from chute.context import PIPELINE_PRINCIPAL
from chute.errors import ChuteError, ConditionError, ConfigError, UnknownProcessor
from chute.functions.definitions import Function
from chute.functions.environment import INIT_SECONDS
from chute.functions.processor import FUNCTION_PROCESSOR, InvokeOptions
from chute.pipelines.conditions import Condition
from chute.processors.base import Context
from chute.processors.registry import ProcessorSpec, get_processor, import_modules, processor
from chute.queue.retry import RetryPolicy
from chute.queue.states import JobKind
from chute.settings import (
    NAME,
    NotifyConfig,
    PipelineConfig,
    StepConfig,
    TriggerConfig,
)

#: Seconds a function step may run past the function's timeout and cold start.
INVOKE_MARGIN_SECONDS = 5.0

#: The processor that delivers a pipeline's notifications (``[[pipelines.X.notify]]``).
NOTIFY_PROCESSOR = "notify.deliver"
#: The processor of a queue step, which no worker runs: the broker hands its jobs to
#: the queue's consumers (see :mod:`chute.pipelines.tasks`).
TASK_PROCESSOR = "sqs.task"


@processor(TASK_PROCESSOR)
def _handed_to_a_queue(ctx: Context) -> None:
    """A queue step (``queue = "NAME"``): an SQS queue's consumers do the work and
    answer with the message's task token."""
    raise ChuteError("a queue step's jobs go to the queue's consumers, never to a worker")


class TriggerCondition(StrEnum):
    """A condition a trigger sets on the object itself, named as the trigger's field in
    ``chute.toml``, so that a refusal can point at the setting."""

    BUCKET = "bucket"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    CONTENT_TYPE = "content_type"
    MIN_SIZE = "min_size"
    MAX_SIZE = "max_size"


@dataclass(frozen=True)
class Step:
    """A step ready to run: its processor, parsed options and limits, and the condition
    it runs on (``None``: always)."""

    name: str
    processor: ProcessorSpec
    options: Any
    raw_options: dict[str, Any]
    needs: tuple[str, ...]
    output_template: str
    timeout_seconds: float
    memory_mb: int
    retry: RetryPolicy
    when: Condition | None = None
    #: A Map: the step whose items this one runs a job on, one each.
    map_over: str | None = None
    #: A Map's most unfinished item jobs at a time (0: ``MAP_WINDOW``).
    max_concurrency: int = 0
    #: Whether its outputs are items the run keeps for its other steps (a step a Map
    #: runs over, or a Map that a step joins) rather than objects in the output bucket.
    keeps_items: bool = False
    #: The steps whose items it gets as ``ctx.items`` (the Maps it joins).
    joins: tuple[str, ...] = ()
    #: A queue step: the SQS queue whose consumers do its work...
    queue: str | None = None
    #: ...sending SendTaskHeartbeat at least this often, if set.
    heartbeat_seconds: float | None = None


@dataclass(frozen=True)
class Notification:
    """A ``[[pipelines.X.notify]]`` block, compiled: when it is sent (``success``,
    ``failure``), to which URLs, and the step (``notify.deliver``) that sends it."""

    on: frozenset[str]
    urls: tuple[str, ...]
    step: Step


@dataclass(frozen=True)
class Pipeline:
    """A compiled pipeline."""

    name: str
    trigger: TriggerConfig
    steps: dict[str, Step]
    output_bucket: str
    notifications: tuple[Notification, ...] = ()
    #: Whether its steps read the object's bytes. A delivery to a webhook target only
    #: tells of an event, so it still goes out once the version is overwritten or gone.
    reads_source: bool = True

    def step_of(self, kind: str, step: str, payload: Mapping[str, Any]) -> Step | None:
        """The step a job runs: one of the graph, or the one of the notification it
        delivers (``payload["notify"]`` is its index); ``None`` if no longer configured."""
        if kind != JobKind.NOTIFY:
            return self.steps.get(step)
        index = int(payload.get("notify", -1))
        return self.notifications[index].step if 0 <= index < len(self.notifications) else None

    @property
    def needed(self) -> frozenset[str]:
        """Steps some other step waits for."""
        return frozenset(need for step in self.steps.values() for need in step.needs)

    def upstream(self, name: str) -> frozenset[str]:
        """The steps ``name`` needs, directly or through others: those sure to have
        ended when it starts."""
        found: set[str] = set()
        todo = list(self.steps[name].needs) if name in self.steps else []
        while todo:
            need = todo.pop()
            if need not in found:
                found.add(need)
                todo += self.steps[need].needs if need in self.steps else ()
        return frozenset(found)

    def matches(
        self, event_name: str, bucket: str, key: str, size: int, content_type: str, principal: str
    ) -> bool:
        """Whether an event on an object starts this pipeline."""
        trigger = self.trigger
        if self.refuses(bucket, key, size, content_type) is not None:
            return False
        if not any(fnmatch.fnmatchcase(event_name, pattern) for pattern in trigger.events):
            return False
        return trigger.include_outputs or not principal.startswith(PIPELINE_PRINCIPAL)

    def refuses(
        self, bucket: str, key: str, size: int, content_type: str
    ) -> TriggerCondition | None:
        """The first condition on the object that ``bucket/key`` fails, ``None`` if it
        meets them all: the part of :meth:`matches` a reprocess applies too."""
        return self.refuses_place(bucket, key) or self._refuses_content(key, size, content_type)

    def refuses_place(self, bucket: str, key: str) -> TriggerCondition | None:
        """The bucket or prefix condition ``bucket/key`` fails, or ``None``. Given a prefix
        as ``key``, ``None`` means every key under it meets both."""
        if bucket != self.trigger.bucket:
            return TriggerCondition.BUCKET
        if not key.startswith(self.trigger.prefix):
            return TriggerCondition.PREFIX
        return None

    def _refuses_content(self, key: str, size: int, content_type: str) -> TriggerCondition | None:
        trigger = self.trigger
        lowered = key.lower()
        if trigger.suffix and not any(lowered.endswith(s.lower()) for s in trigger.suffix):
            return TriggerCondition.SUFFIX
        return self.refuses_object(size, content_type)

    def refuses_object(self, size: int, content_type: str) -> TriggerCondition | None:
        """The content type or size condition an object fails, or ``None``: what the
        pipeline accepts, which holds however it was started (by its trigger, or by a
        bucket notification rule, which picks the place and events instead)."""
        trigger = self.trigger
        # Media types are case-insensitive (RFC 9110): compare them folded, on every OS.
        wanted = trigger.content_type
        if wanted and not fnmatch.fnmatchcase(content_type.lower(), wanted.lower()):
            return TriggerCondition.CONTENT_TYPE
        if trigger.min_size is not None and size < trigger.min_size:
            return TriggerCondition.MIN_SIZE
        if trigger.max_size is not None and size > trigger.max_size:
            return TriggerCondition.MAX_SIZE
        return None


def compile_pipelines(
    configs: Mapping[str, PipelineConfig],
    modules: list[str] | None = None,
    functions: Mapping[str, Function] | None = None,
) -> dict[str, Pipeline]:
    """Check and compile the configured pipelines; raises ``ConfigError`` listing every
    problem. ``modules`` are imported first, to register their processors; ``functions``
    are those steps may name."""
    problems = import_modules(modules or [])
    functions = functions or {}
    pipelines: dict[str, Pipeline] = {}
    for name, config in configs.items():
        if not NAME.match(name):
            problems.append(
                f"pipelines.{name}: pipeline names use 1-64 letters, digits, '.', '_' or '-'"
            )
        steps = {}
        for index, step in enumerate(config.steps):
            where = f"pipelines.{name}.steps[{index}] ({step.name})"
            compiled = _compile_step(step, where, problems, functions)
            if compiled is not None:
                steps[step.name] = compiled
        problems += _cycles(name, config)
        problems += _maps(name, config, steps)
        steps = _with_items(steps)
        notifications = _notifications(name, config, problems)
        if config.enabled:
            pipelines[name] = Pipeline(
                name, config.trigger, steps, config.output_bucket, notifications
            )
    if problems:
        raise ConfigError(problems)
    return pipelines


def function_step(
    name: str,
    function: Function,
    retry: RetryPolicy,
    needs: tuple[str, ...] = (),
    when: Condition | None = None,
) -> Step:
    """A step invoking ``function``: it may run as long as the function, and its cold
    start; the environment enforces the function's memory size, so the worker needs no
    cap of its own. The step's options carry the whole function, for any worker."""
    options = InvokeOptions(function=function)
    seconds = function.config.timeout_seconds + INIT_SECONDS + INVOKE_MARGIN_SECONDS
    spec = get_processor(FUNCTION_PROCESSOR)
    raw = options.model_dump(mode="json")
    return Step(name, spec, options, raw, needs, "", seconds, 0, retry, when)


def _compile_step(
    step: StepConfig, where: str, problems: list[str], functions: Mapping[str, Function]
) -> Step | None:
    retry = RetryPolicy(
        step.retry.max_attempts, step.retry.base_delay, step.retry.max_delay, step.retry.jitter
    )
    when = None
    if step.when is not None:
        try:
            when = Condition.compile(step.when)
        except ConditionError as exc:
            problems.append(f"{where}.when: {exc.message}")
    if step.function is not None:
        function = functions.get(step.function)
        if function is None:
            problems.append(f"{where}.function: no function named {step.function!r}")
            return None
        return function_step(step.name, function, retry, tuple(step.needs), when)
    if step.queue is not None:
        spec = get_processor(TASK_PROCESSOR)
        return Step(
            step.name,
            spec,
            None,
            {},
            tuple(step.needs),
            "",
            step.timeout_seconds,
            0,
            retry,
            when,
            queue=step.queue,
            heartbeat_seconds=step.heartbeat_seconds,
        )
    assert step.processor is not None
    try:
        spec = get_processor(step.processor)
    except UnknownProcessor as exc:
        problems.append(f"{where}.processor: {exc.message}")
        return None
    try:
        options = spec.parse_options(step.options)
    except ValidationError as exc:
        for error in exc.errors():
            field = "".join(f".{part}" for part in error["loc"])
            problems.append(f"{where}.options{field}: {error['msg']}")
        return None
    except ValueError as exc:
        problems.append(f"{where}.options: {exc}")
        return None
    return Step(
        step.name,
        spec,
        options,
        dict(step.options),
        tuple(step.needs),
        step.output or spec.output_template,
        step.timeout_seconds,
        step.memory_mb,
        retry,
        when,
        map_over=step.map,
        max_concurrency=step.max_concurrency,
    )


def _maps(name: str, config: PipelineConfig, steps: Mapping[str, Step]) -> list[str]:
    """What is wrong with the pipeline's Maps: one over itself or over another Map (chain
    the work in one Map's step instead), a function step as a Map, or one with a ``when``
    condition."""
    problems = []
    maps = {step.name: step.map for step in config.steps if step.map is not None}
    for index, step in enumerate(config.steps):
        where = f"pipelines.{name}.steps[{index}] ({step.name}).map"
        if step.map is None:
            continue
        if step.map == step.name:
            problems.append(f"{where}: a step cannot map over itself")
        elif step.map in maps:
            problems.append(
                f"{where}: {step.map!r} is a Map itself; a Map runs over a step's items, "
                "such as a splitter's (data.split, pdf.split)"
            )
        elif step.function is not None:
            problems.append(f"{where}: a function step cannot be a Map; map a processor")
        elif step.queue is not None:
            problems.append(f"{where}: a queue step cannot be a Map; map a processor")
        elif step.when is not None:
            problems.append(
                f"{where}: a Map takes no 'when' (it would be evaluated for every item): "
                f"put the condition on {step.map!r}, whose skip makes the Map empty"
            )
    return problems


def _with_items(steps: dict[str, Step]) -> dict[str, Step]:
    """The steps, told which keep their outputs as items (those a Map runs over, and the
    Maps a step joins) and which join a Map (get its results as ``ctx.items``)."""
    mapped = {step.map_over for step in steps.values() if step.map_over is not None}
    maps = {step.name for step in steps.values() if step.map_over is not None}
    needed = {need for step in steps.values() for need in step.needs}
    keeping = mapped | (maps & needed)
    return {
        name: dataclasses.replace(
            step,
            keeps_items=name in keeping,
            joins=tuple(need for need in step.needs if need in maps),
        )
        for name, step in steps.items()
    }


def _cycles(name: str, config: PipelineConfig) -> list[str]:
    needs = {step.name: set(step.needs) for step in config.steps}
    done: set[str] = set()
    while True:
        ready = {step for step, deps in needs.items() if step not in done and deps <= done}
        if not ready:
            break
        done |= ready
    stuck = sorted(set(needs) - done)
    if stuck:
        return [f"pipelines.{name}.steps: 'needs' form a cycle through {', '.join(stuck)}"]
    return []


def _notifications(
    name: str, config: PipelineConfig, problems: list[str]
) -> tuple[Notification, ...]:
    """Compile the pipeline's notify blocks into steps of the ``notify.deliver``
    processor, checking their secrets."""
    compiled = []
    for index, notify in enumerate(config.notify):
        where = f"pipelines.{name}.notify[{index}]"
        step = _notification_step(notify, index, where, problems)
        if step is not None:
            compiled.append(Notification(frozenset(notify.on), tuple(notify.urls), step))
    return tuple(compiled)


def _notification_step(
    notify: NotifyConfig, index: int, where: str, problems: list[str]
) -> Step | None:
    options = {"secret": notify.secret, "timeout_seconds": notify.timeout_seconds}
    spec = get_processor(NOTIFY_PROCESSOR)
    try:
        parsed = spec.parse_options(options)
    except ValidationError as exc:
        problems += [f"{where}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        return None
    retry = notify.retry
    return Step(
        f"notify[{index}]",
        spec,
        parsed,
        options,
        (),
        "",
        # The request's timeout applies to each phase (connect, send, read): the attempt's
        # hard limit allows all three.
        notify.timeout_seconds * 3 + 1,
        0,
        RetryPolicy(retry.max_attempts, retry.base_delay, retry.max_delay, retry.jitter),
    )
