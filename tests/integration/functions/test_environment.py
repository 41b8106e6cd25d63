"""The execution environment runs Lambda handlers unchanged, through AWS's own runtime
client: Lambda's context and variables, warm reuse, its error shape, and the kills
(timeout, memory, a runtime that exits) with Lambda's messages."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chute.functions import sandbox
from chute.functions.environment import Environment, FunctionSpec, InvocationResult

CODE = Path(__file__).parent / "code"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:demo"


def spec(handler: str, **changes: Any) -> FunctionSpec:
    values: dict[str, Any] = {
        "name": "demo",
        "handler": handler,
        "task_root": CODE,
        "memory_mb": 128,
        "timeout_seconds": 5.0,
        "region": "eu-west-3",
        "arn": ARN,
        "environment": {"GREETING": "hi"},
    }
    return FunctionSpec(**{**values, **changes})


@pytest.fixture
def environments(tmp_path: Path) -> Iterator[list[Environment]]:
    made: list[Environment] = []
    yield made
    for environment in made:
        environment.stop()


@pytest.fixture
def make(environments: list[Environment], tmp_path: Path) -> Any:
    def make(handler: str, **changes: Any) -> Environment:
        environment = Environment(spec(handler, **changes), tmp_path / "scratch")
        environments.append(environment)
        return environment

    return make


def invoke(environment: Environment, event: Any = None, **options: Any) -> InvocationResult:
    return environment.invoke(json.dumps(event or {}).encode(), **options)


def answer(result: InvocationResult) -> Any:
    return json.loads(result.payload)


def test_the_handler_gets_lambdas_context_and_variables(make: Any) -> None:
    environment = make("handlers.context")
    result = invoke(environment, {"n": 1}, request_id="req-1")
    assert result.error_type is None, result.payload
    seen = answer(result)
    assert seen["aws_request_id"] == "req-1"
    assert seen["function_name"] == "demo"
    assert seen["function_version"] == "$LATEST"
    assert seen["invoked_function_arn"] == ARN
    assert seen["memory_limit_in_mb"] == "128"  # a string on Lambda too
    assert seen["log_group_name"] == "/aws/lambda/demo"
    assert seen["log_stream_name"] == environment.log_stream
    assert 0 < seen["remaining_ms"] <= 5000
    assert seen["cwd"] == str(CODE)
    environ = seen["environ"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert environ["GREETING"] == "hi"
    expected = {
        "_HANDLER": "handlers.context",
        "AWS_REGION": "eu-west-3",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{version}",
        "AWS_LAMBDA_FUNCTION_NAME": "demo",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/demo",
        "AWS_LAMBDA_LOG_STREAM_NAME": environment.log_stream,
        "LAMBDA_TASK_ROOT": str(CODE),
        "TZ": ":UTC",
    }
    assert {name: environ.get(name) for name in expected} == expected
    assert "CHUTE_CONFIG" not in environ  # the server's own variables stay out


def test_the_module_is_imported_once_and_the_environment_reused(make: Any) -> None:
    environment = make("handlers.context")
    first, second = invoke(environment), invoke(environment)
    assert (answer(first)["imports"], answer(second)["imports"]) == (1, 1)
    assert first.init_ms is not None  # one cold start
    assert second.init_ms is None
    assert "imported handlers" in first.log[0]
    assert first.request_id != second.request_id


def test_each_invocation_logs_start_end_and_report(make: Any) -> None:
    environment = make("handlers.context")
    invoke(environment)
    result = invoke(environment, {"say": "x"}, request_id="r-2")
    start, printed, end, report = result.log
    assert start == "START RequestId: r-2 Version: $LATEST"
    assert printed == 'event: {"say": "x"}'
    assert end == "END RequestId: r-2"
    fields = report.split("\t")
    assert fields[0] == "REPORT RequestId: r-2"
    assert [field.split(":")[0] for field in fields[1:]] == [
        "Duration", "Billed Duration", "Memory Size", "Max Memory Used",
    ]  # fmt: skip
    assert fields[3] == "Memory Size: 128 MB"
    assert 1 <= int(fields[4].split()[3]) <= 128


def test_an_exception_answers_lambdas_error_shape(make: Any) -> None:
    environment = make("handlers.fail")
    result = invoke(environment, {"why": "testing"}, request_id="r-err")
    assert result.failed
    assert result.error_type == "ValueError"
    error = answer(result)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "no good: testing"
    assert error["requestId"] == "r-err"
    assert any("handlers.py" in frame for frame in error["stackTrace"])
    assert any("[ERROR] ValueError: no good: testing" in line for line in result.log)
    assert environment.alive  # a handled failure keeps the environment warm


def test_past_the_timeout_the_environment_is_killed(make: Any) -> None:
    environment = make("handlers.sleep", timeout_seconds=1.0)
    result = invoke(environment, {"seconds": 30}, request_id="r-slow")
    assert result.error_type == "Sandbox.Timedout"
    assert answer(result)["errorMessage"] == (
        "RequestId: r-slow Error: Task timed out after 1.00 seconds"
    )
    timed_out = re.compile(r".*Z r-slow Task timed out after 1\.\d\d seconds")
    assert any(timed_out.fullmatch(line) for line in result.log)
    assert not environment.alive
    again = invoke(environment, {"seconds": 0})
    assert answer(again) == "woke"
    assert again.init_ms is not None  # a cold start


def test_memory_past_the_size_kills_the_environment(make: Any) -> None:
    environment = make("handlers.allocate", memory_mb=128)
    result = invoke(environment, {"mib": 400}, request_id="r-mem")
    assert result.error_type == "Runtime.OutOfMemory"
    assert answer(result)["errorMessage"] == (
        "RequestId: r-mem Error: Runtime exited with error: signal: killed"
    )
    assert result.max_memory_mb == 128
    assert not environment.alive


def test_a_runtime_that_exits_fails_the_invocation(make: Any) -> None:
    environment = make("handlers.exit_hard")
    result = invoke(environment, request_id="r-exit")
    assert result.error_type == "Runtime.ExitError"
    assert answer(result)["errorMessage"] == (
        "RequestId: r-exit Error: Runtime exited with error: exit status 3"
    )


def test_a_handler_that_is_not_callable_fails_each_invocation(make: Any, tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "broken.py").write_text("handler = 42\n")
    result = invoke(make("broken.handler", task_root=tmp_path / "code"))
    assert result.error_type == "TypeError"  # as on Lambda, whose runtime this is
    assert answer(result)["errorMessage"] == "'int' object is not callable"


def test_a_result_json_cannot_encode_is_a_marshal_error(make: Any) -> None:
    result = invoke(make("handlers.unserialisable"))
    assert result.error_type == "Runtime.MarshalError"


def test_a_response_over_6_mb_is_refused(make: Any) -> None:
    result = invoke(make("handlers.large"))
    assert result.error_type == "Function.ResponseSizeTooLarge"


@pytest.mark.parametrize(
    ("source", "handler", "error_type"),
    [
        (None, "missing.handler", "Runtime.ImportModuleError"),
        ("def handler(event, context)\n", "broken.handler", "Runtime.UserCodeSyntaxError"),
        ("def other(event, context):\n    pass\n", "broken.handler", "Runtime.HandlerNotFound"),
        ("raise RuntimeError('cannot start')\n", "broken.handler", "RuntimeError"),
    ],
)  # fmt: skip
def test_code_that_cannot_load_fails_with_lambdas_init_errors(
    make: Any, tmp_path: Path, source: str | None, handler: str, error_type: str
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    if source is not None:
        (code / "broken.py").write_text(source)
    environment = make(handler, task_root=code)
    result = invoke(environment)
    assert result.error_type == error_type, result.payload
    assert answer(result)["errorType"] == error_type
    assert not environment.alive
    assert result.init_ms is not None


needs_isolation = pytest.mark.skipif(
    not sandbox.isolated(), reason="unshare cannot make namespaces on this machine"
)


@needs_isolation
def test_tmp_is_private_to_the_environment_and_removed_with_it(make: Any, tmp_path: Path) -> None:
    first, second = make("handlers.scratch"), make("handlers.scratch")
    # The code lives under /tmp here (pytest's tmp_path), and stays visible.
    assert answer(invoke(first, {"text": "one"})) == _visible(first)
    assert not Path("/tmp/written-by-handler").exists()
    assert "written-by-handler" in answer(invoke(second))
    scratch = list((tmp_path / "scratch").iterdir())
    assert len(scratch) == 2
    first.stop()
    second.stop()
    assert list((tmp_path / "scratch").iterdir()) == []


def _visible(environment: Environment) -> list[str]:
    """What a handler lists in /tmp: what it wrote, and the top folders of the code
    and Python it needs when those live under /tmp."""
    tops = {"written-by-handler"}
    for folder in (environment.spec.task_root, Path(sys.prefix)):
        if folder.is_relative_to("/tmp"):
            tops.add(folder.relative_to("/tmp").parts[0])
    return sorted(tops)


@needs_isolation
def test_children_left_behind_die_with_the_environment(make: Any) -> None:
    environment = make("handlers.daemon")
    child = answer(invoke(environment))  # its pid in the environment's namespace
    assert isinstance(child, int)
    host_children = _descendants(environment)
    assert host_children, "the child runs while the environment does"
    environment.stop()
    assert all(not Path(f"/proc/{pid}").exists() for pid in host_children)


def _descendants(environment: Environment) -> list[int]:
    """The `sleep` processes below the environment's, found by parent pid in every
    /proc/PID/stat (a task's `children` file can miss a child forked moments ago)."""
    process = environment._process
    assert process is not None
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone while we looked
            continue
        # The command name in brackets may hold spaces; the fields after it do not.
        parents[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
    found, pending = [], [process.pid]
    while pending:
        pid = pending.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found += children
        pending += children
    return [pid for pid in found if "sleep" in _cmdline(pid)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_layers_are_laid_out_as_lambda_does(make: Any, tmp_path: Path) -> None:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    first, second = tmp_path / "layer1", tmp_path / "layer2"
    (first / "python").mkdir(parents=True)
    (first / "python" / "layered.py").write_text("NAME = 'layer one'\n")
    (first / "bin").mkdir()
    tool = first / "bin" / "layer-tool"
    tool.write_text("#!/bin/sh\necho one\n")
    tool.chmod(0o755)
    site = second / "python" / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "layered.py").write_text("NAME = 'layer two'\n")
    (second / "lib").mkdir()
    code = tmp_path / "code"
    code.mkdir()
    (code / "handlers.py").write_text((CODE / "handlers.py").read_text())
    found = answer(invoke(make("handlers.which", task_root=code, layers=(first, second))))
    assert found["layered"] == "layer two"  # the later layer over the earlier
    assert found["tool"] == str(tool)
    assert found["ld"] == f"{second / 'lib'}:{first / 'lib'}"
    # A layer never shadows the function's own module.
    own = answer(invoke(make("handlers.which", layers=(first, second))))
    assert own["layered"] == "the function's own"


_HOLDER = """
import json, sys, threading, time
from pathlib import Path
from chute.functions.environment import Environment
from tests.integration.functions.test_environment import spec

environment = Environment(spec("handlers.sleep", timeout_seconds=600), Path(sys.argv[1]))
environment.invoke(json.dumps({"seconds": 0}).encode())
busy = threading.Thread(target=environment.invoke, args=(b'{"seconds": 600}',), daemon=True)
busy.start()
time.sleep(0.5)  # the handler is asleep in its invocation
print(environment._process.pid, flush=True)
time.sleep(600)
"""


def test_an_environment_dies_with_the_process_that_ran_it(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / "scratch")],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert holder.stdout is not None
        runtime = int(holder.stdout.readline())
        assert Path(f"/proc/{runtime}").exists()
        holder.kill()  # SIGKILL: no clean-up runs
        holder.wait()
        deadline = time.monotonic() + 10
        while _running(runtime) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(runtime)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (an unreaped zombie does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@needs_isolation
def test_tmp_holds_the_ephemeral_storage_and_no_more(make: Any) -> None:
    result = invoke(make("handlers.fill", storage_mb=512, timeout_seconds=30))
    found = answer(result)
    assert found["error"] == "No space left on device"
    assert found["written"] <= 512 * 1024 * 1024


def test_only_the_environments_processes_may_use_its_runtime_api(make: Any) -> None:
    """Another local process (here the test itself, in practice another function) that
    finds the port can neither take an invocation nor answer one."""
    import http.client

    environment = make("handlers.context")
    assert invoke(environment).error_type is None
    assert environment._api is not None
    connection = http.client.HTTPConnection(environment._api.address, timeout=5)

    def take_an_invocation() -> None:
        connection.request("GET", "/2018-06-01/runtime/invocation/next")
        connection.getresponse()

    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        take_an_invocation()
    connection.close()
    assert invoke(environment).error_type is None  # the environment still serves
