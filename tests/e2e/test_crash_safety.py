"""Crash safety, on SQLite and PostgreSQL: kill -9 a worker mid-job, and kill -9 the
whole server during a stream of uploads. Every acknowledged upload ends processed
exactly once, with one set of outputs; what the kill left half written is garbage the
sweep removes, leaving no orphan blobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from chute.queue.records import JobFilter
from chute.queue.states import ObjectStatus, Outcome
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX
from tests.e2e.conftest import LiveServer, root_signer, start_server, wait_until

REPO = Path(__file__).resolve().parents[2]
UPLOADS = 200
KILL_AFTER = 60


def _config(tmp_path: Path, catalog_url: str) -> Path:
    """A chute.toml: one pipeline running ``test.once``, short leases, fast retries."""
    config = tmp_path / "chute.toml"
    config.write_text(f"""
data_dir = "{tmp_path / "data"}"
database_url = "{catalog_url}"
sweep_grace_seconds = 0

[worker]
processes = 2
lease_seconds = 1.0
poll_seconds = 0.2
drain_seconds = 5
modules = ["tests.hostile"]

[pipelines.once]
trigger = {{ bucket = "inbox" }}
[[pipelines.once.steps]]
name = "reverse"
processor = "test.once"
retry = {{ max_attempts = 5, base_delay = 0.05, jitter = false }}
""")
    return config


def _env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHUTE_")}
    return {**env, "CHUTE_CONFIG": str(config), "PYTHONPATH": str(REPO)}


@pytest.fixture
def config(tmp_path: Path, catalog_url: str) -> Path:
    return _config(tmp_path, catalog_url)


@pytest.fixture
def runtime(config: Path) -> Iterator[Runtime]:
    """The test's own view of the catalog and blobs (no workers)."""
    rt = open_runtime(load_settings(config), sweep=False)
    yield rt
    rt.close()


def _worker(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "chute", "worker", "--config", str(config)],
        env=_env(config),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _attempts(rt: Runtime, key: str) -> list[Outcome]:
    found = rt.status.status(CTX, "inbox", key)
    return [a.outcome for view in found.runs for runs in view.attempts.values() for a in runs]


def test_a_worker_killed_mid_job_is_replaced_and_the_job_completes_once(
    runtime: Runtime, config: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    body = f"hang-first:{marker}".encode()
    runtime.objects.put(CTX, "inbox", "x", [body])
    first = _worker(config)
    try:
        wait_until(marker.exists, timeout=30)
        # The attempt counts as lost once its worker has reported it started.
        (job,) = runtime.status.jobs(CTX, JobFilter()).jobs
        wait_until(lambda: runtime.status.job(CTX, job.id)[0].started_at is not None)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    second = _worker(config)
    try:
        wait_until(
            lambda: runtime.status.status(CTX, "inbox", "x").status is ObjectStatus.SUCCEEDED,
            timeout=30,
        )
    finally:
        second.terminate()
        assert second.wait(timeout=30) == 0  # drained cleanly
    assert _attempts(runtime, "x") == [Outcome.LOST, Outcome.SUCCEEDED]
    outputs = runtime.objects.list_objects(CTX, "processed").objects
    assert [o.key for o in outputs] == ["x.out"]
    assert b"".join(runtime.objects.open(CTX, "processed", "x.out").body) == body[::-1]


def _uploads(
    server: LiveServer, acked: dict[str, bytes], start: int, stop: int, kill_at: int | None
) -> None:
    """PUT objects ``start..stop``; kill -9 the server after ``kill_at`` acks."""
    with httpx.Client(base_url=server.url + "/_/api/v1", timeout=10, auth=root_signer()) as client:
        for index in range(start, stop):
            key = f"k{index:03d}"
            body = os.urandom(100_000) if index % 2 else os.urandom(1000)
            try:
                answer = client.put(f"/buckets/inbox/objects/{key}", content=body)
            except httpx.TransportError:
                return
            if answer.status_code != 200:
                return
            acked[key] = body
            if kill_at is not None and len(acked) == kill_at:
                server.process.send_signal(signal.SIGKILL)


def test_a_server_killed_during_uploads_loses_nothing_and_repeats_nothing(
    config: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    acked: dict[str, bytes] = {}
    env: dict[str, str | None] = {"CHUTE_CONFIG": str(config), "PYTHONPATH": str(REPO)}
    server = start_server(data, env)
    uploader = threading.Thread(target=_uploads, args=(server, acked, 0, UPLOADS, KILL_AFTER))
    uploader.start()
    uploader.join()
    server.process.wait()
    assert server.process.returncode == -signal.SIGKILL
    sent = len(acked)
    restarted = datetime.now(UTC)
    rt = open_runtime(load_settings(config), sweep=False)
    try:
        with start_server(data, env) as server:
            _uploads(server, acked, sent + 1, UPLOADS + 1, None)
            wait_until(lambda: _all_done(rt, acked), timeout=120)
        assert server.process.returncode == 0  # drained: nothing runs any more
        # What the kill left half done (uploads stored but not committed, outputs staged
        # but not recorded) is garbage, which the sweep removes once it is older than the
        # longest step could run. Remove it now, and only it (what was written before the
        # restart), then check that it was garbage indeed (every output still reads back)
        # and that the restarted server left none of its own.
        rt.objects.sweep(CTX, datetime.now(UTC) - restarted)
        _check_exactly_once(rt, acked)
    finally:
        rt.close()
    assert len(acked) >= UPLOADS - 1


def _all_done(rt: Runtime, acked: dict[str, bytes]) -> bool:
    """Whether every object in ``inbox`` has been processed: the acknowledged uploads,
    and any upload the kill cut off after it committed."""
    inbox = [o.key for o in rt.objects.list_objects(CTX, "inbox", max_keys=1000).objects]
    return set(acked) <= set(inbox) and all(
        rt.status.status(CTX, "inbox", key).status is ObjectStatus.SUCCEEDED for key in inbox
    )


def _check_exactly_once(rt: Runtime, acked: dict[str, bytes]) -> None:
    outputs = {o.key: o for o in rt.objects.list_objects(CTX, "processed", max_keys=1000).objects}
    for key, body in acked.items():
        found = rt.status.status(CTX, "inbox", key)
        assert len(found.runs) == 1, key
        assert _attempts(rt, key).count(Outcome.SUCCEEDED) == 1, key
        assert b"".join(rt.objects.open(CTX, "processed", f"{key}.out").body) == body[::-1]
    # Outputs of uploads that committed without an answer (the one in flight at the kill)
    # are legitimate; anything else would be an orphan.
    inbox = {o.key for o in rt.objects.list_objects(CTX, "inbox", max_keys=1000).objects}
    assert set(outputs) == {f"{key}.out" for key in inbox}
    _check_no_orphan_blobs(rt)


def _check_no_orphan_blobs(rt: Runtime) -> None:
    stored = [blob.blob_id for blob in rt.blobs.list()]
    with rt.catalog.read() as session:
        used = session.blobs.in_use(stored)
    assert set(stored) == used
