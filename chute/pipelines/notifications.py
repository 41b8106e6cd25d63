"""Pipeline notifications: when a run ends, its pipeline's notify blocks become jobs of the
run, each running the block's compiled ``notify.deliver`` step (delivered, retried and
logged like any step) with the message to send as its payload."""

from __future__ import annotations

import hashlib
from datetime import datetime

from chute.notify.webhooks import pipeline_payload
from chute.pipelines.model import Pipeline
from chute.queue.base import JobQueue
from chute.queue.lineage import LineageSession
from chute.queue.records import NewJob, Run, RunSource
from chute.queue.states import JobKind


def queue_notifications(
    queue: JobQueue,
    lineage: LineageSession,
    run: Run,
    pipeline: Pipeline | None,
    when: str,
    error: str | None,
    moment: datetime,
) -> None:
    """Queue the pipeline's webhooks for a run that ended (``success``/``failure``)."""
    if pipeline is None or not pipeline.notifications:
        return
    outputs = [
        {"bucket": r.bucket, "key": r.key, "version_id": r.version_id, "step": r.step}
        for r in lineage.lineage_of_runs([run.id])
    ]
    source = {"bucket": run.bucket, "key": run.key, "version_id": run.version_id}
    kind = "pipeline.succeeded" if when == "success" else "pipeline.failed"
    status = "succeeded" if when == "success" else "dead"
    body = pipeline_payload(kind, pipeline.name, source, status, outputs, error, moment)
    jobs = []
    for index, notification in enumerate(pipeline.notifications):
        if when not in notification.on:
            continue
        for url in notification.urls:
            msg_id = _message_id(run.id, when, index, url, moment)
            payload = {"notify": index, "url": url, "body": body, "msg_id": msg_id}
            jobs.append(
                NewJob(
                    step=f"notify:{when}",
                    kind=JobKind.NOTIFY,
                    payload=payload,
                    max_attempts=notification.step.retry.max_attempts,
                )
            )
    source_ref = RunSource(run.bucket, run.key, run.version_id, run.source_row, run.event)
    queue.add_jobs(run.id, pipeline.name, source_ref, jobs, moment)


def _message_id(run_id: int, when: str, index: int, url: str, moment: datetime) -> str:
    """A webhook-id that stays the same on every retry of one notification."""
    digest = hashlib.sha256(f"{run_id}/{when}/{index}/{url}/{moment.isoformat()}".encode())
    return "msg_" + digest.hexdigest()[:32]
