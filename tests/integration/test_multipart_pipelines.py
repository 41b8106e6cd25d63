"""A completed multipart upload starts its pipeline like any upload, and steps read it:
the task lists each segment (a store location, or inline bytes), the worker reads them
one after the other. On SQLite and PostgreSQL, the test running the attempts in process."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chute.clock import FakeClock
from chute.queue.states import ObjectStatus
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from chute.worker.child import TaskRunner
from chute.worker.staging import BlobInput
from tests.context import CTX

WORKER = "test-worker"
MIN = 70_000  # above the inline limit: the big parts go to the blob store
PARTS = [os.urandom(MIN), os.urandom(MIN + 1), b"the last part is small: inline"]
WHOLE = b"".join(PARTS)


@pytest.fixture
def runtime(catalog_url: str, tmp_path: Path) -> Iterator[Runtime]:
    steps = [{"name": "copy", "processor": "copy"}, {"name": "meta", "processor": "meta.extract"}]
    settings = load_settings(
        data_dir=tmp_path,
        database_url=catalog_url,
        multipart={"min_part_size": MIN},
        pipelines={"p": {"trigger": {"bucket": "inbox", "prefix": "in/"}, "steps": steps}},
    )
    rt = open_runtime(settings, clock=FakeClock())
    yield rt
    rt.close()


def _complete(rt: Runtime, key: str) -> None:
    upload = rt.objects.create_multipart_upload(CTX, "inbox", key, content_type="text/plain")
    listed = []
    for number, data in enumerate(PARTS, 1):
        part = rt.objects.upload_part(CTX, "inbox", key, upload.id, number, [data])
        listed.append((number, part.etag, None))
    rt.objects.complete_multipart_upload(CTX, "inbox", key, upload.id, listed)


def test_a_task_lists_the_segments_of_its_source(runtime: Runtime) -> None:
    _complete(runtime, "in/big.txt")
    claimed = runtime.broker.claim(WORKER, 10, lease=30)
    assert claimed.settled == []
    task = claimed.tasks[0]
    assert (task.location, task.inline) == (None, None)
    assert [s.size for s in task.segments] == [len(p) for p in PARTS]
    assert [s.inline for s in task.segments] == [None, None, PARTS[2]]
    assert task.source.size == len(WHOLE)
    assert task.source.etag.endswith("-3")
    source = BlobInput(runtime.blobs, task.location, task.inline, task.segments)
    assert source.path() is None  # no one file holds it
    with source.open() as stream:
        assert stream.read() == WHOLE


def test_steps_process_a_multipart_upload(runtime: Runtime) -> None:
    _complete(runtime, "in/big.txt")
    runner = TaskRunner(runtime.blobs, runtime.settings.small_blob_limit)
    for _ in range(5):
        tasks = runtime.broker.claim(WORKER, 10, lease=30).tasks
        if not tasks:
            break
        for task in tasks:
            runtime.broker.record(runner.run([task]), WORKER)
    status = runtime.status.status(CTX, "inbox", "in/big.txt")
    assert status.status is ObjectStatus.SUCCEEDED
    copied = runtime.objects.open(CTX, "processed", "in/big.txt")
    assert b"".join(copied.body) == WHOLE
    meta = status.metadata
    assert meta["size"] == len(WHOLE)
    assert meta["sha256"] == hashlib.sha256(WHOLE).hexdigest()
    assert meta["errors"] == []  # no recorded SHA-256 to differ from
