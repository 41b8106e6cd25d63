"""Memory does not grow with object size: a 256 MiB upload and download through the JSON
API leave the server's peak resident memory far below the object's size."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import httpx

from tests.e2e.conftest import ROOT_AUTH, ROOT_AUTH_LINE, start_server

API = "/_/api/v1"
SIZE = 256 * 2**20
LIMIT_MIB = 150


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def test_large_upload_and_download_in_bounded_memory(tmp_path: Path) -> None:
    source = tmp_path / "large.bin"
    digest = hashlib.sha256()
    with source.open("wb") as f:
        for _ in range(SIZE // 2**20):
            block = os.urandom(2**20)
            digest.update(block)
            f.write(block)
    with start_server(tmp_path / "data") as server:
        httpx.put(f"{server.url}{API}/buckets/big", headers=ROOT_AUTH)
        head = (
            f"PUT {API}/buckets/big/objects/large HTTP/1.1\r\nHost: x\r\n{ROOT_AUTH_LINE}"
            f"Connection: close\r\nContent-Length: {SIZE}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port)) as sock, source.open("rb") as f:
            sock.sendall(head)
            sock.sendfile(f)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        received = hashlib.sha256()
        url = f"{server.url}{API}/buckets/big/objects/large"
        with httpx.stream("GET", url, headers=ROOT_AUTH) as response:
            for chunk in response.iter_bytes(2**20):
                received.update(chunk)
        assert received.hexdigest() == digest.hexdigest()
        assert peak_rss_mib(server.process.pid) < LIMIT_MIB
