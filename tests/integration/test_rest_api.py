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
from chute.clock import FakeClock
from chute.jobs import Result
from chute.queue.states import Outcome
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX

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
        self.app = create_app(runtime.rest_services())
        root = runtime.keys.ensure_root()
        self.headers = {"authorization": f"Bearer {root.key_id}:{root.secret}"}

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        # Unexpected errors must come back as the 500 a client gets, not be raised here.
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://chute") as client:
                headers = {**self.headers, **options.pop("headers", {})}
                return await client.request(method, API + path, headers=headers, **options)

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
    runtime.objects.put(CTX, "inbox", "x.txt", [b"hello"])
    tasks = {t.step: t for t in runtime.broker.claim("w", 10, lease=30).tasks}
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
    runtime.broker.record([failed], "w")
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
    assert runtime.status.job(CTX, job_id)[0].last_traceback == TRACEBACK


def test_job_filters_narrow_listings_and_redrives(
    api: Api, runtime: Runtime, clock: FakeClock
) -> None:
    job_id = _fail_step_a(runtime, clock)
    runtime.objects.put(CTX, "inbox", "other/y.txt", [b"hi"])

    def ids(path: str, **params: Any) -> list[int]:
        answer = api.get(path, params=params)
        assert answer.status_code == 200, answer.text
        return [job["id"] for job in answer.json()["jobs"]]

    assert len(ids("/jobs")) == 4
    assert ids("/jobs", state=["dead"]) == [job_id]
    assert len(ids("/jobs", state=["dead", "available"])) == 3
    assert len(ids("/jobs", prefix="other/")) == 2
    assert ids("/jobs", pipeline="q") == []
    assert ids("/jobs", bucket="inbox", prefix="x", state="dead") == [job_id]
    assert ids("/jobs", until="2000-01-01T00:00Z") == []
    assert len(ids("/jobs", since="2000-01-01T00:00+02:00")) == 4
    assert ids("/dead", prefix="other/") == []
    assert ids("/dead", bucket="inbox", pipeline="p") == [job_id]
    first, second = ids("/jobs", limit=2), ids("/jobs", limit=2, cursor=ids("/jobs")[1])
    assert first + second == ids("/jobs")
    assert api.post("/dead/redrive", json={"prefix": "other/"}).json() == {"redriven": 0}
    assert api.post("/dead/redrive", json={"job_ids": [job_id]}).json() == {"redriven": 1}


HUGE = "9" * 22
BEYOND_ID = str(2**63)
NUL = "a\x00b"
#: Query parameters whose every value here must be refused with 400 InvalidArgument.
HOSTILE_QUERIES = {
    "/events": {
        "after": [HUGE, BEYOND_ID, "-1", "x", "nan", "inf", "1e3", "1.5"],
        "limit": [HUGE, "0", "nan"],
        "bucket": [NUL],
        "key": [NUL],
    },
    "/buckets/inbox/objects": {
        "max_keys": [HUGE, "-1", "nan", "inf"],
        "prefix": [NUL],
        "delimiter": [NUL],
        "start_after": [NUL],
        "continuation_token": [NUL],
    },
    "/buckets/inbox/versions": {
        "max_keys": [HUGE, "-1", "nan"],
        "prefix": [NUL],
        "key_marker": [NUL],
        "version_id_marker": [NUL],
    },
    "/buckets/inbox/objects/x.txt": {"version_id": [NUL]},
    "/buckets/inbox/status/x.txt": {"version_id": [NUL]},
    "/buckets/inbox/metadata": {
        "limit": [HUGE, "-1", "0", "nan"],
        "where": [f"mime={NUL}"],
        "prefix": [NUL],
        "after": [NUL],
    },
    "/jobs": {
        "cursor": [HUGE, BEYOND_ID, "-1", "0", "x", "nan", "inf", "1.5"],
        "limit": [HUGE, "0", "nan"],
        "since": [
            "9999-12-31T23:59:59-23:59",  # after year 9999 in UTC
            "0001-01-01T00:00:00+23:59",  # before year 1 in UTC
            "2026-01-01T00:00:00",  # no time zone
            HUGE,
            "nan",
            "inf",
            "-inf",
        ],
        "until": ["9999-12-31T23:59:59-01:00", "2026-01-01T00:00:00", "nan"],
        "state": ["gone", NUL],
        "pipeline": [NUL],
        "bucket": [NUL],
        "prefix": [NUL],
    },
    "/dead": {
        "cursor": [HUGE, BEYOND_ID, "-1", "x", "nan"],
        "limit": [HUGE, "0"],
        "pipeline": [NUL],
        "bucket": [NUL],
        "prefix": [NUL],
    },
}


def _hostile_queries() -> list[Any]:
    return [
        pytest.param(path, name, value, id=f"{path}?{name}={value!r}")
        for path, parameters in HOSTILE_QUERIES.items()
        for name, values in parameters.items()
        for value in values
    ]


def _refused(answer: httpx.Response) -> bool:
    return answer.status_code == 400 and answer.json() == {
        "code": "InvalidArgument",
        "message": answer.json()["message"],
    }


@pytest.fixture
def stocked(api: Api, runtime: Runtime, clock: FakeClock) -> Api:
    """The API over a catalog holding an object and a dead job."""
    _fail_step_a(runtime, clock)
    return api


@pytest.mark.parametrize(("path", "name", "value"), _hostile_queries())
def test_a_hostile_query_parameter_is_refused(stocked: Api, path: str, name: str, value: str):
    answer = stocked.get(path, params={name: value})
    assert _refused(answer), (answer.status_code, answer.text)


@pytest.mark.parametrize("job_id", [HUGE, BEYOND_ID, "-1", "0", "x", "nan", "inf", "1.5", "1e3"])
def test_a_hostile_job_id_is_refused(stocked: Api, job_id: str) -> None:
    answer = stocked.get(f"/jobs/{job_id}")
    assert _refused(answer), (answer.status_code, answer.text)


@pytest.mark.parametrize(
    "body",
    [
        b'{"job_ids": [99999999999999999999999]}',
        b'{"job_ids": [9223372036854775808]}',
        b'{"job_ids": [-1]}',
        b'{"job_ids": [0]}',
        b'{"job_ids": ["x"]}',
        b'{"job_ids": [1.5]}',
        b'{"job_ids": [NaN]}',
        b'{"job_ids": [Infinity]}',
        b'{"job_ids": [1e400]}',
        b'{"since": "9999-12-31T23:59:59-23:59"}',
        b'{"until": "0001-01-01T00:00:00+01:00"}',
        b'{"since": "2026-01-01T00:00:00"}',
        b'{"since": NaN}',
        b'{"since": Infinity}',
        b'{"since": 1e300}',
        b'{"pipeline": "a\\u0000b"}',
        b'{"bucket": "a\\u0000b"}',
        b'{"prefix": "a\\u0000b"}',
    ],
)
def test_a_hostile_redrive_is_refused(stocked: Api, body: bytes) -> None:
    answer = stocked.post(
        "/dead/redrive", content=body, headers={"content-type": "application/json"}
    )
    assert _refused(answer), (answer.status_code, answer.text)


@pytest.mark.parametrize(
    "copy",
    [
        {"source": {"bucket": "inbox", "key": "x.txt", "version_id": NUL}},
        {"source": {"bucket": NUL, "key": "x.txt"}},
        {"destination": {"bucket": NUL, "key": "y.txt"}},
        {"content_type": NUL},
    ],
)
def test_a_hostile_copy_is_refused(stocked: Api, copy: dict[str, Any]) -> None:
    body = {
        "source": {"bucket": "inbox", "key": "x.txt"},
        "destination": {"bucket": "inbox", "key": "y.txt"},
        **copy,
    }
    answer = stocked.post("/copy", json=body)
    assert _refused(answer), (answer.status_code, answer.text)
    assert stocked.get("/buckets/inbox/objects/y.txt").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/buckets/a%00b"),
        ("PUT", "/buckets/a%00b"),
        ("GET", "/buckets/a%00b/versioning"),
        ("GET", "/buckets/a%00b/objects"),
        ("GET", "/buckets/a%00b/versions"),
        ("GET", "/buckets/a%00b/objects/k"),
        ("GET", "/buckets/a%00b/detail/k"),
        ("GET", "/buckets/a%00b/status/k"),
        ("GET", "/buckets/a%00b/metadata"),
        ("DELETE", "/buckets/a%00b/objects/k"),
    ],
)
def test_a_bucket_name_with_a_nul_is_refused(stocked: Api, method: str, path: str) -> None:
    answer = stocked.request(method, path)
    assert _refused(answer), (answer.status_code, answer.text)


def test_a_hostile_version_id_on_head_and_delete_is_refused(stocked: Api) -> None:
    head = stocked.request("HEAD", "/buckets/inbox/objects/x.txt", params={"version_id": NUL})
    assert (head.status_code, head.headers["x-chute-error-code"]) == (400, "InvalidArgument")
    deleted = stocked.request("DELETE", "/buckets/inbox/objects/x.txt", params={"version_id": NUL})
    assert _refused(deleted), (deleted.status_code, deleted.text)
    assert stocked.get("/buckets/inbox/objects/x.txt").status_code == 200


def test_the_extreme_valid_values_are_accepted(stocked: Api) -> None:
    last = str(2**63 - 1)
    assert stocked.get("/events", params={"after": last}).json()["events"] == []
    assert stocked.get("/jobs", params={"cursor": last, "limit": 1000}).status_code == 200
    assert stocked.get("/dead", params={"cursor": last}).status_code == 200
    missing = stocked.get(f"/jobs/{last}")
    assert (missing.status_code, missing.json()["code"]) == (404, "NoSuchJob")
    span = {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59.999999Z"}
    assert len(stocked.get("/jobs", params=span).json()["jobs"]) == 2
    everything = {"job_ids": [1, 2**63 - 1], **span}
    assert stocked.post("/dead/redrive", json=everything).json() == {"redriven": 1}


def test_nul_in_a_token_or_a_reprocess_body_is_a_400(api: Api) -> None:
    import base64

    token = base64.urlsafe_b64encode(b"kin/\x00x").decode()
    listing = api.request("GET", "/buckets/inbox/objects", params={"continuation_token": token})
    assert (listing.status_code, listing.json()["code"]) == (400, "InvalidArgument")
    for body in ({"bucket": "inbox", "prefix": "in/\x00"}, {"bucket": "inbox", "key": "a\x00b"}):
        answer = api.request("POST", "/pipelines/p/reprocess", json=body)
        assert answer.status_code == 400, body
        assert answer.json()["code"] in {"InvalidArgument", "InvalidKey"}


def test_observers_see_each_request_with_the_context_its_events_carry(
    runtime: Runtime, api: Api
) -> None:
    from chute.hooks import Observer, RequestDone

    class Requests(Observer):
        def __init__(self) -> None:
            self.seen: list[RequestDone] = []

        def request_done(self, request: RequestDone) -> None:
            self.seen.append(request)

    watcher = Requests()
    runtime.hooks.add(watcher)
    assert api.request("PUT", "/buckets/inbox/objects/seen.txt", content=b"x").status_code == 200
    assert api.request("GET", "/buckets/inbox/objects/nope").status_code == 404
    assert api.request("GET", "/no/such/route").status_code == 404
    put, missing, unmatched = watcher.seen
    assert (put.api, put.operation, put.status) == ("rest", "put_object", 200)
    assert (missing.operation, missing.status) == ("get_object", 404)
    assert unmatched.operation == "unmatched"
    assert put.seconds > 0
    (event,) = runtime.objects.events(CTX, key="seen.txt")
    assert event.request_id == put.context.request_id  # one request, one id


def test_too_many_job_ids_or_a_bare_key_marker_are_not_a_500(api: Api) -> None:
    ids = list(range(1, 70_001))  # past PostgreSQL's 65,535 parameters
    redrive = api.request("POST", "/dead/redrive", json={"job_ids": ids})
    assert (redrive.status_code, redrive.json()["code"]) == (400, "InvalidArgument")
    api.request("PUT", "/buckets/inbox/objects/a", content=b"1")
    api.request("PUT", "/buckets/inbox/objects/b", content=b"2")
    versions = api.request("GET", "/buckets/inbox/versions", params={"key_marker": "a"})
    assert versions.status_code == 200
    assert [v["key"] for v in versions.json()["versions"]] == ["b"]
