"""``chute status``, ``jobs``, ``dead``, ``redrive``, ``reprocess`` and ``pipelines``:
watching and steering processing through the JSON API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from chute.api.rest.models.jobs import JobPage
from chute.api.rest.models.pipelines import StepView
from chute.cli.args import JsonFlag, Target, VersionId, parse_location
from chute.cli.connection import connect
from chute.cli.output import fail, new_table, print_json, print_result, show


def status(
    ctx: typer.Context, target: Target, version_id: VersionId = None, as_json: JsonFlag = False
) -> None:
    """An object's processing status: each pipeline run, its steps and outputs."""
    with connect(ctx) as client:
        found = client.object_status(target.bucket, target.key, version_id=version_id)
    if as_json:
        print_json(found)
        return
    typer.echo(f"{target}  status: {found.status}")
    for run in found.runs:
        table = new_table(
            "step",
            "state",
            "attempt",
            "outputs / error",
            title=f"pipeline {run.pipeline} ({run.state})",
        )
        for step in run.steps:
            detail = ", ".join(step.outputs) or (step.error or "")
            table.add_row(step.step, step.state, f"{step.attempt}/{step.max_attempts}", detail)
        for name, count in run.items_succeeded.items():
            table.add_row(name, "succeeded", "", f"{count} items (not listed)")
        show(table)
    if found.metadata:
        typer.echo("metadata: " + ", ".join(f"{k}={v}" for k, v in _flat(found.metadata)))


def _flat(metadata: dict[str, Any]) -> list[tuple[str, object]]:
    return [(k, v) for k, v in metadata.items() if not isinstance(v, dict | list)][:8]


State = Annotated[list[str] | None, typer.Option("--state", help="Job state (repeatable).")]
Pipeline = Annotated[str | None, typer.Option(help="Only jobs of this pipeline.")]
Where = Annotated[str | None, typer.Option("--in", help="Only jobs on objects in BUCKET[/PREFIX].")]
Since = Annotated[str | None, typer.Option(help="Created at or after (ISO 8601, with zone).")]
Until = Annotated[str | None, typer.Option(help="Created before (ISO 8601, with zone).")]
Limit = Annotated[int, typer.Option(help="Most jobs to show.", min=1, max=1000)]
Cursor = Annotated[int | None, typer.Option(help="next_cursor from a previous page.")]


def _location(where: str | None) -> tuple[str | None, str | None]:
    if where is None:
        return None, None
    location = parse_location(where)
    return location.bucket, location.prefix or None


def jobs(
    ctx: typer.Context,
    state: State = None,
    pipeline: Pipeline = None,
    where: Where = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first, filtered by state, pipeline, place and time."""
    _list_jobs(ctx, where, limit, cursor, as_json, state, pipeline, since, until)


def dead(
    ctx: typer.Context,
    pipeline: Pipeline = None,
    where: Where = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    as_json: JsonFlag = False,
) -> None:
    """List dead letters: jobs whose retries ran out or whose input was rejected."""
    _list_jobs(ctx, where, limit, cursor, as_json, pipeline=pipeline, dead=True)


def _list_jobs(
    ctx: typer.Context,
    where: str | None,
    limit: int,
    cursor: int | None,
    as_json: bool,
    state: list[str] | None = None,
    pipeline: str | None = None,
    since: str | None = None,
    until: str | None = None,
    *,
    dead: bool = False,
) -> None:
    """What ``jobs`` and ``dead`` print: one page of jobs (``dead``: of dead letters, from
    their own listing) as a table or JSON."""
    bucket, prefix = _location(where)
    with connect(ctx) as client:
        page = client.list_jobs(
            dead=dead,
            state=state,
            pipeline=pipeline,
            bucket=bucket,
            prefix=prefix,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
    if as_json:
        print_json(page)
    else:
        _show_jobs(page)


def _show_jobs(page: JobPage) -> None:
    table = new_table("id", "pipeline", "step", "object", "state", "attempt", "error")
    for job in page.jobs:
        table.add_row(
            str(job.id),
            job.pipeline,
            job.step,
            f"{job.bucket}/{job.key}",
            job.state,
            f"{job.attempt}/{job.max_attempts}",
            (job.error or "")[:80],
        )
    show(table)
    if page.next_cursor:
        typer.echo(f"more: --cursor {page.next_cursor}")


def redrive(
    ctx: typer.Context,
    job_ids: Annotated[list[int] | None, typer.Argument(help="Dead job ids.")] = None,
    pipeline: Pipeline = None,
    where: Where = None,
    since: Since = None,
    until: Until = None,
    every: Annotated[bool, typer.Option("--all", help="Redrive every dead job.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Give dead jobs a fresh set of attempts: by id, by filter, or --all."""
    bucket, prefix = _location(where)
    if not (job_ids or pipeline or where or since or until or every):
        fail("name job ids, a filter (--pipeline, --in, --since, --until) or --all")
    with connect(ctx) as client:
        answer = client.redrive(
            job_ids=job_ids or None,
            pipeline=pipeline,
            bucket=bucket,
            prefix=prefix,
            since=since,
            until=until,
            all=every,
        )
    print_result(answer, as_json, f"redrove {answer.redriven} dead jobs")


def reprocess(
    ctx: typer.Context,
    pipeline: Annotated[str, typer.Argument(help="The pipeline to run.")],
    target: Annotated[
        str,
        typer.Argument(metavar="BUCKET/KEY", help="An object, or with --prefix a BUCKET/PREFIX."),
    ],
    prefix: Annotated[
        bool, typer.Option("--prefix", help="Every object under the prefix.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Run a pipeline again on an existing object, or on every object under a prefix."""
    location = parse_location(target)
    with connect(ctx) as client:
        if prefix:
            answer = client.reprocess(pipeline, location.bucket, prefix=location.prefix)
        else:
            if not location.prefix:
                fail("give BUCKET/KEY (or --prefix for every object under BUCKET/PREFIX)")
            answer = client.reprocess(pipeline, location.bucket, key=location.prefix)
    print_result(answer, as_json, f"started {answer.runs} runs of {pipeline}")


def find(
    ctx: typer.Context,
    where: Annotated[str, typer.Argument(metavar="BUCKET[/PREFIX]", help="Where to look.")],
    conditions: Annotated[
        list[str], typer.Option("--where", "-w", help="FIELD[.FIELD...]=VALUE (repeatable).")
    ],
    limit: Limit = 100,
    as_json: JsonFlag = False,
) -> None:
    """Find objects by the metadata steps extracted (e.g. -w image.format=jpeg)."""
    location = parse_location(where)
    with connect(ctx) as client:
        answer = client.find(location.bucket, conditions, prefix=location.prefix, limit=limit)
    if as_json:
        print_json(answer)
        return
    for found in answer.objects:
        typer.echo(f"{location.bucket}/{found.key}")


def pipelines(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The server's configured pipelines."""
    with connect(ctx) as client:
        answer = client.pipelines()
    if as_json:
        print_json(answer)
        return
    table = new_table("pipeline", "trigger", "steps", "output bucket")
    for p in answer.pipelines:
        trigger = p.trigger
        where = f"{trigger.bucket}/{trigger.prefix}*{'|'.join(trigger.suffix)}"
        steps = ", ".join(_step(s) for s in p.steps)
        table.add_row(p.name, where, steps, p.output_bucket)
    show(table)


def _step(step: StepView) -> str:
    """A step as ``chute pipelines`` lists it: ``name<-needed+steps [when EXPR]``."""
    needs = f"<-{'+'.join(step.needs)}" if step.needs else ""
    when = f" [when {step.when}]" if step.when else ""
    return step.name + needs + when
