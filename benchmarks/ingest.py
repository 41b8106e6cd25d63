"""Ingest benchmark: large PUT and GET throughput, small-PUT rate, server memory.

Every figure is printed next to a baseline measured in the same run on the same machine:

* large PUT (1 GiB by default) through the JSON API, against reading the same bytes,
  computing MD5 and SHA-256 and writing + fsyncing them with plain Python file I/O;
* large GET, against a bare Starlette ``FileResponse`` serving the same file to the same
  client;
* 4 KiB PUTs per second from 16 concurrent keep-alive clients, on SQLite and (if it is
  reachable) PostgreSQL;
* the server's peak RSS (VmHWM) after the large upload.

Run: ``.venv/bin/python benchmarks/ingest.py [--size-mib 1024] [--small-puts 6000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
API = "/_/api/v1"
CHUNK = 1024 * 1024
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: The root key the benchmark's servers start with; requests carry it in the bearer form.
ROOT_KEY, ROOT_SECRET = "CKBENCHMARKROOT00001", "benchmark-root-secret-00000000000000000000"
AUTH_HEADER = f"Authorization: Bearer {ROOT_KEY}:{ROOT_SECRET}\r\n"
AUTH = {"authorization": f"Bearer {ROOT_KEY}:{ROOT_SECRET}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


class Server:
    """A server process on a free loopback port, stopped on exit."""

    def __init__(self, args: list[str], env: dict[str, str], health: str, log: Path) -> None:
        self.port = free_port()
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("wb")
        full_env = {**os.environ, **env, "CHUTE_ADDRESS": f"127.0.0.1:{self.port}"}
        command = [sys.executable, *args]
        if "uvicorn" in args:
            command += ["--port", str(self.port)]
        elif "moto.server" in args:
            command += ["-p", str(self.port)]
        self.process = subprocess.Popen(
            command,
            env=full_env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(self.url + health, self.process)

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def chute_server(
    data_dir: Path, database_url: str | None = None, extra: dict[str, str] | None = None
) -> Server:
    env = {
        "CHUTE_DATA_DIR": str(data_dir),
        "CHUTE_LOG_LEVEL": "warning",
        "CHUTE_ROOT_ACCESS_KEY": ROOT_KEY,
        "CHUTE_ROOT_SECRET_KEY": ROOT_SECRET,
        **(extra or {}),
    }
    if database_url:
        env["CHUTE_DATABASE_URL"] = database_url
    return Server(["-m", "chute", "serve"], env, f"{API}/health", data_dir.parent / "chute.log")


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as f:
        for offset in range(0, size, CHUNK):
            f.write(os.urandom(min(CHUNK, size - offset)))


def baseline_put(source: Path, target: Path) -> float:
    """Seconds to read, MD5 + SHA-256 and write + fsync the file with plain Python."""
    start = time.perf_counter()
    md5, sha = hashlib.md5(), hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with source.open("rb", buffering=0) as src, target.open("wb", buffering=0) as dst:
        while n := src.readinto(buffer):
            md5.update(view[:n])
            sha.update(view[:n])
            dst.write(view[:n])
        os.fsync(dst.fileno())
    return time.perf_counter() - start


def http_put_file(url: str, path: str, source: Path) -> float:
    """Seconds to PUT the file with ``sendfile`` (the cheapest possible client)."""
    host, port = url.removeprefix("http://").split(":")
    size = source.stat().st_size
    head = f"PUT {path} HTTP/1.1\r\nHost: {host}\r\n{AUTH_HEADER}Content-Length: {size}\r\n\r\n"
    start = time.perf_counter()
    with socket.create_connection((host, int(port))) as sock, source.open("rb") as f:
        sock.sendall(head.encode())
        sock.sendfile(f)
        response = read_response(sock)
    elapsed = time.perf_counter() - start
    if not response.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"PUT failed: {response[:300]!r}")
    return elapsed


def http_get(url: str, path: str, expected: int) -> float:
    """Seconds to GET ``path`` and read ``expected`` body bytes into a reused buffer."""
    host, port = url.removeprefix("http://").split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{AUTH_HEADER}\r\n".encode()
    buffer = bytearray(4 * CHUNK)
    start = time.perf_counter()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request)
        received = 0
        header_end = -1
        head = b""
        while header_end < 0:
            n = sock.recv_into(buffer)
            head += bytes(buffer[:n])
            header_end = head.find(b"\r\n\r\n")
        received = len(head) - header_end - 4
        while received < expected:
            n = sock.recv_into(buffer)
            if n == 0:
                raise SystemExit("GET ended early")
            received += n
    return time.perf_counter() - start


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


async def small_puts(url: str, bucket: str, total: int, clients: int = 16) -> float:
    """PUTs per second of 4 KiB objects from ``clients`` keep-alive connections."""
    host, port = url.removeprefix("http://").split(":")
    body = os.urandom(4096)
    counter = iter(range(total))

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        for i in counter:
            head = (
                f"PUT {API}/buckets/{bucket}/objects/small/{i:08d} HTTP/1.1\r\n"
                f"Host: {host}\r\n{AUTH_HEADER}Content-Length: 4096\r\n\r\n"
            ).encode()
            writer.write(head + body)
            status = await reader.readline()
            if b" 200 " not in status:
                raise SystemExit(f"small PUT failed: {status!r}")
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
        writer.close()
        await writer.wait_closed()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return total / (time.perf_counter() - start)


def postgres_database() -> str | None:
    """A fresh PostgreSQL database URL, or ``None`` when PostgreSQL is not reachable."""
    try:
        admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        name = f"chute_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
    except Exception as exc:  # report and carry on with SQLite only
        print(f"PostgreSQL not available ({exc.__class__.__name__}); skipping it")
        return None
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    admin = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')
    admin.dispose()


def mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def run(size: int, small: int) -> None:
    print(f"machine: {os.cpu_count()} cores; object size {size / 2**20:.0f} MiB")
    with tempfile.TemporaryDirectory(prefix="chute-bench-", dir=ROOT) as tmp:
        work = Path(tmp)
        source = work / "source.bin"
        make_file(source, size)

        base = baseline_put(source, work / "baseline.out")
        (work / "baseline.out").unlink()
        server = chute_server(work / "sqlite" / "data")
        try:
            httpx.put(f"{server.url}{API}/buckets/bench", headers=AUTH)
            put = http_put_file(server.url, f"{API}/buckets/bench/objects/large", source)
            rss = server.peak_rss_mib()
            get = min(
                http_get(server.url, f"{API}/buckets/bench/objects/large", size) for _ in range(3)
            )
            rate_sqlite = asyncio.run(small_puts(server.url, "bench", small))
        finally:
            server.stop()

        files = Server(
            ["-m", "uvicorn", "benchmarks.file_app:app", "--log-level", "warning"],
            {"BENCH_FILE": str(source)},
            "/file",
            work / "file_app.log",
        )
        try:
            get_base = min(http_get(files.url, "/file", size) for _ in range(3))
        finally:
            files.stop()

        # The same small PUTs with every object in the blob store (a file and two fsyncs
        # each) instead of the catalog.
        server = chute_server(work / "files" / "data", extra={"CHUTE_SMALL_BLOB_LIMIT": "0"})
        try:
            httpx.put(f"{server.url}{API}/buckets/bench", headers=AUTH)
            rate_files = asyncio.run(small_puts(server.url, "bench", small))
        finally:
            server.stop()

        rate_pg = None
        pg_url = postgres_database()
        if pg_url:
            server = chute_server(work / "pg" / "data", pg_url)
            try:
                httpx.put(f"{server.url}{API}/buckets/bench", headers=AUTH)
                rate_pg = asyncio.run(small_puts(server.url, "bench", small))
            finally:
                server.stop()
                drop_database(pg_url)

    print()
    print(
        f"large PUT   chute {mbps(size, put):8.1f} MB/s   baseline (read+md5+sha256+write+fsync)"
        f" {mbps(size, base):8.1f} MB/s   ratio {base / put:5.2f} (target >= 0.70)"
    )
    print(
        f"large GET   chute {mbps(size, get):8.1f} MB/s   baseline (Starlette FileResponse)"
        f"      {mbps(size, get_base):8.1f} MB/s   ratio {get_base / get:5.2f} (target >= 0.80)"
    )
    print(f"4 KiB PUTs  sqlite {rate_sqlite:7.0f} /s (target >= 1000), 16 clients")
    print(f"4 KiB PUTs  sqlite, small_blob_limit=0 (blob files) {rate_files:7.0f} /s")
    if rate_pg is not None:
        print(f"4 KiB PUTs  postgresql {rate_pg:7.0f} /s, 16 clients")
    print(f"server peak RSS during the run: {rss:.0f} MiB (target < 150)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small-puts", type=int, default=6000)
    args = parser.parse_args()
    run(args.size_mib * 2**20, args.small_puts)


if __name__ == "__main__":
    main()
