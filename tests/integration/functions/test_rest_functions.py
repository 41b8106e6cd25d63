"""The JSON API's function endpoints in-process (SQLite): list and describe functions,
invoke one and wait or queue it, page through its logs by cursor; admins only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chute.access import Access, Grant
from chute.api.rest.app import create_app
from chute.api.rest.models.functions import FunctionList, FunctionLogPage, InvocationView
from chute.queue.records import JobFilter
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX

API = "/_/api/v1"
CODE = Path(__file__).parent / "code"
FUNCTIONS = {
    "hello": {
        "handler": "handlers.context",
        "code": str(CODE),
        "description": "says what it sees",
        "environment": {"TOKEN": "s3cr3t"},
    },
    "fail": {"handler": "handlers.fail", "code": str(CODE)},
}


class Api:
    """The app in-process, each request signed with ``key`` (``KEY_ID:SECRET``)."""

    def __init__(self, runtime: Runtime, key: str) -> None:
        self.app = create_app(runtime.rest_services())
        self.headers = {"authorization": f"Bearer {key}"}

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://chute") as client:
                return await client.request(method, API + path, headers=self.headers, **options)

        return asyncio.run(send())


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = load_settings(
        data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'c.db'}", functions=FUNCTIONS
    )
    rt = open_runtime(settings, sweep=False)
    yield rt
    rt.close()


@pytest.fixture
def api(runtime: Runtime) -> Api:
    root = runtime.keys.ensure_root()
    return Api(runtime, f"{root.key_id}:{root.secret}")


def test_functions_are_listed_and_described(api: Api) -> None:
    listed = FunctionList.model_validate_json(api.request("GET", "/functions").content)
    assert [f.name for f in listed.functions] == ["fail", "hello"]
    shown = api.request("GET", "/functions/hello").json()
    assert shown["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:hello"
    assert (shown["handler"], shown["description"]) == ("handlers.context", "says what it sees")
    assert (shown["memory_mb"], shown["timeout_seconds"]) == (128, 3.0)
    assert shown["defined_in"] == "config"
    assert shown["environment"] == ["TOKEN"]  # names, never the values
    assert "s3cr3t" not in api.request("GET", "/functions/hello").text
    missing = api.request("GET", "/functions/nope")
    assert (missing.status_code, missing.json()["code"]) == (404, "ResourceNotFoundException")


def test_an_invocation_answers_its_result_and_its_log_is_read_by_cursor(api: Api) -> None:
    answered = api.request("POST", "/functions/hello/invoke", json={"payload": {"n": 1}})
    assert answered.status_code == 200
    done = InvocationView.model_validate_json(answered.content)
    assert done.status == "succeeded"
    assert done.payload["aws_request_id"] == done.request_id
    assert done.init_ms is not None  # a cold start
    assert done.log is not None
    assert 'event: {"n": 1}' in done.log
    failed = api.request("POST", "/functions/fail/invoke", json={"payload": {"why": "x"}}).json()
    assert (failed["status"], failed["error_type"]) == ("failed", "ValueError")
    assert failed["payload"]["errorMessage"] == "no good: x"
    api.request("POST", "/functions/hello/invoke", json={"payload": {"n": 2}})

    first = FunctionLogPage.model_validate_json(
        api.request("GET", "/functions/hello/logs", params={"limit": 1}).content
    )
    (entry,) = first.entries
    assert entry.request_id == done.request_id
    assert entry.text == done.log
    assert first.next_cursor == entry.id
    rest = api.request("GET", "/functions/hello/logs", params={"after": first.next_cursor}).json()
    (second,) = rest["entries"]
    assert 'event: {"n": 2}' in second["text"]
    assert "REPORT RequestId: " in second["text"]
    caught_up = api.request("GET", "/functions/hello/logs", params={"after": rest["next_cursor"]})
    assert caught_up.json() == {"entries": [], "next_cursor": rest["next_cursor"]}
    by_arn = api.request(
        "GET", "/functions/arn:aws:lambda:us-east-1:000000000000:function:fail/logs"
    )
    assert [e["request_id"] for e in by_arn.json()["entries"]] == [failed["request_id"]]
    assert api.request("GET", "/functions/nope/logs").status_code == 404


def test_an_event_invocation_is_queued(api: Api, runtime: Runtime) -> None:
    answered = api.request(
        "POST", "/functions/hello/invoke", json={"payload": {"n": 3}, "event": True}
    )
    assert answered.status_code == 200
    queued = answered.json()
    assert queued["status"] == "queued"
    (job,) = runtime.status.jobs(CTX, JobFilter(pipeline="function:hello")).jobs
    assert job.payload["event"] == {"n": 3}
    assert job.payload["request_id"] == queued["request_id"]


def test_only_admins_may_use_them(api: Api, runtime: Runtime) -> None:
    everything = Grant(frozenset({Access.READ, Access.WRITE}), ("*",), ("",))
    made = runtime.keys.create(CTX, "writer", [everything])
    writer = Api(runtime, f"{made.info.id}:{made.secret}")
    for method, path in [
        ("GET", "/functions"),
        ("GET", "/functions/hello"),
        ("POST", "/functions/hello/invoke"),
        ("GET", "/functions/hello/logs"),
    ]:
        refused = writer.request(method, path, json={} if method == "POST" else None)
        assert (refused.status_code, refused.json()["code"]) == (403, "AccessDenied"), path
    assert api.request("GET", "/functions/hello/logs").json()["entries"] == []  # nothing ran
