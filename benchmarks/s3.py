"""S3 API benchmark: boto3 against Chute, with SigV4 verified and checksums computed.

Every figure is printed next to baselines measured in the same run on the same machine:

* 4 KiB PutObject per second from 16 threads of one boto3 client, against Chute's S3 API
  (SQLite, then PostgreSQL if reachable), moto's server, and a bare uvicorn app that
  reads the body and answers 200; the JSON API's rate with the same number of httpx
  threads, against the same bare app;
* ``upload_file`` / ``download_file`` of 1 GiB (multipart, 10 threads), against reading
  the bytes, computing MD5 and SHA-256 and writing + fsyncing them with plain Python (PUT)
  and the JSON API's GET of the same object (GET), and against moto's server. The GET
  ratio compares boto3's ranged GETs with their bytes dropped (``download_fileobj`` into
  a sink) with the JSON API's GET dropped alike: ``download_file`` writing to disk is
  printed too, but on this machine it measures the client's file writes;
* the server's peak RSS (VmHWM) during the 1 GiB multipart upload.

The server's CPU milliseconds per small PUT are printed too: with client and server on
one 2-core machine, the boto3 client's own cost caps every server's rate (the bare app's
rate is that ceiling), so the CPU each server spends per request is the fairer
comparison with moto.

Run: ``.venv/bin/python -m benchmarks.s3 [--size-mib 1024] [--small-puts 4000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from benchmarks.ingest import (
    API,
    ROOT,
    Server,
    baseline_put,
    drop_database,
    make_file,
    mbps,
    postgres_database,
)

ACCESS_KEY = "CKBENCHMARK000000001"
SECRET_KEY = "benchmark-secret-benchmark-secret-000000"
CREDENTIALS = {"CHUTE_ROOT_ACCESS_KEY": ACCESS_KEY, "CHUTE_ROOT_SECRET_KEY": SECRET_KEY}
THREADS = 16
MiB = 1024 * 1024


def client(url: str) -> object:
    config = Config(
        s3={"addressing_style": "path"},
        max_pool_connections=THREADS,
        retries={"max_attempts": 1},
    )
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=config,
    )


def chute(work: Path, name: str, database_url: str | None = None) -> Server:
    env = {"CHUTE_DATA_DIR": str(work / name), "CHUTE_LOG_LEVEL": "warning", **CREDENTIALS}
    if database_url:
        env["CHUTE_DATABASE_URL"] = database_url
    return Server(["-m", "chute", "serve"], env, f"{API}/health", work / f"{name}.log")


def moto(work: Path) -> Server:
    return Server(["-m", "moto.server"], {}, "/moto-api/", work / "moto.log")


def bare(work: Path) -> Server:
    return Server(
        ["-m", "uvicorn", "benchmarks.bare_app:app", "--log-level", "warning"],
        {},
        "/",
        work / "bare.log",
    )


def rate(work: Callable[[int], None], total: int) -> float:
    """Calls per second of ``work(i)`` for ``i`` in ``range(total)`` from 16 threads."""
    counter = itertools.count()
    lock = threading.Lock()

    def loop() -> None:
        while True:
            with lock:
                i = next(counter)
            if i >= total:
                return
            work(i)

    start = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(loop) for _ in range(THREADS)]:
            future.result()
    return total / (time.perf_counter() - start)


def s3_puts(url: str, total: int) -> float:
    s3 = client(url)
    s3.create_bucket(Bucket="bench")  # type: ignore[attr-defined]
    body = os.urandom(4096)
    put = s3.put_object  # type: ignore[attr-defined]
    put(Bucket="bench", Key="warm", Body=body)
    return rate(lambda i: put(Bucket="bench", Key=f"small/{i:08d}", Body=body), total)


def json_puts(url: str, total: int, path: str = f"{API}/buckets/bench/objects/small/") -> float:
    body = os.urandom(4096)
    local = threading.local()

    def put(i: int) -> None:
        session = getattr(local, "client", None)
        if session is None:
            session = local.client = httpx.Client(
                headers={"authorization": f"Bearer {ACCESS_KEY}:{SECRET_KEY}"}
            )
        session.put(f"{url}{path}{i:08d}", content=body).raise_for_status()

    return rate(put, total)


class Discard(io.RawIOBase):
    """A seekable file that keeps nothing: downloads measured without the disk."""

    def __init__(self) -> None:
        self.position = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset
        return offset

    def tell(self) -> int:
        return self.position

    def write(self, data: Any) -> int:
        self.position += len(data)
        return len(data)


@dataclass(frozen=True)
class Transfer:
    up: float
    #: download_file, to a file on disk.
    down: float
    #: download_fileobj into :class:`Discard`: the same ranged GETs, without the disk.
    down_discarded: float
    #: The server's peak RSS (MiB) after the upload, before the downloads.
    upload_rss: float
    #: The server's CPU seconds for the download_fileobj.
    down_cpu: float


def transfer(url: str, source: Path, target: Path, server: Server | None = None) -> Transfer:
    """upload_file, then download_file and download_fileobj of ``source``; ``server``'s
    peak RSS after the upload."""
    s3: Any = client(url)
    with contextlib.suppress(Exception):  # created by an earlier step
        s3.create_bucket(Bucket="large")
    config = TransferConfig(max_concurrency=10)
    start = time.perf_counter()
    s3.upload_file(str(source), "large", "object", Config=config)
    up = time.perf_counter() - start
    rss = server.peak_rss_mib() if server is not None else float("nan")
    start = time.perf_counter()
    s3.download_file("large", "object", str(target), Config=config)
    down = time.perf_counter() - start
    if target.stat().st_size != source.stat().st_size:
        raise SystemExit("download_file returned the wrong size")
    target.unlink()
    cpu = cpu_seconds(server) if server is not None else float("nan")
    start = time.perf_counter()
    s3.download_fileobj("large", "object", Discard(), Config=config)
    dropped = time.perf_counter() - start
    cpu = cpu_seconds(server) - cpu if server is not None else float("nan")
    return Transfer(up, down, dropped, rss, cpu)


def json_get(url: str, size: int) -> float:
    """Seconds for a JSON API GET of the large object, its bytes read and dropped."""
    headers = {"authorization": f"Bearer {ACCESS_KEY}:{SECRET_KEY}"}
    start = time.perf_counter()
    received = 0
    with httpx.stream("GET", f"{url}{API}/buckets/large/objects/object", headers=headers) as r:
        for chunk in r.iter_raw(MiB):
            received += len(chunk)
    if received != size:
        raise SystemExit("JSON API GET returned the wrong size")
    return time.perf_counter() - start


def cpu_seconds(server: Server) -> float:
    """The CPU time ``server``'s process has used (user + system)."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(server: Server, work: Callable[[], float], total: int) -> tuple[float, float]:
    """``work()``'s rate, and the server's CPU milliseconds per request while it ran."""
    before = cpu_seconds(server)
    per_second = work()
    return per_second, (cpu_seconds(server) - before) * 1000 / total


def run(size: int, small: int) -> None:
    print(f"machine: {os.cpu_count()} cores; large object {size / MiB:.0f} MiB; {THREADS} threads")
    with tempfile.TemporaryDirectory(prefix="chute-bench-s3-", dir=ROOT) as tmp:
        work = Path(tmp)
        source = work / "source.bin"
        make_file(source, size)
        base_put = baseline_put(source, work / "baseline.out")
        (work / "baseline.out").unlink()

        server = bare(work)
        try:
            bare_s3, bare_cpu = measured(server, lambda: s3_puts(server.url, small), small)
            bare_json = json_puts(server.url, small, "/bench/")
        finally:
            server.stop()

        server = moto(work)
        try:
            moto_s3, moto_cpu = measured(server, lambda: s3_puts(server.url, small), small)
            moto_big = transfer(server.url, source, work / "down.bin")
        finally:
            server.stop()

        server = chute(work, "sqlite")
        try:
            chute_s3, chute_cpu = measured(server, lambda: s3_puts(server.url, small), small)
            chute_json, json_cpu = measured(server, lambda: json_puts(server.url, small), small)
            big = transfer(server.url, source, work / "down.bin", server)
            before = cpu_seconds(server)
            get_json = min(json_get(server.url, size) for _ in range(2))
            get_json_cpu = (cpu_seconds(server) - before) / 2
        finally:
            server.stop()

        pg_s3 = pg_json = None
        pg_url = postgres_database()
        if pg_url:
            server = chute(work, "pg", pg_url)
            try:
                pg_s3 = s3_puts(server.url, small)
                pg_json = json_puts(server.url, small)
            finally:
                server.stop()
                drop_database(pg_url)

    print()
    print(f"4 KiB PutObject/s, boto3 x{THREADS}; server CPU per PUT")
    print(f"  chute S3 (SQLite)   {chute_s3:7.0f}   {chute_cpu:5.2f} ms")
    print(
        f"  moto server         {moto_s3:7.0f}   {moto_cpu:5.2f} ms"
        f"   chute/moto {chute_s3 / moto_s3:5.2f} (target >= 5);"
        f" CPU per PUT, moto/chute {moto_cpu / chute_cpu:5.2f}"
    )
    print(
        f"  bare uvicorn app    {bare_s3:7.0f}   {bare_cpu:5.2f} ms"
        f"   chute/bare {chute_s3 / bare_s3:5.2f} (target >= 0.20);"
        f" the client's own ceiling, bare/moto {bare_s3 / moto_s3:5.2f}"
    )
    if pg_s3 is not None:
        print(f"  chute S3 (PostgreSQL) {pg_s3:5.0f}")
    print(f"4 KiB PUT/s, JSON API, httpx x{THREADS}")
    print(
        f"  chute JSON (SQLite) {chute_json:7.0f}   {json_cpu:5.2f} ms   bare app {bare_json:7.0f}"
        f"   ratio {chute_json / bare_json:5.2f}"
    )
    if pg_json is not None:
        print(f"  chute JSON (PostgreSQL) {pg_json:4.0f}")
    print(f"{size / MiB:.0f} MiB upload_file / download_file, 10 threads")
    print(
        f"  PUT chute {mbps(size, big.up):7.1f} MB/s   plain Python {mbps(size, base_put):7.1f}"
        f" MB/s   ratio {base_put / big.up:5.2f} (target >= 0.60)"
        f"   moto {mbps(size, moto_big.up):6.1f} MB/s"
    )
    print(
        f"  GET chute {mbps(size, big.down_discarded):7.1f} MB/s (bytes dropped)"
        f"   JSON API GET {mbps(size, get_json):7.1f} MB/s (dropped)"
        f"   ratio {get_json / big.down_discarded:5.2f} (target >= 0.80)"
        f"   moto {mbps(size, moto_big.down_discarded):6.1f} MB/s"
    )
    print(
        f"  server CPU per GET of it: ranged GETs {big.down_cpu:5.2f} s,"
        f" JSON API GET {get_json_cpu:5.2f} s"
    )
    print(
        f"  download_file to disk: chute {mbps(size, big.down):7.1f} MB/s"
        f"   moto {mbps(size, moto_big.down):6.1f} MB/s"
    )
    print(f"  server peak RSS during the upload {big.upload_rss:.0f} MiB (target < 150)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small-puts", type=int, default=4000)
    args = parser.parse_args()
    run(args.size_mib * MiB, args.small_puts)


if __name__ == "__main__":
    main()
