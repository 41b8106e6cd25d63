"""Pipeline benchmark: upload-to-start latency, no-op job rate, thumbnail pipeline.

Every Chute runtime is built in this process with :func:`~chute.runtime.open_runtime` and
its worker pool (2 processes by default), as ``chute serve`` builds them. Measured, with a
baseline from the same run where one makes sense:

* latency from an upload's acknowledgement (``ObjectService.put`` returning) to the start
  of the processor it triggers (the attempt's ``started_at``, taken in the worker process
  just before the processor is called), idle system, one ``noop`` step, sequential
  uploads; on SQLite and (if it is reachable) PostgreSQL;
* no-op jobs per second: N runs of a one-step ``noop`` pipeline enqueued in bulk before
  the workers start, then drained; on SQLite and PostgreSQL, next to Dramatiq draining the
  same number of no-op messages from Redis with as many processes (8 threads each);
* a thumbnail pipeline end to end (camera-sized JPEGs uploaded into ``inbox``, one
  ``image.thumbnail`` step making 3 WebP sizes), next to a bare pool of as many plain
  processes making the same thumbnails with the same libvips calls. Chute runs it two
  ways: with warmed-up workers running during the uploads (first upload to last success:
  the figure with a target), and with every image uploaded before the workers start
  (first processor start to last success: the pipeline's overhead without ingest). The
  baseline and Chute take turns (``--rounds``, 3 by default) and their medians are
  compared, since a shared machine's speed drifts between measurements.

No-op rates exclude process start-up: they run from the first processor start to the last
job recorded as succeeded (Dramatiq: to the last message processed). The rate including
the workers' start-up is printed next to them.

Run from the repository root: ``.venv/bin/python benchmarks/pipeline.py`` (or ``-m
benchmarks.pipeline``); ``--help`` lists the sections and sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from chute.access import EVERYTHING
from chute.context import RequestContext
from chute.queue.records import Job, JobFilter, StepRun
from chute.queue.states import JobState
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings

if __package__ in (None, ""):
    # run as ``python benchmarks/pipeline.py``: make the ``benchmarks`` package importable
    # (here and in the spawned processes, which inherit sys.path)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.pipeline_images import baseline_rate, make_images

ROOT = Path(__file__).resolve().parent.parent
#: Who uploads, as the object service asks of every caller.
CTX = RequestContext("benchmark", "127.0.0.1", permissions=EVERYTHING)
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
SECTIONS = ("latency", "throughput", "thumbnails")

BUCKET = "bench"
BODY = b"x" * 256
#: Uploads under ``in/`` start the no-op pipeline; the seed of the bulk runs is elsewhere.
NOOP_PIPELINE = {
    "trigger": {"bucket": BUCKET, "prefix": "in/"},
    "steps": [{"name": "noop", "processor": "noop"}],
}
THUMBNAIL_OPTIONS: dict[str, Any] = {"sizes": [160, 320, 640], "format": "webp"}
THUMBNAIL_PIPELINE = {
    "trigger": {"bucket": "inbox", "suffix": ".jpg"},
    "steps": [{"name": "thumbnail", "processor": "image.thumbnail", "options": THUMBNAIL_OPTIONS}],
}
#: Longest wait for any one thing to finish before the benchmark gives up.
PATIENCE = 300.0


# --- results ---------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the final table."""

    measure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""


@dataclass
class Report:
    """Figures gathered by the sections, printed as one table at the end."""

    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def print(self, args: argparse.Namespace) -> None:
        print()
        prefetch = "default" if args.prefetch is None else args.prefetch
        print(
            f"machine: {os.cpu_count()} cores; Chute worker processes: {args.processes}, "
            f"prefetch: {prefetch}"
        )
        headers = Row("measure", "chute", "baseline (same run)", "ratio", "target", "")
        rows = [headers, *self.rows]
        columns = ("measure", "value", "baseline", "ratio", "target", "verdict")
        widths = [max(len(getattr(row, name)) for row in rows) for name in columns]
        for index, row in enumerate(rows):
            cells = [
                getattr(row, name).ljust(width) for name, width in zip(columns, widths, strict=True)
            ]
            print("  ".join(cells).rstrip())
            if index == 0:
                print("  ".join("-" * width for width in widths))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# --- runtimes and databases --------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """A catalog database to run a section on."""

    name: str
    database_url: str | None


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database (dropped afterwards), or ``None`` if unreachable."""
    name = f"chute_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        print(f"  PostgreSQL not available ({exc.__class__.__name__}); skipped")
        yield None
        return
    try:
        yield POSTGRES_URL.format(name=name)
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


def backends(use_postgres: bool) -> Iterator[Backend]:
    """SQLite, then a fresh PostgreSQL database when wanted and reachable."""
    yield Backend("sqlite", None)
    if use_postgres:
        with postgres_database() as url:
            if url is not None:
                yield Backend("postgresql", url)


@contextmanager
def runtime(
    work: Path, backend: Backend, pipelines: dict[str, Any], args: argparse.Namespace
) -> Iterator[Runtime]:
    """A runtime with its own data folder, closed (workers drained) on exit."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"{backend.name}-", dir=work))
    settings = load_settings(
        data_dir=data_dir,
        database_url=backend.database_url,
        pipelines=pipelines,
        worker=worker_settings(args),
        log_level="warning",
    )
    rt = open_runtime(settings)
    try:
        yield rt
    finally:
        rt.close(grace=10)


def worker_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``[worker]`` for the runtimes: Chute's defaults but for the flags given."""
    worker: dict[str, Any] = {"processes": args.processes}
    if args.prefetch is not None:
        worker["prefetch"] = args.prefetch
    return worker


def wait_until(done: Callable[[], bool], what: str, interval: float) -> None:
    deadline = time.monotonic() + PATIENCE
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(interval)


def wait_for_jobs(rt: Runtime, where: JobFilter, count: int, interval: float = 0.05) -> None:
    """Poll the job counts until ``count`` jobs matching ``where`` have succeeded; stop
    the benchmark if one fails for good."""

    def done() -> bool:
        counts = rt.status.counts(CTX, where)
        if counts.get(JobState.DEAD) or counts.get(JobState.RETRYABLE):
            dead = rt.status.jobs(CTX, JobFilter(states=(JobState.DEAD, JobState.RETRYABLE)))
            raise SystemExit(f"a job failed: {dead.jobs[0].last_error}")
        return counts.get(JobState.SUCCEEDED, 0) >= count

    wait_until(done, f"{count} jobs to succeed", interval)


def finished_jobs(rt: Runtime, where: JobFilter, limit: int) -> tuple[list[Job], list[StepRun]]:
    """The jobs matching ``where`` and their attempts (read in one transaction)."""
    with rt.catalog.read() as session:
        queue = session.queue
        jobs = queue.list_jobs(where, None, limit)
        ids = [job.id for job in jobs]
        attempts = []
        for start in range(0, len(ids), 500):
            attempts += queue.step_runs_of(ids[start : start + 500])
    return jobs, attempts


def span(jobs: list[Job], attempts: list[StepRun]) -> float:
    """Seconds from the first processor start to the last job recorded as succeeded."""
    first = min(a.started_at for a in attempts if a.started_at is not None)
    last = max(job.finished_at for job in jobs if job.finished_at is not None)
    return (last - first).total_seconds()


# --- 1. latency ------------------------------------------------------------------------------


def latency_ms(rt: Runtime, uploads: int, gap: float) -> tuple[list[float], list[float]]:
    """Milliseconds from each upload's acknowledgement to its processor's start, and
    how long each upload (``put``) itself took."""
    pool = rt.start_workers()
    # the first job waits for the worker processes to come up: not part of the measure
    rt.objects.put(CTX, BUCKET, "in/warm-up", [BODY])
    wait_for_jobs(rt, JobFilter(pipeline="noop"), 1, interval=0.01)
    latencies, puts = [], []
    for index in range(uploads):
        key = f"in/{index:06d}"
        completed = pool.completed
        sent = time.time()
        rt.objects.put(CTX, BUCKET, key, [BODY])
        acked = time.time()
        # the pool's own counter: polling it costs nothing, unlike polling the catalog,
        # which would compete with the pool for the same 2 cores
        wait_until(lambda: pool.completed > completed, f"the job of {key}", 0.001)  # noqa: B023
        started = processor_start(rt, key)
        latencies.append((started.timestamp() - acked) * 1000)
        puts.append((acked - sent) * 1000)
        time.sleep(gap)
    return latencies, puts


def processor_start(rt: Runtime, key: str) -> datetime:
    # The counter may have moved for the previous job (it is bumped after its commit);
    # then this job is a moment behind.
    deadline = time.monotonic() + 10
    view = rt.status.status(CTX, BUCKET, key)
    while view.status != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.001)
        view = rt.status.status(CTX, BUCKET, key)
    if view.status != "succeeded":
        raise SystemExit(f"{key}: processing status {view.status}, expected succeeded")
    run = view.runs[0]
    started = run.attempts[run.jobs[0].id][0].started_at
    assert started is not None
    return started


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def run_latency(args: argparse.Namespace, work: Path, report: Report) -> None:
    print(f"latency: {args.uploads} sequential uploads, one noop step, idle system")
    for backend in backends(args.postgres):
        with runtime(work, backend, {"noop": NOOP_PIPELINE}, args) as rt:
            values, puts = latency_ms(rt, args.uploads, args.gap_ms / 1000)
        p50, p99, worst = percentile(values, 50), percentile(values, 99), max(values)
        print(
            f"  {backend.name:10}  ack -> processor start  p50 {p50:6.2f} ms  "
            f"p99 {p99:6.2f} ms  max {worst:6.2f} ms  min {min(values):6.2f} ms   "
            f"(the upload itself: p50 {percentile(puts, 50):.2f} ms)"
        )
        name = f"ack -> processor start, {backend.name}"
        report.add(
            Row(f"{name}, p50", f"{p50:.2f} ms", target="<= 5 ms", verdict=verdict(p50 <= 5))
        )
        report.add(
            Row(f"{name}, p99", f"{p99:.2f} ms", target="<= 25 ms", verdict=verdict(p99 <= 25))
        )
        report.add(Row(f"{name}, max", f"{worst:.2f} ms"))


# --- 2. no-op throughput ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """Jobs per second, from the first start to the last success, and including the
    time the workers took to start."""

    steady: float
    with_start_up: float


def enqueue_runs(rt: Runtime, count: int, batch: int = 1000) -> None:
    """Create ``count`` runs of the no-op pipeline on one small object, in a few big
    transactions, the way a reprocess creates them."""
    version = rt.objects.put(CTX, BUCKET, "seed", [BODY])
    (event,) = rt.objects.events(CTX, bucket=BUCKET, key="seed")
    pipeline = rt.pipelines["noop"]
    for start in range(0, count, batch):
        with rt.catalog.write() as session:
            for _ in range(min(batch, count - start)):
                rt.status.router.start(session, pipeline, event, version)


def noop_rate(rt: Runtime, count: int) -> Rate:
    where = JobFilter(pipeline="noop")
    enqueue_runs(rt, count)
    launched = time.time()
    rt.start_workers()
    wait_for_jobs(rt, where, count)
    drained = time.time()
    jobs, attempts = finished_jobs(rt, where, count + 1)
    if len(jobs) != count:
        raise SystemExit(f"expected {count} jobs, found {len(jobs)}")
    return Rate(count / span(jobs, attempts), count / (drained - launched))


def dramatiq_rate(args: argparse.Namespace) -> Rate | str:
    """Dramatiq's rate on the same jobs, or why it was skipped."""
    env = {
        **os.environ,
        "BENCH_DRAMATIQ_REDIS_URL": args.redis_url,
        "BENCH_DRAMATIQ_NAMESPACE": f"chute-bench-{uuid.uuid4().hex[:8]}",
    }
    command = [sys.executable, "-m", "benchmarks.pipeline_dramatiq", "--jobs", str(args.jobs)]
    command += ["--processes", str(args.processes), "--threads", str(args.dramatiq_threads)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the Dramatiq run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if "skipped" in result:
        return str(result["skipped"])
    if result["errors"]:
        print(f"  dramatiq worker errors:\n{result['errors']}")
    return Rate(args.jobs / result["steady_seconds"], args.jobs / result["wall_seconds"])


def run_throughput(args: argparse.Namespace, work: Path, report: Report) -> None:
    print(f"no-op jobs: {args.jobs} runs enqueued, then drained by {args.processes} processes")
    rates: dict[str, Rate] = {}
    for backend in backends(args.postgres):
        with runtime(work, backend, {"noop": NOOP_PIPELINE}, args) as rt:
            rates[backend.name] = rate = noop_rate(rt, args.jobs)
        print(
            f"  chute {backend.name:10}  {rate.steady:7.0f} jobs/s   "
            f"(with worker start-up {rate.with_start_up:7.0f} jobs/s)"
        )
    dramatiq: Rate | str = "not run (--no-dramatiq)"
    if args.dramatiq:
        dramatiq = dramatiq_rate(args)
        if isinstance(dramatiq, Rate):
            print(
                f"  dramatiq + redis  {dramatiq.steady:7.0f} jobs/s   "
                f"(with worker start-up {dramatiq.with_start_up:7.0f} jobs/s), "
                f"{args.processes} processes x {args.dramatiq_threads} threads"
            )
        else:
            print(f"  dramatiq skipped: {dramatiq}")
    targets = {"sqlite": 2000, "postgresql": 3000}
    for name, rate in rates.items():
        row = Row(f"no-op jobs/s, {name}", f"{rate.steady:.0f} /s", target=f">= {targets[name]} /s")
        row.verdict = verdict(rate.steady >= targets[name])
        if isinstance(dramatiq, Rate):
            row.baseline = f"{dramatiq.steady:.0f} /s Dramatiq+Redis"
            row.ratio = f"{rate.steady / dramatiq.steady:.2f}"
        report.add(row)
        report.add(
            Row(
                f"no-op jobs/s with worker start-up, {name}",
                f"{rate.with_start_up:.0f} /s",
                f"{dramatiq.with_start_up:.0f} /s" if isinstance(dramatiq, Rate) else "",
            )
        )
    if isinstance(dramatiq, str):
        report.add(Row("Dramatiq + Redis baseline", "skipped (see above)"))


# --- 3. thumbnails ---------------------------------------------------------------------------


def upload_file(rt: Runtime, bucket: str, key: str, path: Path) -> None:
    with path.open("rb") as f:
        chunks = iter(lambda: f.read(1024 * 1024), b"")
        rt.objects.put(
            CTX, bucket, key, chunks, content_type="image/jpeg", expected_size=path.stat().st_size
        )


def upload_warm_up(rt: Runtime, paths: list[Path], processes: int) -> None:
    """One full-size image per worker process (loads libvips), as the baseline does."""
    for index, path in enumerate(paths[:processes]):
        upload_file(rt, "inbox", f"warm-up/{index}.jpg", path)


@dataclass(frozen=True)
class ThumbnailRun:
    """How fast the thumbnail pipeline went, and how long the uploads took."""

    rate: float
    upload_seconds: float


def thumbnail_run(rt: Runtime, paths: list[Path], processes: int, live: bool) -> ThumbnailRun:
    """Upload ``paths`` into ``inbox`` and wait for every run to succeed.

    ``live``: the workers run (warmed up) while the images are uploaded, and the time
    runs from the first upload to the last success. Otherwise every image is uploaded
    first and the time runs from the first processor start to the last success: the
    pipeline's own overhead, without ingest competing for the same cores."""
    if live:
        rt.start_workers()
        upload_warm_up(rt, paths, processes)
        wait_for_jobs(rt, JobFilter(key_prefix="warm-up/"), processes)
    else:
        upload_warm_up(rt, paths, processes)
    where = JobFilter(key_prefix="photos/")
    start = time.time()
    for path in paths:
        upload_file(rt, "inbox", f"photos/{path.name}", path)
    uploaded = time.time()
    if not live:
        rt.start_workers()
    # The times come from the catalog, not from this wait, which polls rarely so as to
    # take as little as it can from the cores the pipeline runs on.
    wait_for_jobs(rt, where, len(paths), interval=0.25)
    jobs, attempts = finished_jobs(rt, where, len(paths) + 1)
    outputs = rt.objects.list_objects(CTX, "processed", prefix="photos/").objects
    if len(outputs) != 3 * len(paths):
        raise SystemExit(f"expected {3 * len(paths)} thumbnails, found {len(outputs)}")
    if live:
        last = max(job.finished_at for job in jobs if job.finished_at is not None)
        seconds = last.timestamp() - start
    else:
        seconds = span(jobs, attempts)
    return ThumbnailRun(len(paths) / seconds, uploaded - start)


def run_thumbnails(args: argparse.Namespace, work: Path, report: Report) -> None:
    from chute.processors.builtin.image import ThumbnailOptions

    folder = work / "images"
    folder.mkdir()
    paths = make_images(folder, args.images)
    mb = sum(path.stat().st_size for path in paths) / len(paths) / 1e6
    sizes = ", ".join(str(size) for size in THUMBNAIL_OPTIONS["sizes"])
    print(
        f"thumbnails: {len(paths)} JPEGs of 3000x2000 ({mb:.1f} MB each on average), "
        f"{sizes} px wide, {THUMBNAIL_OPTIONS['format']}"
    )
    options = ThumbnailOptions.model_validate(THUMBNAIL_OPTIONS)
    backend = Backend("sqlite", None)
    # The machine is shared: the baseline and Chute take turns, and medians are compared.
    bases: list[float] = []
    runs: dict[bool, list[ThumbnailRun]] = {True: [], False: []}
    for round_ in range(1, args.rounds + 1):
        bases.append(baseline_rate(paths, options, args.processes))
        pool = f"bare pyvips, pool of {args.processes} processes"
        print(f"  round {round_}: {pool:48}  {bases[-1]:6.2f} images/s")
        for live in (True, False):
            with runtime(work, backend, {"thumbs": THUMBNAIL_PIPELINE}, args) as rt:
                run = thumbnail_run(rt, paths, args.processes, live)
            runs[live].append(run)
            how = "first upload to last success" if live else "uploaded first, processing only"
            print(
                f"  round {round_}: chute (sqlite), {how:32}  {run.rate:6.2f} images/s   "
                f"(uploading took {run.upload_seconds:.2f} s)"
            )
    base = statistics.median(bases)
    for live, label in ((True, "upload to success"), (False, "processing only")):
        rate = statistics.median(run.rate for run in runs[live])
        row = Row(f"thumbnail pipeline images/s, sqlite, {label}", f"{rate:.2f} /s")
        row.baseline = f"{base:.2f} /s bare pyvips pool"
        row.ratio = f"{rate / base:.2f}"
        if live:
            row.target, row.verdict = ">= 0.85", verdict(rate / base >= 0.85)
        report.add(row)


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, from {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--prefetch", type=int, help="Chute's worker.prefetch (default: Chute's default)"
    )
    parser.add_argument("--uploads", type=int, default=200, help="latency: uploads")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="latency: pause between uploads")
    parser.add_argument("--jobs", type=int, default=5000, help="throughput: no-op jobs")
    parser.add_argument("--images", type=int, default=40, help="thumbnails: images")
    parser.add_argument(
        "--rounds", type=int, default=3, help="thumbnails: turns of baseline and Chute (medians)"
    )
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    parser.add_argument("--no-dramatiq", dest="dramatiq", action="store_false")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--dramatiq-threads", type=int, default=8)
    args = parser.parse_args()
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)}")

    report = Report()
    runners = {"latency": run_latency, "throughput": run_throughput, "thumbnails": run_thumbnails}
    with tempfile.TemporaryDirectory(prefix="chute-bench-", dir=ROOT) as tmp:
        for name in SECTIONS:
            if name in sections:
                started = time.perf_counter()
                runners[name](args, Path(tmp), report)
                print(f"  ({time.perf_counter() - started:.0f} s)")
    report.print(args)


if __name__ == "__main__":
    main()
