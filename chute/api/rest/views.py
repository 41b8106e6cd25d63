"""How catalog records look in the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chute.catalog import Bucket, EventRow, ObjectVersion
from chute.events import format_time, render
from chute.pipelines.status import ObjectProcessing, RunView
from chute.queue.records import Job, StepRun


def bucket_view(bucket: Bucket) -> dict[str, Any]:
    return {
        "name": bucket.name,
        "versioning": bucket.versioning.value,
        "created_at": format_time(bucket.created_at),
    }


def version_view(bucket: str, version: ObjectVersion) -> dict[str, Any]:
    view: dict[str, Any] = {
        "bucket": bucket,
        "key": version.key,
        "version_id": version.version_id,
        "is_latest": version.is_latest,
        "last_modified": format_time(version.created_at),
    }
    if version.is_delete_marker:
        view["delete_marker"] = True
        return view
    view.update(
        size=version.size,
        etag=version.etag,
        sha256=version.sha256,
        content_type=version.content_type,
        metadata=version.user_metadata,
    )
    return view


def event_view(event: EventRow) -> dict[str, Any]:
    return {"id": event.id, "record": render(event)}


def _time(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None


def attempt_view(attempt: StepRun) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "outcome": attempt.outcome.value,
        "worker": attempt.worker,
        "started_at": _time(attempt.started_at),
        "ended_at": _time(attempt.ended_at),
        "duration_ms": round(attempt.duration_ms, 3) if attempt.duration_ms is not None else None,
        "error": attempt.error,
        "report": attempt.report,
    }


def job_view(job: Job, attempts: list[StepRun] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": job.id,
        "run_id": job.run_id,
        "kind": job.kind,
        "pipeline": job.pipeline,
        "step": job.step,
        "bucket": job.bucket,
        "key": job.key,
        "state": job.state.value,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "run_at": _time(job.run_at),
        "created_at": _time(job.created_at),
        "finished_at": _time(job.finished_at),
        "worker": job.worker,
        "error": job.last_error or None,
        "traceback": job.last_traceback or None,
    }
    if attempts is not None:
        view["attempts"] = [attempt_view(a) for a in attempts]
    return view


def _step_view(view: RunView, job: Job) -> dict[str, Any]:
    outputs = [o.key for o in view.outputs if o.job_id == job.id]
    return {
        "step": job.step,
        "kind": job.kind,
        "job_id": job.id,
        "state": job.state.value,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "error": job.last_error or None,
        "outputs": outputs,
        "attempts": [attempt_view(a) for a in view.attempts.get(job.id, [])],
    }


def processing_view(found: ObjectProcessing) -> dict[str, Any]:
    runs = []
    for view in found.runs:
        runs.append(
            {
                "run_id": view.run.id,
                "pipeline": view.run.pipeline,
                "state": view.run.state.value,
                "created_at": _time(view.run.created_at),
                "finished_at": _time(view.run.finished_at),
                "steps": [_step_view(view, job) for job in view.jobs],
            }
        )
    outputs = [
        {
            "bucket": o.bucket,
            "key": o.key,
            "version_id": o.version_id,
            "step": o.step,
            "pipeline": view.run.pipeline,
        }
        for view in found.runs
        for o in view.outputs
    ]
    return {
        "bucket": found.bucket,
        "key": found.key,
        "version_id": found.version_id,
        "status": found.status.value,
        "runs": runs,
        "outputs": outputs,
        "metadata": found.metadata,
    }
