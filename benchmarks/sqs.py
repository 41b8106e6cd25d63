"""SQS benchmark: boto3's SQS client against Chute's SQS API and moto's SQS server.

One round trip is SendMessage, ReceiveMessage and DeleteMessage of a message, by each
of 8 consumer threads of one boto3 client process (``--processes`` spreads them over
more; on 2 cores a second client process only takes CPU from the server); the batch
figure sends, receives and deletes ten messages
per call (messages per second). Chute runs on SQLite, then on PostgreSQL if reachable;
moto's server runs in the same run, and ratios are against it. Two more figures make
the numbers readable on a small machine, where clients and server share the cores: the
server's CPU milliseconds per round trip, and the clients' own ceiling, their rate
against a bare app answering every call at once (``benchmarks/sqs_bare_app.py``).

Run: ``.venv/bin/python -m benchmarks.sqs [--round-trips 3000]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.ingest import ROOT, Server, drop_database, postgres_database
from benchmarks.s3 import CREDENTIALS, chute, cpu_seconds, moto
from benchmarks.sqs_bare_app import BODY

PROCESSES = 1
THREADS = 8
BATCH = 10


def client(url: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["CHUTE_ROOT_ACCESS_KEY"],
        aws_secret_access_key=CREDENTIALS["CHUTE_ROOT_SECRET_KEY"],
        config=Config(max_pool_connections=THREADS, retries={"max_attempts": 1}),
    )


def loops(work: Callable[[], int], total: int) -> float:
    """Messages per second while ``THREADS`` threads call ``work`` (which handles some
    messages and says how many) until ``total`` messages are done."""
    lock = threading.Lock()
    handled = [0]

    def loop() -> None:
        while True:
            with lock:
                if handled[0] >= total:
                    return
            count = work()
            with lock:
                handled[0] += count

    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(loop) for _ in range(THREADS)]:
            future.result()
    return handled[0] / (time.perf_counter() - start)


def single(sqs: Any, url: str) -> Callable[[], int]:
    def work() -> int:
        sqs.send_message(QueueUrl=url, MessageBody=BODY)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(got)

    return work


def batched(sqs: Any, url: str) -> Callable[[], int]:
    entries = [{"Id": str(n), "MessageBody": BODY} for n in range(BATCH)]

    def work() -> int:
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=BATCH).get("Messages", [])
        if got:
            handles = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)
            ]
            sqs.delete_message_batch(QueueUrl=url, Entries=handles)
        return len(got)

    return work


def _consume(server_url: str, queue_url: str, kind: str, total: int, threads: int) -> None:
    """One client process: ``threads`` threads until ``total`` messages are done."""
    global THREADS
    THREADS = threads
    sqs = client(server_url)
    loops((single if kind == "single" else batched)(sqs, queue_url), total)


def in_processes(server_url: str, queue_url: str, kind: str, total: int) -> float:
    """Messages per second of ``PROCESSES`` client processes sharing ``total``."""
    context = multiprocessing.get_context("spawn")
    share = total // PROCESSES
    workers = [
        context.Process(target=_consume, args=(server_url, queue_url, kind, share, THREADS))
        for _ in range(PROCESSES)
    ]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return share * PROCESSES / (time.perf_counter() - start)


def measure(server: Server, total: int) -> tuple[float, float, float]:
    """Round trips per second, server CPU ms per round trip, batched messages per second."""
    sqs = client(server.url)
    url = sqs.create_queue(QueueName="bench")["QueueUrl"]
    single(sqs, url)()  # warm up
    before = cpu_seconds(server)
    rate = in_processes(server.url, url, "single", total)
    cpu = (cpu_seconds(server) - before) * 1000 / total
    batch_url = sqs.create_queue(QueueName="bench-batch")["QueueUrl"]
    batch_rate = in_processes(server.url, batch_url, "batched", total * 3)
    return rate, cpu, batch_rate


def bare(work: Path) -> Server:
    return Server(
        ["-m", "uvicorn", "benchmarks.sqs_bare_app:app", "--log-level", "warning"],
        {},
        "/",
        work / "bare.log",
    )


def run(total: int) -> None:
    print(
        f"machine: {os.cpu_count()} cores; {PROCESSES * THREADS} consumer threads in "
        f"{PROCESSES} processes; {total} round trips"
    )
    results: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="chute-bench-sqs-", dir=ROOT) as tmp:
        work = Path(tmp)
        server = bare(work)
        try:
            results["bare app (ceiling)"] = measure(server, total)
        finally:
            server.stop()
        server = moto(work)
        try:
            results["moto server"] = measure(server, max(total // 10, 100))
        finally:
            server.stop()
        server = chute(work, "sqlite")
        try:
            results["chute (SQLite)"] = measure(server, total)
        finally:
            server.stop()
        database = postgres_database()
        if database is not None:
            server = chute(work, "postgres", database)
            try:
                results["chute (PostgreSQL)"] = measure(server, total)
            finally:
                server.stop()
                drop_database(database)
    moto_rate, _, moto_batch = results["moto server"]
    print("                     round trips/s  server CPU/trip   x moto   batched msgs/s   x moto")
    for name, (rate, cpu, batch) in results.items():
        print(
            f"  {name:18} {rate:10.0f}     {cpu:8.2f} ms    {rate / moto_rate:6.1f}"
            f"   {batch:10.0f}       {batch / moto_batch:6.1f}"
        )
    print("targets: chute >= 20x moto, and >= 1000 round trips/s on SQLite")


def main() -> None:
    global PROCESSES, THREADS
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--round-trips", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=PROCESSES)
    args = parser.parse_args()
    PROCESSES, THREADS = args.processes, max(1, 8 // args.processes)
    run(args.round_trips)


if __name__ == "__main__":
    main()
