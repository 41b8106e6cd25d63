"""Processing endpoints: an object's status, jobs, dead letters, redrive, reprocess."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from chute.api.rest.deps import raw_key, services, status_service
from chute.api.rest.errors import error_responses
from chute.api.rest.models.jobs import JobDetail, JobPage, JobView, Redriven
from chute.api.rest.models.pipelines import PipelineList, PipelineView, Reprocessed
from chute.api.rest.models.status import FoundPage, ProcessingStatus
from chute.errors import (
    InvalidArgument,
    InvalidKey,
    NoSuchBucket,
    NoSuchJob,
    NoSuchKey,
    NoSuchPipeline,
)
from chute.pipelines.status import StatusService
from chute.queue.records import JobFilter
from chute.queue.states import JobState

router = APIRouter(tags=["processing"])
#: Row ids are 64-bit signed integers.
MAX_ID = 2**63 - 1


def _status(request: Request) -> StatusService:
    return status_service(request)


@router.get(
    "/buckets/{bucket}/status/{key:path}",
    summary="An object's processing status",
    responses=error_responses(InvalidKey, NoSuchBucket, NoSuchKey),
)
async def object_status(
    request: Request, bucket: str, version_id: str | None = None
) -> ProcessingStatus:
    """The status of the latest version (or ``version_id``): its runs, each step's
    attempts and outputs, and the metadata steps extracted."""
    key = raw_key(request, bucket, "status")
    found = await run_in_threadpool(_status(request).status, bucket, key, version_id)
    return ProcessingStatus.of(found)


@router.get(
    "/buckets/{bucket}/metadata",
    summary="Find objects by extracted metadata",
    responses=error_responses(InvalidArgument, NoSuchBucket),
)
async def find_by_metadata(
    request: Request,
    bucket: str,
    where: list[str] = Query(
        default_factory=list, description="FIELD[.FIELD...]=VALUE, repeatable (all must hold)."
    ),
    prefix: str = "",
    after: str | None = Query(None, description="The last key of the previous page."),
    limit: int = Query(100, ge=1, le=1000),
) -> FoundPage:
    """Live objects whose metadata (from steps such as ``meta.extract``) matches every
    condition, compared as text; in key order."""
    rows = await run_in_threadpool(_status(request).find, bucket, where, prefix, after, limit)
    return FoundPage.of(rows, limit)


def _filter(
    state: list[str] | None,
    pipeline: str | None,
    bucket: str | None,
    prefix: str | None,
    since: datetime | None,
    until: datetime | None,
    job_ids: list[int] | None = None,
) -> JobFilter:
    states = None
    if state:
        try:
            states = tuple(JobState(s) for s in state)
        except ValueError:
            known = ", ".join(s.value for s in JobState)
            raise InvalidArgument(f"state must be one of: {known}") from None
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise InvalidArgument("since and until need a time zone (e.g. 2026-01-01T00:00Z)")
    return JobFilter(
        states, pipeline, bucket, prefix, since, until, tuple(job_ids) if job_ids else None
    )


@router.get("/jobs", summary="List jobs", responses=error_responses(InvalidArgument))
async def list_jobs(
    request: Request,
    state: list[str] | None = Query(None, description="Repeat for several states."),
    pipeline: str | None = None,
    bucket: str | None = None,
    prefix: str | None = Query(None, description="Key prefix of the source objects."),
    since: datetime | None = Query(None, description="Created at or after (ISO 8601)."),
    until: datetime | None = Query(None, description="Created before (ISO 8601)."),
    cursor: int | None = Query(
        None, ge=1, le=MAX_ID, description="next_cursor of the previous page."
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> JobPage:
    """Jobs newest first, filtered; ``next_cursor`` is null on the last page."""
    where = _filter(state, pipeline, bucket, prefix, since, until)
    page = await run_in_threadpool(_status(request).jobs, where, cursor, limit)
    return JobPage(jobs=[JobView.of(job) for job in page.jobs], next_cursor=page.next_cursor)


@router.get("/dead", summary="List dead letters", responses=error_responses(InvalidArgument))
async def list_dead(
    request: Request,
    pipeline: str | None = None,
    bucket: str | None = None,
    prefix: str | None = None,
    cursor: int | None = Query(None, ge=1, le=MAX_ID),
    limit: int = Query(100, ge=1, le=1000),
) -> JobPage:
    """Dead jobs (retries exhausted or input rejected), with their last error."""
    where = _filter([JobState.DEAD.value], pipeline, bucket, prefix, None, None)
    page = await run_in_threadpool(_status(request).jobs, where, cursor, limit)
    return JobPage(jobs=[JobView.of(job) for job in page.jobs], next_cursor=page.next_cursor)


@router.get(
    "/jobs/{job_id}",
    summary="One job and its attempts",
    responses=error_responses(InvalidArgument, NoSuchJob),
)
async def get_job(request: Request, job_id: int = Path(ge=1, le=MAX_ID)) -> JobDetail:
    job, attempts = await run_in_threadpool(_status(request).job, job_id)
    return JobDetail.with_attempts(job, attempts)


class RedriveRequest(BaseModel):
    """Which dead jobs to redrive: ids, a filter, or ``all``."""

    job_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = None
    pipeline: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    all: bool = Field(False, description="Required to redrive every dead job at once.")


@router.post(
    "/dead/redrive", summary="Redrive dead jobs", responses=error_responses(InvalidArgument)
)
async def redrive(request: Request, body: RedriveRequest) -> Redriven:
    """Make dead jobs available again with fresh attempts."""
    given = [body.job_ids, body.pipeline, body.bucket, body.prefix, body.since, body.until]
    # An empty list or string would match everything: only all=true may do that.
    if any(value is not None and not value for value in given):
        raise InvalidArgument("job_ids and filters must not be empty; use all=true")
    if all(value is None for value in given) and not body.all:
        raise InvalidArgument("name job_ids or a filter, or set all=true")
    where = _filter(
        None, body.pipeline, body.bucket, body.prefix, body.since, body.until, body.job_ids
    )
    count = await run_in_threadpool(_status(request).redrive, where)
    return Redriven(redriven=count)


class ReprocessRequest(BaseModel):
    """Objects to run a pipeline on again: one key, or every object under a prefix."""

    bucket: str
    key: str | None = None
    prefix: str | None = None


@router.post(
    "/pipelines/{name}/reprocess",
    summary="Run a pipeline on existing objects",
    response_model=Reprocessed,
    responses=error_responses(InvalidArgument, InvalidKey, NoSuchPipeline, NoSuchBucket, NoSuchKey),
)
async def reprocess(request: Request, name: str, body: ReprocessRequest) -> JSONResponse:
    count = await run_in_threadpool(
        _status(request).reprocess, name, body.bucket, body.key, body.prefix
    )
    return JSONResponse({"runs": count})


@router.get("/pipelines", summary="Configured pipelines")
async def list_pipelines(request: Request) -> PipelineList:
    pipelines = services(request).pipelines
    return PipelineList(pipelines=[PipelineView.of(p) for p in pipelines.values()])
