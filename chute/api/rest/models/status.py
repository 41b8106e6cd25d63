"""An object's processing status, and objects found by their extracted metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from chute.api.rest.models.jobs import AttemptView
from chute.api.rest.models.time import Timestamp
from chute.queue.states import JobState, ObjectStatus, RunState

if TYPE_CHECKING:
    from chute.pipelines.status import ObjectProcessing, RunView
    from chute.queue.records import Job, LineageRecord


class StepStatus(BaseModel):
    """One job of a run: its state, attempts, and the keys it wrote; ``error`` is its
    last failure, or why it was skipped."""

    step: str
    kind: str
    job_id: int
    state: JobState
    attempt: int
    max_attempts: int
    error: str | None
    outputs: list[str]
    attempts: list[AttemptView]

    @classmethod
    def of(cls, run: RunView, job: Job) -> StepStatus:
        return cls(
            step=job.step,
            kind=job.kind,
            job_id=job.id,
            state=job.state,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            error=job.last_error or None,
            outputs=[o.key for o in run.outputs if o.job_id == job.id],
            attempts=[AttemptView.of(a) for a in run.attempts.get(job.id, [])],
        )


class RunStatus(BaseModel):
    """One pipeline run on the object version."""

    run_id: int
    pipeline: str
    state: RunState
    created_at: Timestamp
    finished_at: Timestamp | None
    steps: list[StepStatus]
    #: How many item jobs of each Map step succeeded: counted, not listed in ``steps``
    #: (``GET /jobs?pipeline=...`` pages through them).
    items_succeeded: dict[str, int] = {}

    @classmethod
    def of(cls, run: RunView) -> RunStatus:
        return cls(
            run_id=run.run.id,
            pipeline=run.run.pipeline,
            state=run.run.state,
            created_at=run.run.created_at,
            finished_at=run.run.finished_at,
            steps=[StepStatus.of(run, job) for job in run.jobs],
            items_succeeded=run.folded,
        )


class OutputRef(BaseModel):
    """An object version a step wrote."""

    bucket: str
    key: str
    version_id: str
    step: str
    pipeline: str

    @classmethod
    def of(cls, run: RunView, output: LineageRecord) -> OutputRef:
        return cls(
            bucket=output.bucket,
            key=output.key,
            version_id=output.version_id,
            step=output.step,
            pipeline=run.run.pipeline,
        )


class ProcessingStatus(BaseModel):
    """An object version's processing: its status, runs, outputs and extracted metadata."""

    bucket: str
    key: str
    version_id: str
    status: ObjectStatus
    runs: list[RunStatus]
    outputs: list[OutputRef]
    metadata: dict[str, Any]

    @classmethod
    def of(cls, found: ObjectProcessing) -> ProcessingStatus:
        return cls(
            bucket=found.bucket,
            key=found.key,
            version_id=found.version_id,
            status=found.status,
            runs=[RunStatus.of(run) for run in found.runs],
            outputs=[OutputRef.of(run, o) for run in found.runs for o in run.outputs],
            metadata=found.metadata,
        )


class FoundObject(BaseModel):
    """A live object whose metadata matched."""

    key: str
    version_id: str
    metadata: dict[str, Any]


class FoundPage(BaseModel):
    """Matching objects in key order; pass ``next_after`` as ``after`` to read on."""

    objects: list[FoundObject]
    next_after: str | None

    @classmethod
    def of(cls, rows: list[tuple[str, str, dict[str, Any]]], limit: int) -> FoundPage:
        objects = [FoundObject(key=k, version_id=v, metadata=m) for k, v, m in rows]
        return cls(objects=objects, next_after=objects[-1].key if len(objects) == limit else None)
