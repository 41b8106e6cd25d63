"""Functions benchmark: what running a handler through Chute adds.

Printed with baselines measured in the same run:

* warm invocation of a no-op handler through the Lambda Invoke API (boto3's ``lambda``
  client, one call at a time), p50 / p99, against a direct call of the same handler in a
  loop, against the same environment invoked in-process (without HTTP), and against
  the same boto3 call answered by a bare uvicorn app (the client's and HTTP's own cost:
  what Chute adds is the difference);
* cold start (a new environment's first invocation: runtime started, module imported)
  against ``python -c 'import module'`` of the same code;
* S3 upload acknowledged -> function start (the handler notes the time it started),
  p50 / p99, one upload at a time through a bucket's ``LambdaFunctionConfiguration``.

Run: ``.venv/bin/python -m benchmarks.functions [--invokes 1000] [--uploads 200]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.ingest import ROOT_KEY, ROOT_SECRET, Server, chute_server
from chute.functions.environment import Environment, FunctionSpec

HANDLER = """
import os, time

def noop(event, context):
    return None

def stamp(event, context):
    started = time.time()
    key = event["Records"][0]["s3"]["object"]["key"]
    with open(os.path.join(os.environ["STAMPS"], key.replace("/", "_")), "w") as out:
        out.write(repr(started))
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<48} p50 {percentile(values, 0.5):8.3f} ms   p99 {percentile(values, 0.99):8.3f} ms"
    )


def direct_ms(code: Path, calls: int) -> list[float]:
    sys.path.insert(0, str(code))
    import handlers  # type: ignore[import-not-found]

    times = []
    for _ in range(calls):
        start = time.perf_counter()
        handlers.noop({}, None)
        times.append((time.perf_counter() - start) * 1000)
    sys.path.remove(str(code))
    return times


def spec(code: Path) -> FunctionSpec:
    return FunctionSpec(
        name="noop",
        handler="handlers.noop",
        task_root=code,
        memory_mb=128,
        timeout_seconds=10,
        region="us-east-1",
        arn="arn:aws:lambda:us-east-1:000000000000:function:noop",
    )


def in_process_ms(code: Path, scratch: Path, calls: int) -> list[float]:
    environment = Environment(spec(code), scratch)
    try:
        environment.invoke(b"{}")
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            environment.invoke(b"{}")
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        environment.stop()


def cold_ms(code: Path, scratch: Path, rounds: int) -> tuple[list[float], list[float]]:
    """A new environment's first invocation, and ``python -c 'import handlers'``."""
    cold, imports = [], []
    for _ in range(rounds):
        environment = Environment(spec(code), scratch)
        start = time.perf_counter()
        result = environment.invoke(b"{}")
        cold.append((time.perf_counter() - start) * 1000)
        environment.stop()
        if result.failed:
            raise SystemExit(f"the cold invocation failed: {result.payload!r}")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import handlers"], cwd=code, check=True)
        imports.append((time.perf_counter() - start) * 1000)
    return cold, imports


def client(service: str, url: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ROOT_KEY,
        aws_secret_access_key=ROOT_SECRET,
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


def invoke_api_ms(url: str, calls: int) -> list[float]:
    functions = client("lambda", url)
    for _ in range(20):  # warm: the environment started, connections open
        functions.invoke(FunctionName="noop", Payload=b"{}")["Payload"].read()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        answer = functions.invoke(FunctionName="noop", Payload=b"{}")
        answer["Payload"].read()
        times.append((time.perf_counter() - start) * 1000)
        if answer.get("FunctionError"):
            raise SystemExit("the no-op function failed")
    return times


def upload_to_start_ms(url: str, stamps: Path, uploads: int) -> list[float]:
    s3 = client("s3", url)
    s3.create_bucket(Bucket="bench-trigger")
    arn = "arn:aws:lambda:us-east-1:000000000000:function:stamp"
    s3.put_bucket_notification_configuration(
        Bucket="bench-trigger",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    times = []
    for i in range(-5, uploads):  # the first few start the environment
        key = f"upload-{i + 5:05d}"
        s3.put_object(Bucket="bench-trigger", Key=key, Body=b"x")
        acknowledged = time.time()
        stamp = stamps / key
        deadline = time.monotonic() + 30
        while not stamp.exists() or not stamp.stat().st_size:
            if time.monotonic() > deadline:
                raise SystemExit(f"the function never started for {key}")
            time.sleep(0.0005)
        if i >= 0:
            times.append((float(stamp.read_text()) - acknowledged) * 1000)
    return times


def run(invokes: int, uploads: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="chute-bench-functions-"))
    # Where the handler notes its start: outside /tmp and the data folder, which
    # environments do not see, and writable by the user they run as.
    stamps = Path(tempfile.mkdtemp(prefix="chute-bench-stamps-", dir="/var/tmp"))
    stamps.chmod(0o777)
    code = work / "code"
    code.mkdir()
    code.chmod(0o755)
    (code / "handlers.py").write_text(HANDLER)
    (code / "handlers.py").chmod(0o644)
    config = work / "chute.toml"
    config.write_text(
        f'[functions.noop]\nhandler = "handlers.noop"\ncode = "{code}"\n\n'
        f'[functions.stamp]\nhandler = "handlers.stamp"\ncode = "{code}"\n'
        f'environment = {{ STAMPS = "{stamps}" }}\n'
    )
    print(f"machine: {os.cpu_count()} cores")
    try:
        direct = direct_ms(code, invokes)
        local = in_process_ms(code, work / "scratch", invokes)
        cold, imports = cold_ms(code, work / "scratch", 20)
        server = chute_server(work / "data", extra={"CHUTE_CONFIG": str(config)})
        try:
            api = invoke_api_ms(server.url, invokes)
            triggered = upload_to_start_ms(server.url, stamps, uploads)
        finally:
            server.stop()
        bare = Server(
            ["-m", "uvicorn", "benchmarks.bare_app:app", "--log-level", "warning"],
            {},
            "/",
            work / "bare.log",
        )
        try:
            http_only = invoke_api_ms(bare.url, invokes)
        finally:
            bare.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(stamps, ignore_errors=True)
    print(summary("direct call of the handler", direct))
    print(summary("environment, invoked in-process", local))
    print(summary("Invoke API (boto3, RequestResponse)", api))
    print(summary("the same boto3 call to a bare app", http_only))
    added = percentile(api, 0.5) - percentile(direct, 0.5)
    added_99 = percentile(api, 0.99) - percentile(direct, 0.99)
    print(f"{'Invoke API - direct call':<48} p50 {added:8.3f} ms   p99 {added_99:8.3f} ms")
    added = percentile(api, 0.5) - percentile(http_only, 0.5)
    added_99 = percentile(api, 0.99) - percentile(http_only, 0.99)
    name = "Invoke API - bare app (what Chute adds)"
    print(f"{name:<48} p50 {added:8.3f} ms   p99 {added_99:8.3f} ms")
    print(summary("cold start (first invocation)", cold))
    print(summary("python -c 'import handlers'", imports))
    ratio = statistics.median(cold) / statistics.median(imports)
    print(f"{'cold start / bare import (medians)':<48} {ratio:8.2f}")
    print(summary("S3 upload acknowledged -> function start", triggered))
    print(json.dumps({"invokes": invokes, "uploads": uploads}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invokes", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=200)
    options = parser.parse_args()
    run(options.invokes, options.uploads)


if __name__ == "__main__":
    main()
