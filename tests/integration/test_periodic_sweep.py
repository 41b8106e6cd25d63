"""A running Chute sweeps its blob store now and then: what a killed attempt or a
cut-off upload left behind goes, what an object version uses stays."""

from __future__ import annotations

import threading
from pathlib import Path

from chute.config import load_settings
from chute.runtime import open_runtime
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
