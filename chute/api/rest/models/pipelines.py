"""The configured pipelines, and what a reprocess started."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from chute.pipelines.model import Pipeline, Step


class TriggerView(BaseModel):
    """Which events start a pipeline: all conditions must hold."""

    bucket: str
    events: list[str]
    prefix: str
    suffix: list[str]
    content_type: str | None
    min_size: int | None
    max_size: int | None
    include_outputs: bool


class StepView(BaseModel):
    """One step: its processor, what it needs, the condition it runs on (``when``, a
    JMESPath expression; ``null``: always), its limits and output template."""

    name: str
    processor: str
    needs: list[str]
    when: str | None
    timeout_seconds: float
    memory_mb: int
    max_attempts: int
    output: str

    @classmethod
    def of(cls, step: Step) -> StepView:
        return cls(
            name=step.name,
            processor=step.processor.name,
            needs=list(step.needs),
            when=step.when.expression if step.when is not None else None,
            timeout_seconds=step.timeout_seconds,
            memory_mb=step.memory_mb,
            max_attempts=step.retry.max_attempts,
            output=step.output_template,
        )


class PipelineView(BaseModel):
    """A pipeline: trigger, steps and output bucket."""

    name: str
    trigger: TriggerView
    output_bucket: str
    steps: list[StepView]

    @classmethod
    def of(cls, pipeline: Pipeline) -> PipelineView:
        return cls(
            name=pipeline.name,
            trigger=TriggerView.model_validate(pipeline.trigger.model_dump()),
            output_bucket=pipeline.output_bucket,
            steps=[StepView.of(s) for s in pipeline.steps.values()],
        )


class PipelineList(BaseModel):
    """Every configured pipeline."""

    pipelines: list[PipelineView]


class Reprocessed(BaseModel):
    """How many runs a reprocess started."""

    runs: int
