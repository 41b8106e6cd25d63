"""Processing endpoints: an object's status, jobs, dead letters, redrive, reprocess."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from chute.api.http import KEY
from chute.api.rest.deps import (
    control_service,
    raw_key,
    request_context,
    services,
    status_service,
)
from chute.api.rest.errors import error_responses
from chute.api.rest.models.jobs import (
    JobDetail,
    JobPage,
    JobSelection,
    JobView,
    Redriven,
    RedriveRequest,
)
from chute.api.rest.models.pipelines import PipelineList, PipelineView, Reprocessed
from chute.api.rest.models.status import FoundPage, ProcessingStatus
from chute.api.rest.params import MAX_ID, Moment, RowId, Text
from chute.api.rest.routes import SmallBodyRoute
from chute.errors import (
    InvalidArgument,
    InvalidKey,
    NoSuchBucket,
    NoSuchJob,
    NoSuchKey,
    NoSuchPipeline,
)
from chute.pipelines.status import MAX_PAGE, StatusService
from chute.queue.records import JobFilter
from chute.queue.states import JobState

router = APIRouter(tags=["processing"], route_class=SmallBodyRoute)


def _status(request: Request) -> StatusService:
    return status_service(request)


@router.get(
    f"/buckets/{{bucket}}/status/{{key:{KEY}}}",
    summary="An object's processing status",
    responses=error_responses(InvalidArgument, InvalidKey, NoSuchBucket, NoSuchKey),
)
async def object_status(
    request: Request, bucket: Text, version_id: Text | None = None
) -> ProcessingStatus:
    """The status of the latest version (or ``version_id``): its runs, each step's
    attempts and outputs, and the metadata steps extracted."""
    key = raw_key(request, bucket, "status")
    found = await run_in_threadpool(
        _status(request).status, request_context(request), bucket, key, version_id
    )
    return ProcessingStatus.of(found)


@router.get(
    "/buckets/{bucket}/metadata",
    summary="Find objects by extracted metadata",
    responses=error_responses(InvalidArgument, NoSuchBucket),
)
async def find_by_metadata(
    request: Request,
    bucket: Text,
    where: list[Text] = Query(
        default_factory=list, description="FIELD[.FIELD...]=VALUE, repeatable (all must hold)."
    ),
    prefix: Text = "",
    after: Text | None = Query(None, description="The last key of the previous page."),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
) -> FoundPage:
    """Live objects whose metadata (from steps such as ``meta.extract``) matches every
    condition, compared as text; in key order."""
    rows = await run_in_threadpool(
        _status(request).find, request_context(request), bucket, where, prefix, after, limit
    )
    return FoundPage.of(rows, limit)


class DeadQuery(JobSelection):
    """The parameters of a dead-letter listing: a selection and a page."""

    cursor: RowId | None = Field(None, description="next_cursor of the previous page.")
    limit: int = Field(100, ge=1, le=MAX_PAGE)


class JobsQuery(DeadQuery):
    """The parameters of a job listing: also states and creation times."""

    states: tuple[JobState, ...] | None = Field(
        None, alias="state", description="Repeat for several states."
    )
    since: Moment | None = Field(None, description="Created at or after (ISO 8601, with a zone).")
    until: Moment | None = Field(None, description="Created before (ISO 8601, with a zone).")


_FILTER_FIELDS = {field.name for field in dataclasses.fields(JobFilter)}


def job_filter(selection: JobSelection, **fixed: object) -> JobFilter:
    """The filter a query or a redrive names (its fields are the filter's), with
    ``fixed`` fields set whatever it says."""
    return JobFilter(**{**selection.model_dump(include=_FILTER_FIELDS), **fixed})


async def _job_page(request: Request, where: JobFilter, query: DeadQuery) -> JobPage:
    page = await run_in_threadpool(
        _status(request).jobs, request_context(request), where, query.cursor, query.limit
    )
    return JobPage(jobs=[JobView.of(job) for job in page.jobs], next_cursor=page.next_cursor)


@router.get("/jobs", summary="List jobs", responses=error_responses(InvalidArgument))
async def list_jobs(request: Request, query: Annotated[JobsQuery, Query()]) -> JobPage:
    """Jobs newest first, filtered; ``next_cursor`` is null on the last page."""
    return await _job_page(request, job_filter(query), query)


@router.get("/dead", summary="List dead letters", responses=error_responses(InvalidArgument))
async def list_dead(request: Request, query: Annotated[DeadQuery, Query()]) -> JobPage:
    """Dead jobs (retries exhausted or input rejected), with their last error."""
    return await _job_page(request, job_filter(query, states=(JobState.DEAD,)), query)


@router.get(
    "/jobs/{job_id}",
    summary="One job and its attempts",
    responses=error_responses(InvalidArgument, NoSuchJob),
)
async def get_job(request: Request, job_id: int = Path(ge=1, le=MAX_ID)) -> JobDetail:
    job, attempts = await run_in_threadpool(_status(request).job, request_context(request), job_id)
    return JobDetail.with_attempts(job, attempts)


@router.post(
    "/dead/redrive", summary="Redrive dead jobs", responses=error_responses(InvalidArgument)
)
async def redrive(request: Request, body: RedriveRequest) -> Redriven:
    """Make dead jobs available again with fresh attempts."""
    given = [body.job_ids, body.pipeline, body.bucket, body.key_prefix, body.since, body.until]
    # An empty list or string would match everything: only all=true may do that.
    if any(value is not None and not value for value in given):
        raise InvalidArgument("job_ids and filters must not be empty; use all=true")
    if all(value is None for value in given) and not body.all:
        raise InvalidArgument("name job_ids or a filter, or set all=true")
    count = await run_in_threadpool(
        control_service(request).redrive, request_context(request), job_filter(body)
    )
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
    """Start the pipeline on one object, or on every live object under a prefix that its
    trigger matches (``skipped``: those under the prefix its suffix, content type or size
    rules out). A key, bucket or prefix the trigger rules out is refused, naming why."""
    done = await run_in_threadpool(
        control_service(request).reprocess,
        request_context(request),
        name,
        body.bucket,
        body.key,
        body.prefix,
    )
    return JSONResponse({"runs": done.runs, "skipped": done.skipped})


@router.get("/pipelines", summary="Configured pipelines")
async def list_pipelines(request: Request) -> PipelineList:
    pipelines = services(request).pipelines
    return PipelineList(pipelines=[PipelineView.of(p) for p in pipelines.values()])
