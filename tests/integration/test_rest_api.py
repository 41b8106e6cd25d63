"""The JSON API in-process, over SQLite and PostgreSQL: what the processing endpoints
answer, and how every parameter treats hostile values."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chute.api.rest.app import create_app
from chute.api.rest.deps import Services
from chute.clock import FakeClock
from chute.jobs import Result
from chute.queue.states import Outcome
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings

API = "/_/api/v1"
TRACEBACK = (
    'Traceback (most recent call last):\n  File "/srv/chute/steps.py", line 9\nValueError: bad'
)
STEPS = [
    {"name": "a", "processor": "noop", "retry": {"max_attempts": 1}},
    {"name": "b", "processor": "noop"},
]


class Api:
    """A client of the app, without a server: each request runs the app in-process."""

    def __init__(self, runtime: Runtime) -> None:
        services = Services(runtime.objects, runtime.status, runtime.pipelines, 5.0)
        self.app = create_app(services)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        # Unexpected errors must come back as the 500 a client gets, not be raised here.
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://chute") as client:
                return await client.request(method, API + path, **options)

        return asyncio.run(send())

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(catalog_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    pipelines = {"p": {"trigger": {"bucket": "inbox"}, "steps": STEPS}}
    settings = load_settings(data_dir=tmp_path, database_url=catalog_url, pipelines=pipelines)
    rt = open_runtime(settings, clock=clock, sweep=False)
    yield rt
    rt.close()


@pytest.fixture
def api(runtime: Runtime) -> Api:
    return Api(runtime)


def _fail_step_a(runtime: Runtime, clock: FakeClock) -> int:
    """Upload an object; step ``a`` fails for good with a traceback. Returns its job id."""
    runtime.objects.put("inbox", "x.txt", [b"hello"])
    tasks = {t.step: t for t in runtime.processing.claim("w", 10, lease=30).tasks}
    task = tasks["a"]
    failed = Result(
        task.job_id,
        task.attempt,
        Outcome.FAILED,
        clock(),
        clock(),
        error="ValueError: bad",
        traceback=TRACEBACK,
    )
    runtime.processing.record([failed], "w")
    return task.job_id


def test_job_answers_carry_the_error_but_never_the_traceback(
    api: Api, runtime: Runtime, clock: FakeClock
) -> None:
    job_id = _fail_step_a(runtime, clock)
    listed = [api.get("/jobs").json()["jobs"], api.get("/dead").json()["jobs"]]
    one = api.get(f"/jobs/{job_id}").json()
    for job in [*listed[0], *listed[1], one]:
        assert "traceback" not in job
        assert "/srv/chute" not in str(job)
    assert [job["error"] for job in listed[1]] == ["ValueError: bad"]
    assert one["error"] == "ValueError: bad"
    # Operators still find it in the catalog.
    assert runtime.status.job(job_id)[0].last_traceback == TRACEBACK
