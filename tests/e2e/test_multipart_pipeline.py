"""An image uploaded in parts triggers its pipeline, and real worker processes read it
segment after segment: thumbnails and metadata as for an image put in one piece."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips

from chute.queue.states import ObjectStatus
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX
from tests.e2e.conftest import wait_until

PART = 16 * 1024


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    steps = [
        {"name": "thumb", "processor": "image.thumbnail", "options": {"sizes": [{"width": 64}]}},
        {"name": "meta", "processor": "meta.extract"},
    ]
    settings = load_settings(
        data_dir=tmp_path,
        small_blob_limit=8 * 1024,  # the big parts in the store, the last one inline
        multipart={"min_part_size": PART},
        pipelines={"photos": {"trigger": {"bucket": "inbox", "prefix": "photos/"}, "steps": steps}},
        worker={"processes": 1, "poll_seconds": 0.2},
    )
    rt = open_runtime(settings)
    rt.start_workers()
    yield rt
    rt.close(grace=0)


def test_a_multipart_image_is_processed(runtime: Runtime) -> None:
    noise = pyvips.Image.gaussnoise(600, 400, sigma=40, mean=128).cast("uchar")
    jpeg = bytes(noise.bandjoin([noise, noise]).copy(interpretation="srgb").jpegsave_buffer(Q=95))
    assert len(jpeg) > 3 * PART  # several parts
    pieces = [jpeg[i : i + PART] for i in range(0, len(jpeg), PART)]

    key = "photos/big.jpg"
    upload = runtime.objects.create_multipart_upload(CTX, "inbox", key, content_type="image/jpeg")
    listed = []
    for number, piece in enumerate(pieces, 1):
        part = runtime.objects.upload_part(CTX, "inbox", key, upload.id, number, [piece])
        listed.append((number, part.etag, None))
    version = runtime.objects.complete_multipart_upload(CTX, "inbox", key, upload.id, listed)
    assert version.parts_count == len(pieces)

    def settled() -> bool:
        found = runtime.status.status(CTX, "inbox", key).status
        return found in (ObjectStatus.SUCCEEDED, ObjectStatus.DEAD)

    wait_until(settled, timeout=60)
    status = runtime.status.status(CTX, "inbox", key)
    assert status.status is ObjectStatus.SUCCEEDED, status
    outputs = [output.key for run in status.runs for output in run.outputs]
    assert outputs == ["photos/big/thumb-64.jpg"]
    thumb = b"".join(runtime.objects.open(CTX, "processed", outputs[0]).body)
    assert pyvips.Image.new_from_buffer(thumb, "").width == 64
    assert status.metadata["mime"] == "image/jpeg"
    assert status.metadata["image"]["width"] == 600
    assert status.metadata["sha256"] == hashlib.sha256(jpeg).hexdigest()
