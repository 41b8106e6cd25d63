"""The Dramatiq side of ``benchmarks/pipeline.py``: the same no-op jobs on Redis.

``benchmarks/pipeline.py`` runs ``python -m benchmarks.pipeline_dramatiq --jobs N``, which
enqueues N messages for a no-op actor, starts a ``dramatiq`` worker on this module (2
processes of 8 threads by default), waits until every message has been processed and
prints one JSON line of timings. The ``dramatiq`` worker imports this module for the actor.

Each run keeps its keys under a namespace of its own in one Redis database
(``BENCH_DRAMATIQ_REDIS_URL``, ``BENCH_DRAMATIQ_NAMESPACE``) and deletes them before and after.
The actor counts completions with one pipelined Redis round trip (the only way to know
when the queue has drained without polling Dramatiq's internals), and records the earliest
start and the last completion, so the rate excludes the worker's start-up as Chute's does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("BENCH_DRAMATIQ_REDIS_URL", "redis://127.0.0.1:6379/15")
NAMESPACE = os.environ.get("BENCH_DRAMATIQ_NAMESPACE", "chute-bench")
#: Completions so far, the earliest actor start (a sorted set: ZADD LT keeps the
#: minimum), and when the last message finished.
DONE = f"{NAMESPACE}:bench:done"
STARTS = f"{NAMESPACE}:bench:starts"
LAST = f"{NAMESPACE}:bench:last"

broker = RedisBroker(url=REDIS_URL, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench", max_retries=0)
def noop(total: int) -> None:
    """Does nothing but report that it ran (the counterpart of Chute's ``noop``)."""
    started = time.time()
    pipe = broker.client.pipeline(transaction=False)
    pipe.zadd(STARTS, {"first": started}, lt=True)
    pipe.incr(DONE)
    _, done = pipe.execute()
    if done == total:
        broker.client.set(LAST, repr(time.time()))


def clear(client: redis.Redis) -> None:
    """Delete every key of this run's namespace (and nothing else in the database)."""
    keys = list(client.scan_iter(f"{NAMESPACE}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def measure(jobs: int, processes: int, threads: int, timeout: float) -> dict[str, Any]:
    """Enqueue ``jobs`` messages, drain them with a ``dramatiq`` worker, return timings."""
    client = broker.client
    clear(client)
    for _ in range(jobs):
        noop.send(jobs)
    command = [
        sys.executable,
        "-m",
        "dramatiq",
        "benchmarks.pipeline_dramatiq",
        "--path",
        str(ROOT),
    ]
    command += ["--processes", str(processes), "--threads", str(threads)]
    launched = time.time()
    worker = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ
    )
    try:
        deadline = time.monotonic() + timeout
        while int(client.get(DONE) or 0) < jobs:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"dramatiq did not drain the queue: {int(client.get(DONE) or 0)}")
            time.sleep(0.05)
        drained = time.time()
    finally:
        worker.terminate()
        _, errors = worker.communicate(timeout=60)
    first = float(client.zscore(STARTS, "first") or launched)
    last = float(client.get(LAST) or drained)
    return {
        "jobs": jobs,
        "steady_seconds": last - first,
        "wall_seconds": drained - launched,
        "errors": errors.decode(errors="replace")[-2000:]
        if worker.returncode not in (0, -15)
        else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    try:
        broker.client.ping()
    except redis.RedisError as exc:
        print(json.dumps({"skipped": f"Redis at {REDIS_URL} not reachable ({exc})"}))
        return
    try:
        result = measure(args.jobs, args.processes, args.threads, args.timeout)
    finally:
        clear(broker.client)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
