"""Tasks and results cross the pipe as compact pickles, every field intact."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from chute.jobs import Result, SourceObject, SourceSegment, StagedOutput, Task
from chute.queue.states import Outcome


def test_a_task_survives_the_pipe():
    source = SourceObject("inbox", "a/b.jpg", "v1", 10, "etag", "sha", "image/jpeg", {"k": "v"})
    task = Task(
        7, 2, "notify", "images", "thumb", "image.thumbnail", {"sizes": [160]},
        "{stem}.webp", 30.0, 256, source, '{"eventName": "x"}', "blob-1", b"bytes",
        payload={"url": "http://h"},
    )  # fmt: skip
    assert pickle.loads(pickle.dumps(task)) == task


def test_a_result_with_outputs_survives_the_pipe():
    output = StagedOutput("k", "image/webp", 3, "md5", "sha", "blob-2", b"abc", {"m": "1"})
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    result = Result(
        7, 2, Outcome.RETRY, moment, moment, "error", "traceback", 1.5,
        [output], {"width": 3}, {"rows": 1},
    )  # fmt: skip
    again = pickle.loads(pickle.dumps(result))
    assert again == result
    assert again.outputs[0] == output


def test_compact_pickles_carry_values_not_field_names():
    result = Result(1, 1, Outcome.SUCCEEDED, datetime.now(UTC), datetime.now(UTC))
    assert b"job_id" not in pickle.dumps(result)


def test_a_task_with_segments_survives_the_pipe():
    source = SourceObject("inbox", "big.bin", "v1", 13, "etag-2", "", "application/x")
    segments = (SourceSegment("blob-1", 10, "blob-1"), SourceSegment("blob-2", 3, None, b"end"))
    task = Task(
        7, 1, "step", "p", "s", "copy", {}, "{key}", 30.0, 256, source, "{}", None,
        segments=segments,
    )  # fmt: skip
    again = pickle.loads(pickle.dumps(task))
    assert again == task
    assert again.segments[1].inline == b"end"
