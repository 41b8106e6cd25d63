"""The shape of ``[pipelines.<name>]`` in chute.toml.

These models check structure (types, bounds, unknown fields); :mod:`chute.pipelines.model`
then checks what needs the processors: that each exists and accepts its options, and that
``needs`` form a graph without cycles. Every problem names its pipeline, step and field.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Names of pipelines and steps: they appear in keys, URLs and CLI arguments.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check_name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(
            "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


class TriggerConfig(BaseModel):
    """Which events start a pipeline: all given conditions must hold."""

    model_config = ConfigDict(extra="forbid")

    bucket: str
    #: Event names; ``*`` matches any run of characters (``ObjectCreated:*``).
    events: list[str] = Field(default_factory=lambda: ["ObjectCreated:*"], min_length=1)
    prefix: str = ""
    #: One suffix or several (any may match), compared case-insensitively.
    suffix: list[str] | str = Field(default_factory=list)
    #: A glob on the content type (``image/*``).
    content_type: str | None = None
    min_size: int | None = Field(default=None, ge=0)
    max_size: int | None = Field(default=None, ge=0)
    #: Let objects written by pipelines trigger this one (off by default: no loops).
    include_outputs: bool = False

    @field_validator("suffix")
    @classmethod
    def _as_list(cls, value: list[str] | str) -> list[str]:
        return [value] if isinstance(value, str) else value


class RetryConfig(BaseModel):
    """A step's retry settings (see :class:`chute.queue.retry.RetryPolicy`)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=3, ge=1, le=100)
    base_delay: float = Field(default=1.0, ge=0)
    max_delay: float = Field(default=300.0, ge=0)
    jitter: bool = True


class StepConfig(BaseModel):
    """One step: a processor with its options and limits, a function
    (``[functions.NAME]``) invoked with the event as S3 sends it to Lambda, or an SQS
    queue whose consumers do the work and answer with the message's task token."""

    model_config = ConfigDict(extra="forbid")

    name: str
    processor: str | None = None
    function: str | None = None
    #: An SQS queue: the step sends the run's event record there with a task token and
    #: waits (up to ``timeout_seconds``) for a consumer to answer SendTaskSuccess or
    #: SendTaskFailure with it, as Step Functions' ``.waitForTaskToken`` does.
    queue: str | None = None
    #: A queue step fails unless its consumer sends SendTaskHeartbeat this often.
    heartbeat_seconds: float | None = Field(default=None, gt=0, le=86400)
    options: dict[str, object] = Field(default_factory=dict)
    #: Steps that must succeed (or be skipped) before this one starts; none means it
    #: starts at once.
    needs: list[str] = Field(default_factory=list)
    #: A JMESPath expression over the run (its event, object, and what the steps it
    #: needs found out): the step runs only if it is true, and is skipped otherwise.
    when: str | None = None
    #: A Map: run once per item the named step produced (the files a splitter such as
    #: ``data.split`` wrote), each item a job any worker may take and retry alone. The
    #: named step is needed, whether or not ``needs`` says so; a step that needs this one
    #: joins the Map: it gets every item's results, in order (``ctx.items``).
    map: str | None = None
    #: Most jobs of the Map's items queued or running at once (0: up to
    #: ``chute.pipelines.maps.MAP_WINDOW``); the next item's job is queued as one ends.
    max_concurrency: int = Field(default=0, ge=0)
    #: Key template for outputs; default the processor's own.
    output: str | None = None
    #: Hard limit per attempt: the process running it is killed.
    timeout_seconds: float = Field(default=60.0, gt=0, le=86400)
    #: Resident memory an attempt may add to its worker process, in MiB (0: no cap); past
    #: it the pool kills the process and the attempt fails.
    memory_mb: int = Field(default=1024, ge=0)
    retry: RetryConfig = Field(default_factory=RetryConfig)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value)

    @model_validator(mode="after")
    def _processor_or_function(self) -> Self:
        named = [what for what in (self.processor, self.function, self.queue) if what is not None]
        if len(named) != 1:
            raise ValueError("a step names a processor, a function or a queue (exactly one)")
        if self.function is not None and self.options:
            raise ValueError("a function step takes no options: configure the function")
        if self.queue is not None and self.options:
            raise ValueError("a queue step takes no options: its consumers do the work")
        if self.heartbeat_seconds is not None and self.queue is None:
            raise ValueError("heartbeat_seconds is for a queue step's consumers: set queue")
        if self.max_concurrency and self.map is None:
            raise ValueError("max_concurrency limits a Map: set map too")
        if self.map is not None and self.map not in self.needs:
            self.needs.append(self.map)
        return self


class NotifyConfig(BaseModel):
    """Signed webhooks (Standard Webhooks) about a pipeline's runs."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(min_length=1)
    #: ``whsec_`` secrets; several sign each message (for rotation).
    secret: list[str] | str
    #: When to send: ``success`` (every step succeeded), ``failure`` (a job is dead).
    on: list[str] = Field(default_factory=lambda: ["success", "failure"])
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    retry: RetryConfig = Field(
        default_factory=lambda: RetryConfig(max_attempts=8, base_delay=5.0, max_delay=3600.0)
    )

    @field_validator("on")
    @classmethod
    def _check_on(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"success", "failure"})
        if unknown or not value:
            raise ValueError("list 'success' and/or 'failure'")
        return value

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return value


class PipelineConfig(BaseModel):
    """A pipeline: a trigger, steps, and where outputs go."""

    model_config = ConfigDict(extra="forbid")

    trigger: TriggerConfig
    steps: list[StepConfig] = Field(min_length=1)
    output_bucket: str = "processed"
    notify: list[NotifyConfig] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("notify", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _check_loop(self) -> Self:
        trigger = self.trigger
        if trigger.include_outputs and trigger.bucket == self.output_bucket:
            raise ValueError(
                "include_outputs with the output bucket as the trigger bucket would process "
                "the pipeline's own outputs forever; write them to another bucket"
            )
        return self

    @model_validator(mode="after")
    def _check_steps(self) -> Self:
        names = [step.name for step in self.steps]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"step names must be unique; repeated: {', '.join(duplicates)}")
        for step in self.steps:
            missing = [need for need in step.needs if need not in names]
            if missing:
                raise ValueError(f"step {step.name!r} needs unknown steps: {', '.join(missing)}")
        return self
