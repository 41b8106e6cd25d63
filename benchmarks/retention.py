"""Retention benchmark: does the catalog stay flat under a steady overwrite load?

The same load runs twice in one go, on SQLite: PUTs that overwrite a fixed set of keys,
each processed by a one-step no-op pipeline (two worker processes). Once with retention
off (history kept for ever, as before retention existed), once with a short window and
a short pruning interval. Every ``--sample`` PUTs it prints the rows in the tables that
grow with history and the size of the catalog file; at the end, the ratio of the two
runs' final row counts and how much each grew over the second half of the load.

    python benchmarks/retention.py [--puts 40000] [--keys 5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chute.access import EVERYTHING
from chute.context import RequestContext
from chute.queue.records import JobFilter
from chute.queue.states import JobState
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings

#: Tables whose rows grow with history.
TABLES = ("runs", "jobs", "step_runs", "events")
CTX = RequestContext("benchmark", "127.0.0.1", permissions=EVERYTHING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=40_000)
    parser.add_argument("--keys", type=int, default=5_000)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--window", type=float, default=2.0, help="retention window, seconds")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.puts} PUTs over {args.keys} keys, SQLite, 2 workers")
    runs = {}
    for label, window in (("retention off", 0.0), (f"retention {args.window:g} s", args.window)):
        print(f"\n{label}")
        runs[label] = load(args, window)
    (off, kept_off), (on, kept_on) = runs.values()
    print("\nfinal rows, retention on / off:")
    for table in TABLES:
        print(f"  {table:10} {on[table]:>8} / {off[table]:>8}  ratio {on[table] / off[table]:.3f}")
    print(f"  {'catalog':10} {on['mib']:>6.1f} MiB / {off['mib']:.1f} MiB")
    print("rows added over the second half of the load (runs + jobs + step runs + events):")
    print(f"  retention off: {kept_off}   retention on: {kept_on}")


def load(args: argparse.Namespace, window: float) -> tuple[dict[str, Any], int]:
    """Run the load once; returns the final counts and the rows added in its second half."""
    with tempfile.TemporaryDirectory(prefix="chute-retention-") as folder:
        rt = _runtime(Path(folder), window)
        try:
            samples = _put_and_sample(rt, args)
            _drain(rt)
            if window:
                time.sleep(window + 0.1)
                rt.retention.prune()
            final = _counts(rt)
            _print(args.puts, final)
        finally:
            rt.close()
    half = samples[len(samples) // 2] if samples else final
    grown = sum(final[t] for t in TABLES) - sum(half[t] for t in TABLES)
    return final, grown


def _runtime(folder: Path, window: float) -> Runtime:
    step = {"name": "noop", "processor": "noop"}
    settings = load_settings(
        data_dir=folder,
        pipelines={"p": {"trigger": {"bucket": "inbox"}, "steps": [step]}},
        retention={"runs_seconds": window, "events_seconds": window, "interval_seconds": 1.0},
        worker={"processes": 2},
    )
    rt = open_runtime(settings)
    rt.start_workers()
    rt.start_upkeep(sweep=False)
    return rt


def _put_and_sample(rt: Runtime, args: argparse.Namespace) -> list[dict[str, Any]]:
    samples = []
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        for start in range(0, args.puts, args.sample):
            batch = range(start, min(start + args.sample, args.puts))
            list(pool.map(lambda i: _put(rt, i % args.keys, i), batch))
            counts = _counts(rt)
            samples.append(counts)
            _print(batch.stop, counts)
    rate = args.puts / (time.perf_counter() - started)
    print(f"  {rate:.0f} PUTs/s while processing")
    return samples


def _put(rt: Runtime, key: int, i: int) -> None:
    rt.objects.put(CTX, "inbox", f"k/{key:06d}.txt", [f"version {i}".encode()])


def _drain(rt: Runtime, timeout: float = 300.0) -> None:
    waiting = (JobState.AVAILABLE, JobState.RUNNING, JobState.RETRYABLE, JobState.BLOCKED)
    deadline = time.monotonic() + timeout
    while rt.status.counts(CTX, JobFilter(states=waiting)) and time.monotonic() < deadline:
        time.sleep(0.2)


def _counts(rt: Runtime) -> dict[str, Any]:
    with rt.catalog.read() as session:
        counts: dict[str, Any] = {
            table: int(session.conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
            for table in TABLES
        }
    database = rt.settings.data_dir / "catalog.db"
    files = [database, database.with_name("catalog.db-wal")]
    counts["mib"] = sum(f.stat().st_size for f in files if f.exists()) / 2**20
    return counts


def _print(puts: int, counts: dict[str, Any]) -> None:
    rows = "  ".join(f"{table} {counts[table]:>7}" for table in TABLES)
    print(f"  after {puts:>6} PUTs: {rows}  catalog {counts['mib']:6.1f} MiB")


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
