"""A running Chute sweeps its blob store now and then: what a killed attempt or a
cut-off upload left behind goes, what an object version uses stays."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from chute.clock import FakeClock
from chute.jobs import staging_prefix
from chute.runtime import open_runtime
from chute.settings import load_settings
from tests.context import CTX
from tests.e2e.conftest import wait_until
from tests.registry import cut_off_write


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
        kept = rt.objects.put(CTX, "inbox", "kept.txt", [b"referenced"])
        orphan = cut_off_write(rt.objects, b"an upload whose process died before it committed")
        rt.start_upkeep()

        wait_until(lambda: orphan.blob_id not in {b.blob_id for b in rt.blobs.list()})
        assert {b.blob_id for b in rt.blobs.list()} == {kept.blob_id}
    finally:
        rt.close()


def test_no_interval_sweeps_on_start_only(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, sweep_interval_seconds=0)
    rt = open_runtime(settings)
    try:
        upkeep = rt.start_upkeep()
        assert [chore.name for chore in upkeep.chores] == [
            "retention",
            "multipart-expiry",
            "sqs-retention",
        ]
    finally:
        rt.close()


def test_expired_multipart_uploads_are_aborted_while_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        buckets=["inbox"],
        small_blob_limit=0,
        sweep_interval_seconds=0,
        multipart={"abort_after_seconds": 3600, "interval_seconds": 0.05},
    )
    clock = FakeClock()
    rt = open_runtime(settings, clock=clock)
    try:
        old = rt.objects.create_multipart_upload(CTX, "inbox", "old.bin")
        rt.objects.upload_part(CTX, "inbox", "old.bin", old.id, 1, [b"a part"])
        clock.advance(7200)
        young = rt.objects.create_multipart_upload(CTX, "inbox", "young.bin")
        with caplog.at_level(logging.INFO, logger="chute.runtime"):
            rt.start_upkeep()
            wait_until(lambda: len(rt.objects.list_multipart_uploads(CTX, "inbox").uploads) == 1)
            wait_until(lambda: "aborted 1 multipart uploads" in caplog.text)
        assert rt.objects.list_multipart_uploads(CTX, "inbox").uploads == [young]
        assert list(rt.blobs.list()) == []
    finally:
        rt.close()


def test_uploads_never_expire_when_told_so(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, multipart={"abort_after_seconds": 0})
    rt = open_runtime(settings)
    try:
        assert "multipart-expiry" not in [chore.name for chore in rt.start_upkeep().chores]
    finally:
        rt.close()


def test_what_unanswered_attempts_staged_goes_once_no_step_could_still_run(
    tmp_path: Path,
) -> None:
    # A step may run for two hours: an attempt that began an hour ago may still be
    # staging (its worker lost the lease, not its process); one of three hours ago not.
    step = {"name": "slow", "processor": "noop", "timeout_seconds": 7200}
    settings = load_settings(
        data_dir=tmp_path,
        sweep_grace_seconds=0,
        pipelines={"slow": {"trigger": {"bucket": "inbox"}, "steps": [step]}},
    )
    rt = open_runtime(settings)
    ages = {"an hour": 3600, "three hours": 3 * 3600}
    staged = {}
    for attempt, (name, age) in enumerate(ages.items(), start=1):
        prefix = staging_prefix(1, attempt)
        with rt.blobs.open_write(prefix) as writer:
            writer.write(name.encode())
            staged[name] = writer.commit().blob_id
        with rt.catalog.write() as session:
            session.blobs.add_leftovers([prefix], rt.clock() - timedelta(seconds=age))
    rt.close()

    rt = open_runtime(settings)  # sweeps on start
    try:
        left = {b.blob_id for b in rt.blobs.list()}
    finally:
        rt.close()
    assert left == {staged["an hour"]}


def test_what_an_attempt_killed_by_a_drain_staged_is_swept(tmp_path: Path) -> None:
    from chute.queue.states import ObjectStatus

    step = {"name": "s", "processor": "test.stage_then_wait"}
    settings = load_settings(
        data_dir=tmp_path / "data",
        pipelines={"p": {"trigger": {"bucket": "inbox"}, "steps": [step]}},
        sweep_grace_seconds=0,
        worker={"processes": 1, "modules": ["tests.hostile"], "poll_seconds": 0.2},
    )
    rt = open_runtime(settings)
    try:
        pool = rt.start_workers()
        rt.objects.put(CTX, "inbox", "x", [str(tmp_path).encode()])
        wait_until((tmp_path / "started").exists, timeout=30)
        pool.stop(grace=0)  # drained past drain_seconds: the attempt is killed, released
        rt.pools.clear()
        (tmp_path / "release").write_text("")
        rt.start_workers()  # the next claim stages its output under a prefix of its own
        wait_until(lambda: rt.status.status(CTX, "inbox", "x").status is ObjectStatus.SUCCEEDED)
    finally:
        rt.close()
    rt = open_runtime(settings)
    try:
        rt.objects.sweep(CTX, timedelta(0))  # as if no step could still be running
        stored = {blob.blob_id for blob in rt.blobs.list()}
        with rt.catalog.read() as session:
            assert stored == session.blobs.in_use(stored)  # only the recorded output
        assert b"".join(rt.objects.open(CTX, "processed", "x.out").body) == b"x" * 200 * 1024
    finally:
        rt.close()
