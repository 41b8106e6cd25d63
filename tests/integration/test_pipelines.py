"""The queue and pipeline service on SQLite and PostgreSQL, with the test as the worker:
claims, fencing, retries on a fake clock, dead letters, redrive, joins, outputs,
lineage, leases, and the outbox guarantee."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chute.catalog import Versioning
from chute.clock import FakeClock
from chute.errors import InvalidArgument, NoSuchBucket, NoSuchKey, NoSuchVersion
from chute.jobs import Result, StagedOutput, Task, staging_prefix
from chute.pipelines.control import Reprocessed
from chute.queue.records import JobFilter
from chute.queue.states import JobState, ObjectStatus, Outcome, RunState
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX

WORKER = "test-worker"


def _pipelines(**extra: Any) -> dict[str, Any]:
    steps = [
        {
            "name": "a",
            "processor": "noop",
            "retry": {"max_attempts": 3, "base_delay": 10, "jitter": False},
        },
        {"name": "b", "processor": "noop"},
        {"name": "join", "processor": "noop", "needs": ["a", "b"]},
    ]
    return {"p": {"trigger": {"bucket": "inbox", "prefix": "in/"}, "steps": steps, **extra}}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(catalog_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=_pipelines())
    rt = open_runtime(settings, clock=clock)
    yield rt
    rt.close()


def _claim(rt: Runtime, limit: int = 10) -> list[Task]:
    claimed = rt.broker.claim(WORKER, limit, lease=30)
    assert claimed.settled == []
    return claimed.tasks


def _ok(task: Task, clock: FakeClock, **fields: Any) -> Result:
    return Result(task.job_id, task.attempt, Outcome.SUCCEEDED, clock(), clock(), **fields)


def _failed(task: Task, clock: FakeClock, outcome: Outcome = Outcome.FAILED) -> Result:
    return Result(task.job_id, task.attempt, outcome, clock(), clock(), error="boom")


def _status(rt: Runtime, key: str = "in/x.txt") -> ObjectStatus:
    return rt.status.status(CTX, "inbox", key).status


def test_an_upload_commits_its_jobs_and_steps_wait_for_their_needs(runtime, clock):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    assert _status(runtime) is ObjectStatus.PENDING
    tasks = _claim(runtime)
    assert sorted(t.step for t in tasks) == ["a", "b"]  # join is blocked
    assert _claim(runtime) == []
    assert tasks[0].inline == b"hello"
    assert tasks[0].source.key == "in/x.txt"
    assert json.loads(tasks[0].event_json)["eventName"] == "ObjectCreated:Put"
    assert _status(runtime) is ObjectStatus.PROCESSING

    runtime.broker.record([_ok(tasks[0], clock)], WORKER)
    assert _claim(runtime) == []  # the join needs both
    runtime.broker.record([_ok(tasks[1], clock)], WORKER)
    (join,) = _claim(runtime)
    assert join.step == "join"
    runtime.broker.record([_ok(join, clock)], WORKER)
    found = runtime.status.status(CTX, "inbox", "in/x.txt")
    assert found.status is ObjectStatus.SUCCEEDED
    assert found.runs[0].run.state is RunState.SUCCEEDED


def test_objects_outside_the_trigger_start_nothing(runtime):
    runtime.objects.put(CTX, "inbox", "other/x.txt", [b"hello"])
    assert _claim(runtime) == []
    assert _status(runtime, "other/x.txt") is ObjectStatus.NONE


def test_a_refused_write_leaves_no_jobs(runtime):
    with pytest.raises(NoSuchBucket):
        runtime.objects.put(CTX, "missing", "in/x.txt", [b"hello"])
    assert runtime.status.counts(CTX, JobFilter()) == {}


def test_failed_attempts_back_off_on_the_clock_then_die_and_redrive(runtime, clock):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    first = {t.step: t for t in _claim(runtime)}
    runtime.broker.record([_ok(first["b"], clock)], WORKER)
    for attempt in (1, 2):
        (task,) = [first["a"]] if attempt == 1 else _claim(runtime)
        assert task.attempt == attempt
        runtime.broker.record([_failed(task, clock)], WORKER)
        assert _status(runtime) is ObjectStatus.FAILED
        assert _claim(runtime) == []  # not due yet: base_delay 10 s, doubling
        clock.advance(10 * 2 ** (attempt - 1))
    (task,) = _claim(runtime)
    runtime.broker.record([_failed(task, clock)], WORKER)
    assert _status(runtime) is ObjectStatus.DEAD
    dead = runtime.status.jobs(CTX, JobFilter(states=(JobState.DEAD,))).jobs
    assert [(j.step, j.attempt, j.last_error) for j in dead] == [("a", 3, "boom")]

    assert runtime.control.redrive(CTX, JobFilter(pipeline="p")) == 1
    (again,) = _claim(runtime)
    assert (again.step, again.attempt) == ("a", 4)
    runtime.broker.record([_ok(again, clock)], WORKER)
    (join,) = _claim(runtime)
    runtime.broker.record([_ok(join, clock)], WORKER)
    assert _status(runtime) is ObjectStatus.SUCCEEDED


def test_a_rejected_input_is_dead_at_once(runtime, clock):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    task = _claim(runtime)[0]
    runtime.broker.record([_failed(task, clock, Outcome.REJECTED)], WORKER)
    (job,) = runtime.status.jobs(CTX, JobFilter(states=(JobState.DEAD,))).jobs
    assert job.attempt == 1
    assert job.max_attempts == 3


def test_a_stale_result_is_dropped(runtime, clock):
    """A worker whose lease expired cannot record a second set of outputs."""
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    claimed = _claim(runtime)
    first = {t.step: t for t in claimed}["a"]
    ids = [t.job_id for t in claimed]
    runtime.broker.extend(WORKER, ids, lease=30, started=ids)
    clock.advance(31)  # the lease (30 s) runs out: the worker is presumed dead
    assert runtime.broker.reap() == 2
    clock.advance(60)
    second = {t.step: t for t in _claim(runtime)}["a"]
    assert second.attempt == first.attempt + 1
    output = StagedOutput("in/x/out.txt", "text/plain", 2, "m", "s", data=b"hi")
    runtime.broker.record([_ok(first, clock, outputs=[output])], WORKER)
    assert runtime.objects.list_objects(CTX, "processed").objects == []
    runtime.broker.record([_ok(second, clock, outputs=[output])], WORKER)
    (written,) = runtime.objects.list_objects(CTX, "processed").objects
    assert written.key == "in/x/out.txt"
    _job, attempts = runtime.status.job(CTX, second.job_id)
    assert [a.outcome for a in attempts] == [Outcome.LOST, Outcome.SUCCEEDED]


def test_a_lease_lost_before_the_start_is_forgiven_once(runtime, clock):
    """A worker that died holding a job it never started is not charged an attempt; a
    job lost that way twice (it may kill its worker before the start is reported) is."""
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    for attempt in (1, 1):
        task = {t.step: t for t in _claim(runtime)}["a"]
        assert task.attempt == attempt
        clock.advance(31)
        assert runtime.broker.reap() == 2
    job, attempts = runtime.status.job(CTX, task.job_id)
    assert (job.state, job.attempt, job.unstarted_losses) == (JobState.RETRYABLE, 1, 1)
    assert [a.outcome for a in attempts] == [Outcome.LOST]


def test_what_a_lost_unstarted_claim_staged_is_dated_at_the_claim(runtime, clock):
    """The claim may have staged outputs before its start was reported: they are
    garbage from when it was claimed, not from when the loss was noticed, so a sweep
    after a restart removes what the killed process left."""
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    claimed = clock()
    task = {t.step: t for t in _claim(runtime)}["a"]
    clock.advance(31)
    runtime.broker.reap()
    with runtime.catalog.read() as session:
        noted = dict(session.blobs.leftovers(clock() + timedelta(days=1), 10))
    assert noted[staging_prefix(task.job_id, task.claim)] == claimed


def test_outputs_record_lineage_and_metadata_and_reruns_replace_them(runtime, clock):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    task = {t.step: t for t in _claim(runtime)}["a"]
    output = StagedOutput("in/x/out.txt", "text/plain", 2, "m", "s", data=b"hi")
    runtime.broker.record(
        [_ok(task, clock, outputs=[output], metadata={"mime": "text/plain"})], WORKER
    )
    found = runtime.status.status(CTX, "inbox", "in/x.txt")
    assert [(o.bucket, o.key, o.step) for o in found.runs[0].outputs] == [
        ("processed", "in/x/out.txt", "a")
    ]
    assert found.metadata == {"mime": "text/plain"}
    read = runtime.objects.open(CTX, "processed", "in/x/out.txt")
    assert b"".join(read.body) == b"hi"
    # Outputs trigger nothing, even in a bucket a trigger watches.
    assert runtime.control.reprocess(CTX, "p", "inbox", key="in/x.txt") == Reprocessed(1, 0)
    rerun = {t.step: t for t in _claim(runtime)}["a"]
    runtime.broker.record([_ok(rerun, clock, outputs=[output])], WORKER)
    listing = runtime.objects.list_objects(CTX, "processed")
    assert [o.key for o in listing.objects] == ["in/x/out.txt"]


def test_a_late_run_of_an_older_version_leaves_the_newer_outputs(runtime, clock):
    runtime.objects.set_versioning(CTX, "inbox", Versioning.ENABLED)
    old = runtime.objects.put(CTX, "inbox", "in/v.txt", [b"old"])
    new = runtime.objects.put(CTX, "inbox", "in/v.txt", [b"new"])
    steps = {(t.source.version_id, t.step): t for t in _claim(runtime)}

    def output(body: bytes) -> StagedOutput:
        return StagedOutput("in/v/out.txt", "text/plain", len(body), "m", "s", data=body)

    # The newer version's run finishes first; the older one's result comes in late.
    newer = steps[(new.version_id, "a")]
    runtime.broker.record([_ok(newer, clock, outputs=[output(b"new")])], WORKER)
    older = steps[(old.version_id, "a")]
    runtime.broker.record([_ok(older, clock, outputs=[output(b"old")])], WORKER)

    read = runtime.objects.open(CTX, "processed", "in/v/out.txt")
    assert b"".join(read.body) == b"new"
    found = runtime.status.status(CTX, "inbox", "in/v.txt", old.version_id)
    (attempt,) = found.runs[0].attempts[older.job_id]
    assert attempt.outcome is Outcome.SUCCEEDED
    assert attempt.report["superseded"] == ["in/v/out.txt"]
    assert found.runs[0].outputs == []


def test_concurrent_claims_never_share_a_job(runtime):
    for index in range(40):
        runtime.objects.put(CTX, "inbox", f"in/{index}.txt", [b"x"])
    claimed: list[list[int]] = []

    def claim() -> None:
        got: list[int] = []
        while tasks := runtime.broker.claim(f"w{threading.get_ident()}", 3, 30).tasks:
            got += [t.job_id for t in tasks]
        claimed.append(got)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [job_id for got in claimed for job_id in got]
    assert len(every) == len(set(every)) == 80


def test_reprocess_a_prefix(runtime):
    for index in range(3):
        runtime.objects.put(CTX, "inbox", f"in/{index}.txt", [b"x"])
    runtime.objects.put(CTX, "inbox", "other.txt", [b"x"])
    _claim(runtime, 100)
    assert runtime.control.reprocess(CTX, "p", "inbox", prefix="in/") == Reprocessed(3, 0)
    assert len(_claim(runtime, 100)) == 6


def test_reprocess_a_prefix_that_ends_in_the_last_code_point(runtime):
    """No character follows U+10FFFF, and none sits among the surrogates: the range of
    such a prefix ends at the next character up of an earlier position."""
    for key in ("in/\U0010ffff", "in/\U0010ffff/x", "in/\ud7ff", "in/\ue000", "in0"):
        runtime.objects.put(CTX, "inbox", key, [b"x"])
    _claim(runtime, 100)
    assert runtime.control.reprocess(CTX, "p", "inbox", prefix="in/\U0010ffff").runs == 2
    assert {t.source.key for t in _claim(runtime, 100)} == {"in/\U0010ffff", "in/\U0010ffff/x"}
    assert runtime.control.reprocess(CTX, "p", "inbox", prefix="in/\ud7ff").runs == 1
    assert {t.source.key for t in _claim(runtime, 100)} == {"in/\ud7ff"}


def test_reprocess_a_prefix_without_an_upper_bound(runtime, tmp_path, catalog_url):
    """A prefix of U+10FFFF alone bounds nothing above it: it selects up to the end."""
    for key in ("\U0010ffff", "\U0010ffff\U0010ffff", "\U0010fffe"):
        runtime.objects.put(CTX, "inbox", key, [b"x"])
    with _stranger(tmp_path, catalog_url) as stranger:
        assert stranger.control.reprocess(CTX, "q", "inbox", prefix="\U0010ffff").runs == 2
        assert stranger.control.reprocess(CTX, "q", "inbox", prefix="\U0010ffff" * 2).runs == 1


#: A trigger with every condition on the object; ``PHOTOS`` are the objects it sees.
PHOTOS_TRIGGER = {
    "bucket": "inbox",
    "prefix": "photos/",
    "suffix": [".jpg", ".png"],
    "content_type": "image/*",
    "min_size": 2,
    "max_size": 10,
}
#: Key, content type, size, and the trigger condition the object fails (None: it matches).
PHOTOS = [
    ("photos/a.jpg", "image/jpeg", 5, None),
    ("photos/b.png", "image/png", 5, None),
    ("photos/notes.txt", "text/plain", 5, "suffix"),
    ("photos/text.jpg", "text/plain", 5, "content_type"),
    ("photos/tiny.jpg", "image/jpeg", 1, "min_size"),
    ("photos/huge.jpg", "image/jpeg", 11, "max_size"),
    ("other/c.jpg", "image/jpeg", 5, "prefix"),
]


@pytest.fixture
def photos(tmp_path: Path, catalog_url: str) -> Iterator[Runtime]:
    """A runtime whose one pipeline, ``photos``, has ``PHOTOS_TRIGGER``; ``PHOTOS`` are
    stored in ``inbox`` and in ``archive``."""
    pipelines = {
        "photos": {"trigger": PHOTOS_TRIGGER, "steps": [{"name": "t", "processor": "noop"}]}
    }
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=pipelines)
    rt = open_runtime(settings)
    try:
        rt.objects.create_bucket(CTX, "archive")
        for bucket in ("inbox", "archive"):
            for key, content_type, size, _ in PHOTOS:
                rt.objects.put(CTX, bucket, key, [b"x" * size], content_type=content_type)
        yield rt
    finally:
        rt.close()


def test_uploads_start_runs_on_what_the_trigger_matches(photos):
    claimed = _claim(photos, 100)
    assert sorted(t.source.key for t in claimed) == ["photos/a.jpg", "photos/b.png"]
    assert {t.source.bucket for t in claimed} == {"inbox"}


def test_reprocess_a_prefix_selects_what_the_trigger_matches(photos):
    _claim(photos, 100)
    assert photos.control.reprocess(CTX, "photos", "inbox", prefix="") == Reprocessed(2, 4)
    assert sorted(t.source.key for t in _claim(photos, 100)) == ["photos/a.jpg", "photos/b.png"]
    assert photos.control.reprocess(CTX, "photos", "inbox", prefix="photos/a") == Reprocessed(1, 0)
    assert photos.control.reprocess(CTX, "photos", "inbox", prefix="photos/n") == Reprocessed(0, 1)


@pytest.mark.parametrize(
    ("bucket", "prefix", "condition"),
    [("archive", "photos/", "bucket"), ("inbox", "other/", "prefix"), ("inbox", "p/", "prefix")],
)
def test_reprocess_refuses_a_prefix_the_trigger_rules_out(photos, bucket, prefix, condition):
    jobs = photos.status.counts(CTX, JobFilter())
    with pytest.raises(InvalidArgument) as refused:
        photos.control.reprocess(CTX, "photos", bucket, prefix=prefix)
    assert photos.status.counts(CTX, JobFilter()) == jobs
    wanted = PHOTOS_TRIGGER[condition]
    assert refused.value.message == (
        f"pipeline 'photos' does not run on {bucket}/{prefix}*: trigger.{condition} is {wanted!r}"
    )


@pytest.mark.parametrize(
    ("bucket", "key", "condition"),
    [("inbox", key, condition) for key, _, _, condition in PHOTOS if condition]
    + [("archive", "photos/a.jpg", "bucket")],
)
def test_reprocess_refuses_a_key_the_trigger_does_not_match(photos, bucket, key, condition):
    jobs = photos.status.counts(CTX, JobFilter())
    with pytest.raises(InvalidArgument) as refused:
        photos.control.reprocess(CTX, "photos", bucket, key=key)
    assert photos.status.counts(CTX, JobFilter()) == jobs
    wanted = PHOTOS_TRIGGER[condition]
    assert refused.value.message == (
        f"pipeline 'photos' does not run on {bucket}/{key}: trigger.{condition} is {wanted!r}"
    )


def test_objects_can_be_found_by_their_extracted_metadata(runtime, clock):
    extracted = {
        "in/a.jpg": {"mime": "image/jpeg", "image": {"width": 1200, "alpha": False}},
        "in/b.png": {"mime": "image/png", "image": {"width": 1200, "alpha": True}},
        "in/c.txt": {"mime": "text/plain"},
    }
    for key in extracted:
        runtime.objects.put(CTX, "inbox", key, [b"x"])
    for task in _claim(runtime, 100):
        metadata = extracted[task.source.key] if task.step == "a" else {}
        runtime.broker.record([_ok(task, clock, metadata=metadata)], WORKER)

    def keys(*where: str, prefix: str = "") -> list[str]:
        return [key for key, _, _ in runtime.status.find(CTX, "inbox", list(where), prefix)]

    assert keys("image.width=1200") == ["in/a.jpg", "in/b.png"]
    assert keys("image.width=1200", "image.alpha=true") == ["in/b.png"]
    assert keys("mime=text/plain") == ["in/c.txt"]
    assert keys("mime=image/jpeg", prefix="in/b") == []
    found = runtime.status.find(CTX, "inbox", ["image.alpha=false"])
    assert found == [("in/a.jpg", "null", extracted["in/a.jpg"])]
    with pytest.raises(InvalidArgument):
        runtime.status.find(CTX, "inbox", ["image..width=1"])


def test_one_unrecordable_result_fails_alone(runtime, clock):
    """A result the catalog refuses (here: an output into a bucket that is gone) fails its
    own attempt; the rest of the batch is recorded."""
    for key in ("in/a.txt", "in/b.txt"):
        runtime.objects.put(CTX, "inbox", key, [b"x"])
    tasks = [t for t in _claim(runtime) if t.step == "a"]
    runtime.objects.delete_bucket(CTX, "processed")
    output = StagedOutput("out.txt", "text/plain", 2, "m", "s", data=b"hi")
    runtime.broker.record([_ok(tasks[0], clock, outputs=[output]), _ok(tasks[1], clock)], WORKER)
    first, _ = runtime.status.job(CTX, tasks[0].job_id)
    second, _ = runtime.status.job(CTX, tasks[1].job_id)
    assert first.state is JobState.DEAD
    assert first.last_error is not None
    assert "recording the outputs failed: no bucket 'processed'" in first.last_error
    assert second.state is JobState.SUCCEEDED


def test_a_worker_leaves_jobs_of_pipelines_it_does_not_know(runtime, tmp_path, catalog_url):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"x"])
    with _stranger(tmp_path, catalog_url) as stranger:
        assert stranger.broker.claim(WORKER, 10, 30).tasks == []
    assert len(_claim(runtime)) == 2


@contextmanager
def _stranger(tmp_path: Path, catalog_url: str) -> Iterator[Runtime]:
    """A runtime on the same catalog whose only pipeline is one the test's is not."""
    other = {"q": {"trigger": {"bucket": "inbox"}, "steps": [{"name": "z", "processor": "noop"}]}}
    settings = load_settings(data_dir=tmp_path / "other", database_url=catalog_url, pipelines=other)
    stranger = open_runtime(settings, sweep=False)
    try:
        yield stranger
    finally:
        stranger.close()


def test_a_successful_rerun_clears_a_dead_status(runtime, clock):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"x"])
    for task in _claim(runtime):
        runtime.broker.record([_failed(task, clock, Outcome.REJECTED)], WORKER)
    assert _status(runtime) is ObjectStatus.DEAD
    runtime.control.reprocess(CTX, "p", "inbox", key="in/x.txt")
    for _ in range(2):
        for task in _claim(runtime):
            runtime.broker.record([_ok(task, clock)], WORKER)
    assert _status(runtime) is ObjectStatus.SUCCEEDED


def test_the_status_of_a_missing_version_is_no_such_version(runtime):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"x"])
    with pytest.raises(NoSuchVersion):
        runtime.status.status(CTX, "inbox", "in/x.txt", "no-such-version")
    with pytest.raises(NoSuchKey):
        runtime.status.status(CTX, "inbox", "in/y.txt")


def test_a_removal_can_trigger_a_pipeline(tmp_path, catalog_url):
    pipelines = {
        "gone": {
            "trigger": {"bucket": "inbox", "events": ["ObjectRemoved:*"]},
            "steps": [{"name": "n", "processor": "noop"}],
        }
    }
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=pipelines)
    rt = open_runtime(settings)
    try:
        rt.objects.put(CTX, "inbox", "x", [b"x"])
        rt.objects.delete(CTX, "inbox", "x")
        (task,) = rt.broker.claim(WORKER, 10, 30).tasks
        assert (json.loads(task.event_json)["eventName"], task.inline, task.source.size) == (
            "ObjectRemoved:Delete",
            b"",
            0,
        )
    finally:
        rt.close()


def test_queue_times_follow_the_database_clock(runtime):
    """Workers on several machines stamp leases on the database server's clock: here the
    server is this machine, so the correction is tiny (and none at all on SQLite)."""
    offset = runtime.catalog.clock_offset()
    if runtime.catalog.dialect == "sqlite":
        assert offset == timedelta(0)
    assert abs(offset) < timedelta(seconds=1)
    assert runtime.status.router.clock is runtime.clock  # one clock for every service


def test_an_error_with_a_nul_character_is_recorded(runtime, clock):
    """PostgreSQL refuses NUL in text; an error message carrying one must not block the
    recording of the batch."""
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"x"])
    first, second = _claim(runtime)
    bad = Result(
        first.job_id,
        first.attempt,
        Outcome.FAILED,
        clock(),
        clock(),
        error="bad\x00byte",
        traceback="Traceback\x00",
    )
    runtime.broker.record([bad, _ok(second, clock)], WORKER)
    job, attempts = runtime.status.job(CTX, first.job_id)
    assert job.state is JobState.RETRYABLE
    assert job.last_error == "bad\\0byte"
    assert attempts[0].error == "bad\\0byte"
    assert runtime.status.job(CTX, second.job_id)[0].state is JobState.SUCCEEDED


def test_jobs_of_unknown_pipelines_do_not_count_as_due(runtime, tmp_path, catalog_url):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"x"])
    with _stranger(tmp_path, catalog_url) as stranger:
        assert stranger.broker.next_due() is None
        assert runtime.broker.next_due() is not None


# --- a source replaced before its run finished ------------------------------------------


def test_an_overwritten_upload_supersedes_its_run_instead_of_dying(runtime, clock):
    runtime.objects.set_versioning(CTX, "inbox", Versioning.ENABLED)
    first = runtime.objects.put(CTX, "inbox", "in/x.txt", [b"first"])
    runtime.objects.delete(CTX, "inbox", "in/x.txt", first.version_id)  # gone before it ran
    second = runtime.objects.put(CTX, "inbox", "in/x.txt", [b"second"])
    tasks = _claim(runtime)
    assert {t.source.version_id for t in tasks} == {second.version_id}  # only the new run
    counts = runtime.status.counts(CTX, JobFilter(pipeline="p"))
    # The old run's join does not wait forever; nothing is a dead letter.
    assert counts == {JobState.SUPERSEDED: 3, JobState.RUNNING: 2, JobState.BLOCKED: 1}
    assert runtime.control.redrive(CTX, JobFilter(pipeline="p")) == 0  # nothing to redrive
    assert _status(runtime) is ObjectStatus.PROCESSING  # the newest version's run goes on


def test_a_step_that_fails_after_its_source_went_is_superseded(runtime, clock):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    (old_a,) = _claim(runtime, limit=1)  # runs while the object is overwritten
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"overwritten"])  # unversioned: gone
    new = _claim(runtime)  # old b finds its source gone: the old run is superseded
    assert len(new) == 2
    assert old_a.job_id not in {t.job_id for t in new}
    runtime.broker.record([_failed(old_a, clock)], WORKER)  # not retried
    clock.advance(3600)
    assert _claim(runtime) == []
    counts = runtime.status.counts(CTX, JobFilter(pipeline="p"))
    assert counts == {
        JobState.SUPERSEDED: 3,  # the old run's a (failed), b (never ran) and join
        JobState.RUNNING: 2,  # the new run's a and b
        JobState.BLOCKED: 1,  # the new run's join, waiting for them
    }


def test_a_retry_that_finds_its_source_gone_ends_the_run(runtime, clock):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    old = {t.step: t for t in _claim(runtime)}
    runtime.broker.record([_failed(old["a"], clock), _ok(old["b"], clock)], WORKER)
    runtime.objects.delete(CTX, "inbox", "in/x.txt")
    clock.advance(10)  # the retry falls due
    assert _claim(runtime) == []  # nothing to process: superseded, not dead
    counts = runtime.status.counts(CTX, JobFilter(pipeline="p"))
    assert counts == {JobState.SUCCEEDED: 1, JobState.SUPERSEDED: 2}
    assert runtime.status.jobs(CTX, JobFilter(states=(JobState.DEAD,))).jobs == []


# --- retention -----------------------------------------------------------------------------


def _rows(runtime, table: str) -> int:
    with runtime.catalog.read() as session:
        return int(session.conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def _process_everything(runtime, clock) -> None:
    while tasks := _claim(runtime):
        runtime.broker.record([_ok(task, clock) for task in tasks], WORKER)


def test_retention_keeps_the_catalog_flat_under_overwrites(runtime, clock):
    from chute.pipelines.retention import Retention
    from chute.settings import RetentionSettings

    settings = RetentionSettings(runs_seconds=60, events_seconds=600)
    retention = Retention(runtime.catalog, settings, clock, "pruner")
    for round_ in range(3):
        for key in ("in/a.txt", "in/b.txt"):
            runtime.objects.put(CTX, "inbox", key, [f"round {round_}".encode()])
            _process_everything(runtime, clock)
    runtime.objects.put(CTX, "inbox", "in/a.txt", [b"failing"])
    (a, b) = sorted(_claim(runtime), key=lambda t: t.step)
    runtime.broker.record([_failed(a, clock, Outcome.REJECTED), _ok(b, clock)], WORKER)
    assert _rows(runtime, "runs") == 7
    assert retention.prune().runs == 0  # ended less than a minute ago: kept
    clock.advance(61)
    report = retention.prune()
    # Kept: the newest run of each live version (a dead letter among them); the five
    # runs of overwritten versions went, with their jobs and attempts.
    assert (report.runs, report.events) == (5, 0)
    counts = [_rows(runtime, table) for table in ("runs", "jobs", "step_runs")]
    assert counts == [2, 6, 5]  # b: three steps run; a: one rejected, one run, a join blocked
    assert _status(runtime, "in/b.txt") is ObjectStatus.SUCCEEDED
    assert _status(runtime, "in/a.txt") is ObjectStatus.DEAD
    assert len(runtime.status.jobs(CTX, JobFilter(states=(JobState.DEAD,))).jobs) == 1
    clock.advance(600)
    assert retention.prune().events == 7  # the event log keeps its own window
    assert runtime.objects.events(CTX) == []


def test_a_reprocess_makes_the_run_before_it_history(runtime, clock):
    from chute.pipelines.retention import Retention
    from chute.settings import RetentionSettings

    retention = Retention(runtime.catalog, RetentionSettings(runs_seconds=1), clock, "pruner")
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    _process_everything(runtime, clock)
    runtime.control.reprocess(CTX, "p", "inbox", key="in/x.txt")
    _process_everything(runtime, clock)
    clock.advance(2)
    assert retention.prune().runs == 1
    (view,) = runtime.status.status(CTX, "inbox", "in/x.txt").runs
    assert view.run.state is RunState.SUCCEEDED


def test_one_process_prunes_at_a_time(runtime, clock):
    from datetime import timedelta as delta

    from chute.pipelines.retention import LEASE, Retention
    from chute.settings import RetentionSettings

    mine = Retention(runtime.catalog, RetentionSettings(), clock, "me")
    until = clock() + delta(minutes=5)
    assert runtime.catalog.run_write(lambda s: s.leases.take(LEASE, "other", clock(), until))
    assert mine.prune().skipped
    clock.advance(301)  # the other process died holding it: its lease ran out
    assert not mine.prune().skipped


def test_observers_hear_of_job_state_changes_after_they_commit(runtime, clock):
    from chute.hooks import JobChange, Observer

    class Jobs(Observer):
        def __init__(self) -> None:
            self.seen: list[JobChange] = []

        def jobs_changed(self, changes) -> None:
            self.seen += changes

    watcher = Jobs()
    runtime.hooks.add(watcher)
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    tasks = {t.step: t for t in _claim(runtime)}
    assert sorted((c.step, c.state) for c in watcher.seen) == [("a", "running"), ("b", "running")]
    watcher.seen.clear()
    runtime.broker.record([_failed(tasks["a"], clock), _ok(tasks["b"], clock)], WORKER)
    assert sorted((c.step, c.state, c.attempt) for c in watcher.seen) == [
        ("a", "retryable", 1),
        ("b", "succeeded", 1),
    ]


def test_a_step_failing_because_its_source_was_deleted_mid_run_is_no_dead_letter(runtime, clock):
    runtime.objects.put(CTX, "inbox", "in/x.txt", [b"hello"])
    tasks = {t.step: t for t in _claim(runtime)}
    runtime.objects.delete(CTX, "inbox", "in/x.txt")  # its bytes go while a and b run
    gone = Result(
        tasks["a"].job_id, 1, Outcome.FAILED, clock(), clock(), error="BlobNotFound: gone"
    )
    runtime.broker.record([gone, _ok(tasks["b"], clock)], WORKER)
    counts = runtime.status.counts(CTX, JobFilter(pipeline="p"))
    assert counts == {JobState.SUPERSEDED: 2, JobState.SUCCEEDED: 1}  # a, the join; b
    assert runtime.status.jobs(CTX, JobFilter(states=(JobState.DEAD,))).jobs == []
