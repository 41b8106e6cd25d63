"""Jobs: their listings, one job with its attempts, and redrives of dead jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from chute.api.rest.models.time import Timestamp
from chute.api.rest.params import Moment, RowId, Text
from chute.queue.states import JobState, Outcome

if TYPE_CHECKING:
    from chute.queue.records import Job, StepRun


class AttemptView(BaseModel):
    """One attempt of a job: who ran it, how it ended (``error``: why, unless it
    succeeded), and what the step reported (with the metadata it extracted)."""

    attempt: int
    outcome: Outcome
    worker: str | None
    started_at: Timestamp | None
    ended_at: Timestamp
    duration_ms: float | None
    error: str | None
    report: dict[str, Any]

    @classmethod
    def of(cls, attempt: StepRun) -> AttemptView:
        duration = attempt.duration_ms
        return cls(
            attempt=attempt.attempt,
            outcome=attempt.outcome,
            worker=attempt.worker,
            started_at=attempt.started_at,
            ended_at=attempt.ended_at,
            duration_ms=round(duration, 3) if duration is not None else None,
            error=attempt.error,
            report=attempt.report,
        )


class JobView(BaseModel):
    """A job: one step of one run (``kind`` ``step``), or a notification about a run.

    ``error`` is the last failure's type and message, or for a ``skipped`` step why
    (``condition not met: EXPR``). A traceback stays in the catalog for operators and
    is not served: it shows server paths and code.
    """

    id: int
    run_id: int
    kind: str
    pipeline: str
    step: str
    bucket: str
    key: str
    state: JobState
    attempt: int
    max_attempts: int
    run_at: Timestamp
    created_at: Timestamp
    finished_at: Timestamp | None
    worker: str | None
    error: str | None

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(**_job_fields(job))


class JobDetail(JobView):
    """A job and every attempt it had."""

    attempts: list[AttemptView]

    @classmethod
    def with_attempts(cls, job: Job, attempts: list[StepRun]) -> JobDetail:
        return cls(**_job_fields(job), attempts=[AttemptView.of(a) for a in attempts])


def _job_fields(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "run_id": job.run_id,
        "kind": job.kind,
        "pipeline": job.pipeline,
        "step": job.step,
        "bucket": job.bucket,
        "key": job.key,
        "state": job.state,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "run_at": job.run_at,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "worker": job.worker,
        "error": job.last_error or None,
    }


class JobPage(BaseModel):
    """Jobs newest first; ``next_cursor`` (``null`` on the last page) continues."""

    jobs: list[JobView]
    next_cursor: int | None


class JobSelection(BaseModel):
    """Which jobs a listing or a redrive covers. The fields carry the names of
    :class:`chute.queue.records.JobFilter`'s (``prefix`` is sent for ``key_prefix``), so a
    selection converts to a filter in one step."""

    model_config = ConfigDict(populate_by_name=True)

    pipeline: Text | None = None
    bucket: Text | None = None
    key_prefix: Text | None = Field(
        None, alias="prefix", description="Key prefix of the source objects."
    )


#: Most job ids one redrive names (a filter selects more).
MAX_REDRIVE_IDS = 10_000


class RedriveRequest(JobSelection):
    """Which dead jobs to redrive: ids, a filter, or ``all``."""

    job_ids: tuple[RowId, ...] | None = Field(
        None, max_length=MAX_REDRIVE_IDS, description="At most 10,000; a filter selects more."
    )
    since: Moment | None = Field(None, description="Created at or after.")
    until: Moment | None = Field(None, description="Created before.")
    all: bool = Field(False, description="Required to redrive every dead job at once.")


class Redriven(BaseModel):
    """How many dead jobs a redrive made available again."""

    redriven: int
