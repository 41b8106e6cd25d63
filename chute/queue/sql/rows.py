"""Rows of the queue's tables as the plain records callers see, and back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from chute.blobs.records import BlobKind
from chute.queue.records import ClaimSource, Job, JobRef, NewJob, Run, RunSource, StepRun
from chute.queue.states import JobState, Outcome, RunState


def job_values(
    run_id: int, pipeline: str, source: RunSource, job: NewJob, now: datetime
) -> dict[str, Any]:
    """The row of a new job of a run."""
    return {
        "run_id": run_id,
        "kind": job.kind,
        "pipeline": pipeline,
        "step": job.step,
        "bucket": source.bucket,
        "key": source.key,
        "needs": list(job.needs),
        "payload": job.payload,
        "state": (JobState.BLOCKED if job.needs else JobState.AVAILABLE).value,
        "attempt": 0,
        "max_attempts": job.max_attempts,
        "run_at": now,
        "worker": None,
        "lease_expires_at": None,
        "started_at": None,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
        "last_error": None,
        "last_traceback": None,
        "unstarted_losses": 0,
        "claims": 0,
    }


def to_ref(row: Any) -> JobRef:
    """A job as the hot path reads it (``REF_COLUMNS``)."""
    id_, run_id, kind, pipeline, step, attempt, payload, claim = row
    return JobRef(id_, run_id, kind, pipeline, step, attempt, json_object(payload), claim)


def json_object(text: str) -> dict[str, Any]:
    """A JSON object read as text (most are empty)."""
    return {} if text == "{}" else dict(json.loads(text))


def to_claim_source(row: Any) -> ClaimSource:
    """A row of ``Statements.run_sources``."""
    (run_id, bucket, key, version_id, event_json, blob_id, size, etag, sha256, ctype, meta) = row[
        :11
    ]
    kind, location, md5, data = row[11:]
    return ClaimSource(
        run_id,
        bucket,
        key,
        version_id,
        event_json,
        blob_id,
        size,
        etag,
        sha256,
        ctype,
        None if meta is None else json_object(meta),
        None if kind is None else BlobKind(kind),
        location,
        md5,
        None if data is None else bytes(data),
    )


def to_job(row: Any) -> Job:
    values = dict(row._mapping)
    values["state"] = JobState(values["state"])
    values["needs"] = list(values["needs"])
    values["payload"] = dict(values["payload"])
    return Job(**values)


def to_run(row: Any) -> Run:
    values = dict(row._mapping)
    values["state"] = RunState(values["state"])
    return Run(**values)


def to_step_run(row: Any) -> StepRun:
    values = dict(row._mapping)
    values["outcome"] = Outcome(values["outcome"])
    values["report"] = dict(values["report"] or {})
    return StepRun(**values)
