"""Map benchmark: a large CSV converted to Parquet with a Map over row chunks on a pool of
worker processes, against the single-step conversion of the same file in the same run.

Two runtimes are built in this process (SQLite catalog, local blobs), each with a worker
pool of ``--processes`` processes (2 by default), as ``chute serve`` builds them:

* ``single``: one ``data.convert`` step (CSV to Parquet);
* ``mapped``: ``data.split`` (row chunks of ``--chunk-mb``), ``data.convert`` as a Map over
  the chunks, ``data.join`` concatenating the Parquet parts in order.

The CSV (``--mb``, 200 by default: integers, decimals, dates, booleans and text, some
quoted with commas, quotes and line breaks) is uploaded to both before their workers
start; each conversion is timed from its first processor start to its last job's end, as
the catalog records them. Both outputs are read back and compared row for row (Arrow's
``Table.equals``, schema included). The peak resident memory of every worker process
(``VmHWM``) is printed too.

Run from the repository root: ``.venv/bin/python benchmarks/map.py [--mb 200]``.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chute.access import EVERYTHING
from chute.context import RequestContext
from chute.queue.states import RunState
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings

CTX = RequestContext("benchmark", "127.0.0.1", permissions=EVERYTHING)
TARGET = 1.6
MIB = 1024 * 1024


def generate_csv(path: Path, megabytes: int, seed: int = 7) -> None:
    """A CSV of about ``megabytes`` MiB, written a block of rows at a time."""
    rng = random.Random(seed)
    texts = ["plain", '"with, comma"', '"say ""hi"""', '"two\nlines"', "", "word"]
    with path.open("w", newline="") as out:
        out.write("id,amount,count,day,flag,text,note\n")
        row = 0
        while out.tell() < megabytes * MIB:
            lines = []
            for _ in range(20_000):
                lines.append(
                    f"{row},{rng.random() * 1000:.2f},{rng.randint(-99, 99)},"
                    f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
                    f"{rng.choice(('true', 'false'))},{rng.choice(texts)},"
                    f"{'n' * rng.randint(0, 30)}\n"
                )
                row += 1
            out.write("".join(lines))


def steps(mapped: bool, chunk_mb: int) -> list[dict[str, Any]]:
    limits = {"timeout_seconds": 3600, "memory_mb": 0}
    if not mapped:
        return [
            {"name": "convert", "processor": "data.convert", "options": {"to": "parquet"}, **limits}
        ]
    return [
        {"name": "split", "processor": "data.split",
         "options": {"chunk_bytes": chunk_mb * MIB}, **limits},
        {"name": "convert", "processor": "data.convert",
         "options": {"to": "parquet"}, "map": "split", **limits},
        {"name": "join", "processor": "data.join", "needs": ["convert"], **limits},
    ]  # fmt: skip


def open_one(work: Path, name: str, mapped: bool, args: argparse.Namespace) -> Runtime:
    pipelines = {name: {"trigger": {"bucket": "inbox"}, "steps": steps(mapped, args.chunk_mb)}}
    settings = load_settings(
        data_dir=work / name,
        pipelines=pipelines,
        worker={"processes": args.processes},
        log_level="warning",
    )
    return open_runtime(settings)


def upload(rt: Runtime, source: Path) -> None:
    with source.open("rb") as stream:
        chunks = iter(lambda: stream.read(MIB), b"")
        rt.objects.put(CTX, "inbox", "orders.csv", chunks, content_type="text/csv")


def convert(rt: Runtime) -> float:
    """Run the pipeline on the uploaded file; seconds from its first processor start to
    its last job's end."""
    rt.start_workers()
    deadline = time.monotonic() + 3600
    while True:
        run = rt.status.status(CTX, "inbox", "orders.csv").runs[0].run
        if run.state is not RunState.ACTIVE:
            break
        if time.monotonic() > deadline:
            raise SystemExit("gave up waiting for the conversion")
        time.sleep(0.25)
    found = rt.status.status(CTX, "inbox", "orders.csv").runs[0]
    if run.state is not RunState.SUCCEEDED:
        errors = [job.last_error for job in found.jobs if job.last_error]
        raise SystemExit(f"the conversion failed: {errors}")
    attempts = [(job.step, a) for job in found.jobs for a in found.attempts.get(job.id, [])]
    starts = [a.started_at for _, a in attempts if a.started_at]
    first = min(starts)
    for step in dict.fromkeys(step for step, _ in attempts):
        mine = [a for name, a in attempts if name == step]
        begun = min(a.started_at for a in mine if a.started_at) - first
        ended = max(a.ended_at for a in mine) - first
        print(f"    {step:10} {len(mine):3} attempts, "
              f"{begun.total_seconds():6.2f} s to {ended.total_seconds():6.2f} s")  # fmt: skip
    return (max(a.ended_at for _, a in attempts) - first).total_seconds()


def worker_peaks() -> list[int]:
    """The peak resident memory (bytes) of this process's child processes."""
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        if int(fields.get("PPid", "0")) == os.getpid() and "VmHWM" in fields:
            peaks.append(int(fields["VmHWM"].split()[0]) * 1024)
    return peaks


def output(rt: Runtime) -> Any:
    import pyarrow.parquet as pq

    body = b"".join(rt.objects.open(CTX, "processed", "orders.parquet").body)
    return pq.read_table(io.BytesIO(body))


def measure(
    work: Path, source: Path, name: str, mapped: bool, args: argparse.Namespace
) -> tuple[float, list[int], Any]:
    rt = open_one(work, name, mapped, args)
    try:
        upload(rt, source)
        seconds = convert(rt)
        peaks = worker_peaks()
        table = output(rt)
    finally:
        rt.close(grace=10)
    return seconds, peaks, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the CSV, MiB")
    parser.add_argument("--chunk-mb", type=int, default=16, help="data.split's chunk_bytes, MiB")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chute-map-") as folder:
        work = Path(folder)
        source = work / "orders.csv"
        started = time.perf_counter()
        generate_csv(source, args.mb)
        size = source.stat().st_size
        took = time.perf_counter() - started
        print(f"{os.cpu_count()} cores; CSV of {size / MIB:.0f} MiB generated in {took:.1f} s; "
              f"{args.processes} worker processes")  # fmt: skip
        single, single_peaks, whole = measure(work, source, "single", False, args)
        mapped, mapped_peaks, joined = measure(work, source, "mapped", True, args)
    equal = joined.equals(whole) and joined.schema == whole.schema
    ratio = single / mapped
    print(f"  single step  {single:7.2f} s   {size / MIB / single:6.1f} MiB/s   "
          f"worker peak RSS {max(single_peaks) / MIB:.0f} MiB")  # fmt: skip
    print(f"  Map          {mapped:7.2f} s   {size / MIB / mapped:6.1f} MiB/s   "
          f"worker peak RSS {max(mapped_peaks) / MIB:.0f} MiB")  # fmt: skip
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"  speed-up {ratio:.2f}x (target >= {TARGET}x: {verdict}); "
          f"{whole.num_rows} rows, outputs equal row for row: {equal}")  # fmt: skip
    if not equal:
        sys.exit(1)


if __name__ == "__main__":
    main()
