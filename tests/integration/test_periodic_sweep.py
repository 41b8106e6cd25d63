"""A running Chute sweeps its blob store now and then: what a killed attempt or a
cut-off upload left behind goes, what an object version uses stays."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from chute.runtime import open_runtime
from chute.settings import load_settings
from tests.e2e.conftest import wait_until


def test_orphans_are_swept_while_running(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        buckets=["inbox"],
        sweep_grace_seconds=0,
        sweep_interval_seconds=0.05,
        small_blob_limit=0,
    )
    rt = open_runtime(settings)
    try:
        kept = rt.objects.put("inbox", "kept.txt", [b"referenced"])
        with rt.blobs.open_write() as writer:
            writer.write(b"staged by an attempt that was killed")
            orphan = writer.commit()
        rt.start_sweeping()

        wait_until(lambda: orphan.blob_id not in {b.blob_id for b in rt.blobs.list()})
        assert {b.blob_id for b in rt.blobs.list()} == {kept.blob_id}
    finally:
        rt.close()


def test_no_interval_sweeps_on_start_only(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, sweep_interval_seconds=0)
    rt = open_runtime(settings)
    try:
        rt.start_sweeping()
        assert "chute-sweep" not in {thread.name for thread in threading.enumerate()}
    finally:
        rt.close()


def test_outputs_staged_by_a_step_still_running_are_kept(tmp_path: Path) -> None:
    # A step may run for two hours: what it staged an hour ago may still be recorded.
    step = {"name": "slow", "processor": "noop", "timeout_seconds": 7200}
    settings = load_settings(
        data_dir=tmp_path,
        sweep_grace_seconds=0,
        pipelines={"slow": {"trigger": {"bucket": "inbox"}, "steps": [step]}},
    )
    rt = open_runtime(settings)
    ages = {"an hour": 3600, "three hours": 3 * 3600}
    staged = {}
    for name, age in ages.items():
        with rt.blobs.open_write() as writer:
            writer.write(name.encode())
            staged[name] = writer.commit().blob_id
        path = rt.blobs.local_path(staged[name])
        assert path is not None
        then = time.time() - age
        os.utime(path, (then, then))
    rt.close()

    rt = open_runtime(settings)  # sweeps on start
    try:
        left = {b.blob_id for b in rt.blobs.list()}
    finally:
        rt.close()
    assert left == {staged["an hour"]}
