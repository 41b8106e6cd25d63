"""Processing endpoints: an object's status, jobs, dead letters, redrive, reprocess."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from chute.api.rest.deps import raw_key, services, status_service
from chute.api.rest.views import job_view, processing_view
from chute.errors import InvalidArgument
from chute.pipelines.status import StatusService
from chute.queue.records import JobFilter
from chute.queue.states import JobState

router = APIRouter(tags=["processing"])
#: Row ids are 64-bit signed integers.
MAX_ID = 2**63 - 1


def _status(request: Request) -> StatusService:
    return status_service(request)


@router.get("/buckets/{bucket}/status/{key:path}", summary="An object's processing status")
async def object_status(
    request: Request, bucket: str, version_id: str | None = None
) -> JSONResponse:
    """The status of the latest version (or ``version_id``): its runs, each step's
    attempts and outputs, and the metadata steps extracted."""
    key = raw_key(request, bucket, "status")
    found = await run_in_threadpool(_status(request).status, bucket, key, version_id)
    return JSONResponse(processing_view(found))


@router.get("/buckets/{bucket}/metadata", summary="Find objects by extracted metadata")
async def find_by_metadata(
    request: Request,
    bucket: str,
    where: list[str] = Query(
        default_factory=list, description="FIELD[.FIELD...]=VALUE, repeatable (all must hold)."
    ),
    prefix: str = "",
    after: str | None = Query(None, description="The last key of the previous page."),
    limit: int = Query(100, ge=1, le=1000),
) -> JSONResponse:
    """Live objects whose metadata (from steps such as ``meta.extract``) matches every
    condition, compared as text; in key order."""
    rows = await run_in_threadpool(_status(request).find, bucket, where, prefix, after, limit)
    objects = [{"key": k, "version_id": v, "metadata": m} for k, v, m in rows]
    next_after = objects[-1]["key"] if len(objects) == limit else None
    return JSONResponse({"objects": objects, "next_after": next_after})


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


@router.get("/jobs", summary="List jobs")
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
) -> JSONResponse:
    """Jobs newest first, filtered; ``next_cursor`` is null on the last page."""
    where = _filter(state, pipeline, bucket, prefix, since, until)
    page = await run_in_threadpool(_status(request).jobs, where, cursor, limit)
    return JSONResponse(
        {"jobs": [job_view(job) for job in page.jobs], "next_cursor": page.next_cursor}
    )


@router.get("/dead", summary="List dead letters")
async def list_dead(
    request: Request,
    pipeline: str | None = None,
    bucket: str | None = None,
    prefix: str | None = None,
    cursor: int | None = Query(None, ge=1, le=MAX_ID),
    limit: int = Query(100, ge=1, le=1000),
) -> JSONResponse:
    """Dead jobs (retries exhausted or input rejected), with their last error."""
    where = _filter([JobState.DEAD.value], pipeline, bucket, prefix, None, None)
    page = await run_in_threadpool(_status(request).jobs, where, cursor, limit)
    return JSONResponse(
        {"jobs": [job_view(job) for job in page.jobs], "next_cursor": page.next_cursor}
    )


@router.get("/jobs/{job_id}", summary="One job and its attempts")
async def get_job(request: Request, job_id: int = Path(ge=1, le=MAX_ID)) -> JSONResponse:
    job, attempts = await run_in_threadpool(_status(request).job, job_id)
    return JSONResponse(job_view(job, attempts))


class RedriveRequest(BaseModel):
    """Which dead jobs to redrive: ids, a filter, or ``all``."""

    job_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = None
    pipeline: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    all: bool = Field(False, description="Required to redrive every dead job at once.")


@router.post("/dead/redrive", summary="Redrive dead jobs")
async def redrive(request: Request, body: RedriveRequest) -> JSONResponse:
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
    return JSONResponse({"redriven": count})


class ReprocessRequest(BaseModel):
    """Objects to run a pipeline on again: one key, or every object under a prefix."""

    bucket: str
    key: str | None = None
    prefix: str | None = None


@router.post("/pipelines/{name}/reprocess", summary="Run a pipeline on existing objects")
async def reprocess(request: Request, name: str, body: ReprocessRequest) -> JSONResponse:
    """Start the pipeline on one object, or on every live object under a prefix that its
    trigger matches (``skipped``: those under the prefix its suffix, content type or size
    rules out). A key, bucket or prefix the trigger rules out is refused, naming why."""
    done = await run_in_threadpool(
        _status(request).reprocess, name, body.bucket, body.key, body.prefix
    )
    return JSONResponse({"runs": done.runs, "skipped": done.skipped})


@router.get("/pipelines", summary="Configured pipelines")
async def list_pipelines(request: Request) -> JSONResponse:
    pipelines = services(request).pipelines
    return JSONResponse({"pipelines": [_pipeline_view(p) for p in pipelines.values()]})


def _pipeline_view(pipeline: Any) -> dict[str, Any]:
    return {
        "name": pipeline.name,
        "trigger": pipeline.trigger.model_dump(),
        "output_bucket": pipeline.output_bucket,
        "steps": [
            {
                "name": s.name,
                "processor": s.processor.name,
                "needs": list(s.needs),
                "timeout_seconds": s.timeout_seconds,
                "memory_mb": s.memory_mb,
                "max_attempts": s.retry.max_attempts,
                "output": s.output_template,
            }
            for s in pipeline.steps.values()
        ],
    }
