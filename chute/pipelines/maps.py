"""Map steps: a step that runs once per item another step produced, each item a job of
its own, and the step that joins it, which gets every item's results in order.

A step that a Map runs over (a splitter, such as ``data.split``) keeps its outputs as
*items* of the run (see :mod:`chute.queue.items`) instead of writing them to the output
bucket. The Map's step starts with one job, blocked like any other until the steps it
needs are done; when it is unblocked it is *expanded*: it becomes the job of item 0 and
the jobs of the next items are queued beside it, up to the Map's ``max_concurrency``
(``MAP_WINDOW`` if unset). Each time an item's job is done the next item's is queued, in
the same transaction, so the step is done only once every item's job is, and the queue
never holds more than the window's jobs of a Map, however many items it has. A failed
item retries alone; a dead one kills the run like any step, and a redrive takes it on.

If a step needs the Map, it joins it: the Map's results are items too, and the joining
step's task lists them in the order of their items (``ctx.items``). Items are dropped
with their blobs when the run succeeds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chute.catalog import CatalogSession
from chute.functions.lineage import EVENT_CHAIN
from chute.jobs import StagedOutput
from chute.pipelines.model import Step
from chute.queue.records import Job, JobRef, NewItem, NewJob, RunSource
from chute.queue.states import JobState, Outcome, RunState

#: Most unfinished jobs of one Map's items at a time, when its step sets no
#: ``max_concurrency``: bounds the queue's rows (and a claim's work), not the workers.
MAP_WINDOW = 1000
#: The payload field holding a Map job's item.
ITEM = "item"


def item_of(job: Job | JobRef) -> int | None:
    """The item a Map job runs on (``None``: not a Map's item job)."""
    item = job.payload.get(ITEM)
    return item if isinstance(item, int) else None


def window(step: Step) -> int:
    """How many of the Map's item jobs may be unfinished at a time."""
    return step.max_concurrency or MAP_WINDOW


def expand(session: CatalogSession, step: Step, job: Job, moment: datetime) -> bool:
    """Turn a Map's unblocked job into the jobs of its first items. Returns ``True`` if
    there was no item at all: the job is then succeeded at once, and the caller goes on
    as with any done job."""
    assert step.map_over is not None
    total = session.items.count(job.run_id, step.map_over)
    queue = session.queue
    if total == 0:
        report = {"items": 0}
        queue.add_step_run(
            job, Outcome.SUCCEEDED, started_at=moment, ended_at=moment, report=report
        )
        queue.finish(job, JobState.SUCCEEDED, moment)
        return True
    first = min(total, window(step))
    session.items.start_map(job.run_id, step.name, total, first)
    queue.set_payload(job.id, {**job.payload, ITEM: 0})
    inherited = inherited_payload(job)
    _queue_items(session, step, job.run_id, job.pipeline, range(1, first), moment, inherited)
    return False


def refill(
    session: CatalogSession,
    step: Step,
    run_id: int,
    pipeline: str,
    done: int,
    moment: datetime,
    inherited: dict[str, Any] | None = None,
) -> None:
    """After ``done`` of a Map's item jobs are done, queue as many more, if items are left
    (their payloads with ``inherited``, what every job of the Map carries)."""
    items = session.items.take_next(run_id, step.name, done)
    _queue_items(session, step, run_id, pipeline, items, moment, inherited or {})


def inherited_payload(job: Job | JobRef) -> dict[str, Any]:
    """What a Map's item jobs carry of its job's payload: the depth in a chain of
    function invocations of the change that started the run, which their outputs keep."""
    return {EVENT_CHAIN: job.payload[EVENT_CHAIN]} if EVENT_CHAIN in job.payload else {}


def keep(session: CatalogSession, job: Job, outputs: list[StagedOutput], moment: datetime) -> None:
    """Keep a job's outputs as items of its run (their blobs are registered already): a
    splitter's outputs are items 0, 1, ...; a Map job's are the parts of its item."""
    item = item_of(job)
    items = [
        NewItem(
            item if item is not None else index,
            index if item is not None else 0,
            output.key,
            output.blob_id or "",
            output.size,
            output.content_type,
            dict(output.metadata),
        )
        for index, output in enumerate(outputs)
    ]
    session.items.add(job.run_id, job.step, items, moment)


def _queue_items(
    session: CatalogSession,
    step: Step,
    run_id: int,
    pipeline: str,
    items: range,
    moment: datetime,
    inherited: dict[str, Any],
) -> None:
    if not items:
        return
    run = session.queue.get_run(run_id)
    if run is None or run.state is not RunState.ACTIVE:
        return  # superseded or dead: no more work for it (a redrive makes it active again)
    source = RunSource(run.bucket, run.key, run.version_id, run.source_row, {})
    jobs = [
        NewJob(step.name, step.retry.max_attempts, payload={**inherited, ITEM: item})
        for item in items
    ]
    session.queue.add_jobs(run_id, pipeline, source, jobs, moment)
