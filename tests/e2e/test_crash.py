"""A server killed mid-upload: on restart nothing half-written is visible, and the sweep
removes what the dead process left on disk."""

from __future__ import annotations

import os
import signal
import socket
import uuid
from pathlib import Path

import httpx

from chute.catalog import Catalog
from chute.clock import system_clock
from tests.e2e.conftest import ROOT_AUTH, ROOT_AUTH_LINE, start_server, wait_until

API = "/_/api/v1"


def blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


def test_kill_during_upload_then_restart(tmp_path: Path) -> None:
    env = {"CHUTE_SWEEP_GRACE_SECONDS": "0"}
    server = start_server(tmp_path / "data", env=env)
    data_dir = Path(server.data_dir)
    with httpx.Client(base_url=server.url + API, headers=ROOT_AUTH) as client:
        client.put("/buckets/crash")
        kept = client.put("/buckets/crash/objects/kept", content=b"acknowledged").json()
        large = os.urandom(300 * 1024)  # above the small-blob limit: a blob file
        client.put("/buckets/crash/objects/kept-large", content=large)

    sock = socket.create_connection(("127.0.0.1", server.port))
    size = 64 * 2**20
    sock.sendall(
        f"PUT {API}/buckets/crash/objects/torn HTTP/1.1\r\nHost: x\r\n{ROOT_AUTH_LINE}"
        f"Content-Length: {size}\r\n\r\n".encode()
    )
    sock.sendall(os.urandom(8 * 2**20))
    partial = data_dir / "blobs" / ".partial"
    wait_until(lambda: any(p.stat().st_size > 0 for p in partial.glob("*")))
    # A blob registered and committed by a process that died before the catalog commit
    # of its version: an orphan. (Files the registry never heard of are not Chute's.)
    orphan_id = "abcd" + uuid.uuid4().hex[4:]
    catalog = Catalog(f"sqlite:///{data_dir / 'catalog.db'}")
    catalog.run_write(lambda s: s.blobs.reserve(orphan_id, orphan_id, system_clock()))
    catalog.close()
    orphan = data_dir / "blobs" / "ab" / "cd" / orphan_id
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"never recorded")

    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    sock.close()
    server.stop()

    restarted = start_server(tmp_path / "data", env=env)
    try:
        with httpx.Client(base_url=restarted.url + API, headers=ROOT_AUTH) as client:
            torn = client.get("/buckets/crash/objects/torn")
            assert (torn.status_code, torn.json()["code"]) == (404, "NoSuchKey")
            assert client.get("/buckets/crash/objects/kept").content == b"acknowledged"
            assert client.get("/buckets/crash/objects/kept-large").content == large
            events = client.get("/events", params={"bucket": "crash"}).json()["events"]
            keys = [e["record"]["s3"]["object"]["key"] for e in events]
            assert keys == ["kept", "kept-large"]
        assert not orphan.exists()
        assert list(partial.glob("*")) == []
        # The small acknowledged object lives in the catalog; the one blob file left is
        # the large acknowledged object's.
        assert kept["size"] == len(b"acknowledged")
        assert [p.read_bytes() == large for p in blob_files(data_dir)] == [True]
    finally:
        restarted.stop()
