"""Every invocation's log is kept in the catalog (SQLite and PostgreSQL), in Lambda's
form: ``START``, what the handler printed, ``END`` and ``REPORT`` (with ``Init
Duration`` on a cold start). Invocations in the API's process keep it as they end; a
worker's function step hands it back with its result, recorded with the attempt. A huge
log is kept to its start and its end; old logs go with retention."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from chute.catalog import FunctionLogEntry
from chute.clock import FakeClock
from chute.functions.capture import MAX_LINE_BYTES, MAX_LOG_BYTES
from chute.functions.processor import install
from chute.functions.service import open_functions
from chute.pipelines.functions import FunctionQueue
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from chute.worker.child import TaskRunner

CODE = Path(__file__).parent / "code"
FUNCTIONS = {
    "hello": {"handler": "handlers.context", "code": str(CODE)},
    "fail": {"handler": "handlers.fail", "code": str(CODE), "maximum_retry_attempts": 0},
    "chatty": {"handler": "handlers.chatty", "code": str(CODE), "timeout_seconds": 30},
    "endless": {"handler": "handlers.endless", "code": str(CODE), "timeout_seconds": 30},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(catalog_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=catalog_url,
        functions=FUNCTIONS,
        auth={"enabled": False},
    )
    rt = open_runtime(settings, clock=clock)
    yield rt
    rt.close()


def stored(runtime: Runtime, function: str) -> list[FunctionLogEntry]:
    return runtime.function_logs.page(function, 0, 100)


def test_an_invocation_keeps_lambdas_log(runtime: Runtime) -> None:
    cold = runtime.functions.invoke("hello", json.dumps({"say": "hi"}).encode(), request_id="r-1")
    warm = runtime.functions.invoke("hello", b"{}", request_id="r-2")
    first, second = stored(runtime, "hello")
    assert (first.request_id, second.request_id) == ("r-1", "r-2")
    assert first.log_stream == second.log_stream == cold.log_stream != ""
    assert first.id < second.id
    lines = first.text.split("\n")
    assert lines[0] == "imported handlers"  # the cold start's import comes before START
    assert lines[1] == "START RequestId: r-1 Version: $LATEST"
    assert 'event: {"say": "hi"}' in lines
    assert lines[-2] == "END RequestId: r-1"
    report = lines[-1].split("\t")
    assert report[0] == "REPORT RequestId: r-1"
    assert [field.split(":")[0] for field in report[1:]] == [
        "Duration", "Billed Duration", "Memory Size", "Max Memory Used", "Init Duration",
    ]  # fmt: skip
    assert second.text.split("\n")[0] == "START RequestId: r-2 Version: $LATEST"
    assert "Init Duration" not in second.text  # a warm start
    assert second.text == "\n".join(warm.log)
    assert stored(runtime, "fail") == []


def test_a_failed_invocation_keeps_its_error(runtime: Runtime) -> None:
    result = runtime.functions.invoke("fail", b'{"why": "testing"}', request_id="r-err")
    assert result.failed
    (entry,) = stored(runtime, "fail")
    assert "[ERROR] ValueError: no good: testing" in entry.text
    assert entry.text.split("\n")[-1].startswith("REPORT RequestId: r-err\t")


def test_a_huge_log_is_kept_to_its_start_and_end(runtime: Runtime) -> None:
    lines = 100_000  # 2 MB of output
    result = runtime.functions.invoke("chatty", json.dumps({"lines": lines}).encode())
    assert json.loads(result.payload) == lines
    (entry,) = stored(runtime, "chatty")
    kept = entry.text.split("\n")
    assert len(entry.text.encode()) <= MAX_LOG_BYTES + 200  # the marker line aside
    assert kept[0] == "imported handlers"
    assert kept[1].startswith("START RequestId:")
    assert kept[2] == "chatty line 0000000"
    (marker,) = [line for line in kept if line.startswith("[chute:")]
    assert "cut here: an invocation's log is kept to 256 KiB" in marker
    assert kept[-4] == f"chatty line {lines - 1:07d}"
    assert kept[-3] == "a NUL: \ufffd end"  # stored without the NUL
    assert kept[-2].startswith("END RequestId:")
    assert kept[-1].startswith("REPORT RequestId:")


def test_a_line_without_end_is_cut_once(runtime: Runtime) -> None:
    size = 3 * 1024 * 1024
    result = runtime.functions.invoke("endless", json.dumps({"size": size}).encode())
    assert json.loads(result.payload) == "done"
    (entry,) = stored(runtime, "endless")
    *_, start, line, end, report = entry.text.split("\n")
    assert start.startswith("START RequestId:")
    kept = MAX_LINE_BYTES
    assert line == "y" * kept + f" [chute: {size - kept} characters of this line cut]"
    assert end.startswith("END RequestId:")
    assert report.startswith("REPORT RequestId:")


def test_a_workers_function_step_hands_its_log_to_the_recorder(
    runtime: Runtime, tmp_path: Path
) -> None:
    """The worker process's path, in this process: the step runs in a worker's
    TaskRunner (no catalog there), its result crosses a pickle, the broker records it."""
    queue = FunctionQueue(runtime.catalog, runtime.function_targets, runtime.clock, lambda: None)
    queue.enqueue("fail", {"why": "queued"}, "r-queued")
    worker_functions = open_functions(runtime.functions_setup)  # as a worker opens them
    install(worker_functions)
    try:
        (task,) = runtime.broker.claim("w", 10, lease=60).tasks
        (result,) = TaskRunner(runtime.blobs, 0).run([task])
    finally:
        install(None)
        worker_functions.close()
    assert result.error is not None
    assert "no good: queued" in result.error
    assert stored(runtime, "fail") == []  # nothing kept before the attempt is recorded
    runtime.broker.record([pickle.loads(pickle.dumps(result))], "w")
    (entry,) = stored(runtime, "fail")
    assert entry.request_id == "r-queued"
    assert "START RequestId: r-queued" in entry.text
    assert "[ERROR] ValueError: no good: queued" in entry.text
    assert "REPORT RequestId: r-queued" in entry.text


def test_retention_prunes_old_logs(runtime: Runtime, clock: FakeClock) -> None:
    assert runtime.settings.retention.function_logs_seconds == 7 * 86400  # the default
    runtime.functions.invoke("hello", b"{}", request_id="old")
    clock.advance(timedelta(days=7, seconds=1).total_seconds())
    runtime.functions.invoke("hello", b"{}", request_id="new")
    assert runtime.retention.prune().function_logs == 1
    assert [e.request_id for e in stored(runtime, "hello")] == ["new"]
