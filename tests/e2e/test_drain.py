"""Draining a worker pool (what SIGTERM does): running jobs finish within the grace
period, or are released, unharmed, for another worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from chute.queue.states import JobState, ObjectStatus
from chute.runtime import open_runtime
from chute.settings import load_settings
from tests.context import CTX
from tests.e2e.conftest import ROOT_AUTH, start_server, wait_until

REPO = Path(__file__).resolve().parents[2]


def _runtime(tmp_path: Path):
    pipelines = {
        "wait": {"trigger": {"bucket": "inbox"}, "steps": [{"name": "w", "processor": "test.wait"}]}
    }
    settings = load_settings(
        data_dir=tmp_path / "data",
        pipelines=pipelines,
        worker={"processes": 1, "modules": ["tests.hostile"], "poll_seconds": 0.2},
    )
    return open_runtime(settings)


def test_a_running_job_finishes_within_the_grace_period(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    pool = rt.start_workers()
    rt.objects.put(CTX, "inbox", "x", [str(tmp_path).encode()])
    wait_until((tmp_path / "started").exists, timeout=30)
    stopping = threading.Thread(target=pool.stop, kwargs={"grace": 60})
    stopping.start()
    (tmp_path / "release").write_text("")
    stopping.join()
    assert rt.status.status(CTX, "inbox", "x").status is ObjectStatus.SUCCEEDED
    rt.pools.clear()
    rt.close()


def test_a_job_still_running_after_the_grace_period_is_released(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    pool = rt.start_workers()
    rt.objects.put(CTX, "inbox", "x", [str(tmp_path).encode()])
    wait_until((tmp_path / "started").exists, timeout=30)
    pool.stop(grace=0)
    rt.pools.clear()
    found = rt.status.status(CTX, "inbox", "x")
    (job,) = found.runs[0].jobs
    assert (job.state, job.attempt) == (JobState.AVAILABLE, 0)
    assert found.status is ObjectStatus.PENDING
    # Another worker takes it over and finishes it.
    (tmp_path / "started").unlink()
    (tmp_path / "release").write_text("")
    rt.start_workers()
    wait_until(lambda: rt.status.status(CTX, "inbox", "x").status is ObjectStatus.SUCCEEDED, 30)
    rt.close()


def _config(tmp_path: Path) -> Path:
    """A chute.toml: one worker process, one pipeline running ``test.wait``."""
    config = tmp_path / "chute.toml"
    config.write_text(f"""
data_dir = "{tmp_path / "data"}"
[worker]
processes = 1
poll_seconds = 0.2
modules = ["tests.hostile"]
[pipelines.wait]
trigger = {{ bucket = "inbox" }}
steps = [{{ name = "w", processor = "test.wait" }}]
""")
    return config


def test_ctrl_c_drains_a_worker_instead_of_killing_its_jobs(tmp_path: Path) -> None:
    """Ctrl-C signals the whole process group; the worker processes ignore it, and the
    pool lets the running job finish."""
    config = _config(tmp_path)
    rt = open_runtime(load_settings(config), sweep=False)
    rt.objects.put(CTX, "inbox", "x", [str(tmp_path).encode()])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHUTE_")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "chute", "worker", "--config", str(config)],
        env={**env, "PYTHONPATH": str(REPO)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until((tmp_path / "started").exists, timeout=30)
        os.killpg(worker.pid, signal.SIGINT)
        (tmp_path / "release").write_text("")
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert rt.status.status(CTX, "inbox", "x").status is ObjectStatus.SUCCEEDED
    rt.close()


def test_sigterm_drains_chute_serve_and_it_exits_cleanly(tmp_path: Path) -> None:
    """A service manager stops ``chute serve`` with SIGTERM: the API stops, the running
    job finishes within the grace period, and the process exits with status 0."""
    config = _config(tmp_path)
    env: dict[str, str | None] = {"CHUTE_CONFIG": str(config), "PYTHONPATH": str(REPO)}
    with start_server(tmp_path / "data", env) as server:
        answer = httpx.put(
            server.url + "/_/api/v1/buckets/inbox/objects/x",
            content=str(tmp_path).encode(),
            headers=ROOT_AUTH,
        )
        assert answer.status_code == 200
        wait_until((tmp_path / "started").exists, timeout=30)
        server.process.send_signal(signal.SIGTERM)
        (tmp_path / "release").write_text("")
        assert server.process.wait(timeout=30) == 0, server.log()
    rt = open_runtime(load_settings(config), sweep=False)
    try:
        assert rt.status.status(CTX, "inbox", "x").status is ObjectStatus.SUCCEEDED
    finally:
        rt.close()
