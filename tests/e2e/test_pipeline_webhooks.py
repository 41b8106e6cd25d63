"""Pipeline notifications: signed (Standard Webhooks) deliveries through the queue, with
retries and a delivery log, checked with the reference ``standardwebhooks`` library
against a real receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from chute.queue.records import JobFilter
from chute.queue.states import JobState, ObjectStatus
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX
from tests.e2e.conftest import wait_until
from tests.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAST = {"max_attempts": 2, "base_delay": 0.01, "jitter": False}


@pytest.fixture
def runtime(tmp_path, receiver: Receiver) -> Iterator[Runtime]:
    notify = {
        "urls": [f"{receiver.url}/hooks", f"{receiver.url}/flaky"],
        "secret": SECRET,
        "retry": {"max_attempts": 3, "base_delay": 0.01, "jitter": False},
    }
    pipelines: dict[str, Any] = {
        "good": {
            "trigger": {"bucket": "inbox", "prefix": "good/"},
            "steps": [{"name": "copy", "processor": "copy"}],
            "notify": notify,
        },
        "bad": {
            "trigger": {"bucket": "inbox", "prefix": "bad/"},
            "steps": [{"name": "boom", "processor": "test.raise", "retry": FAST}],
            "notify": {**notify, "urls": [f"{receiver.url}/hooks"], "on": ["failure"]},
        },
    }
    settings = load_settings(
        data_dir=tmp_path,
        pipelines=pipelines,
        worker={"processes": 1, "modules": ["tests.hostile"], "poll_seconds": 0.2},
    )
    rt = open_runtime(settings)
    rt.start_workers()
    yield rt
    rt.close(grace=0)


def _notifications(rt: Runtime) -> list[Any]:
    return rt.status.jobs(CTX, JobFilter()).jobs


def _delivered(rt: Runtime, count: int) -> bool:
    jobs = [j for j in _notifications(rt) if j.kind == "notify"]
    return len(jobs) == count and all(j.state is JobState.SUCCEEDED for j in jobs)


def test_success_is_notified_to_every_url_signed_and_retried(runtime, receiver):
    receiver.statuses["/flaky"] = 503  # the first delivery there fails
    runtime.objects.put(CTX, "inbox", "good/cat.txt", [b"meow"])
    wait_until(lambda: any(r.path == "/flaky" for r in receiver.requests), timeout=30)
    receiver.statuses["/flaky"] = 200
    wait_until(lambda: _delivered(runtime, 2), timeout=30)

    by_path: dict[str, list[Any]] = {}
    for request in receiver.requests:
        payload = Webhook(SECRET).verify(request.body, request.headers)
        by_path.setdefault(request.path, []).append((request, payload))
    assert len(by_path["/hooks"]) == 1
    assert len(by_path["/flaky"]) == 2
    (_, payload) = by_path["/hooks"][0]
    assert payload["type"] == "pipeline.succeeded"
    data = payload["data"]
    assert (data["pipeline"], data["status"]) == ("good", "succeeded")
    assert data["object"]["key"] == "good/cat.txt"
    assert [o["key"] for o in data["outputs"]] == ["good/cat.txt"]
    # A retried message keeps its id, so receivers can drop duplicates.
    flaky_ids = {r.headers["webhook-id"] for r, _ in by_path["/flaky"]}
    assert len(flaky_ids) == 1

    # The delivery log: each attempt with its status code.
    found = runtime.status.status(CTX, "inbox", "good/cat.txt")
    codes = sorted(
        [a.report["status_code"] for a in attempts]
        for job_id, attempts in found.runs[0].attempts.items()
        if any(j.id == job_id and j.kind == "notify" for j in found.runs[0].jobs)
    )
    assert codes == [[200], [503, 200]]


def test_a_dead_step_is_notified_as_a_failure(runtime, receiver):
    runtime.objects.put(CTX, "inbox", "bad/x.txt", [b"data"])
    wait_until(lambda: _delivered(runtime, 1), timeout=30)
    assert runtime.status.status(CTX, "inbox", "bad/x.txt").status is ObjectStatus.DEAD
    (request,) = receiver.requests
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["type"] == "pipeline.failed"
    assert payload["data"]["status"] == "dead"
    assert "ValueError: cannot handle bad/x.txt" in payload["data"]["error"]
    assert json.loads(request.body) == payload
