"""``chute functions`` and ``chute logs`` against a real server: list, describe and
invoke functions, and read each invocation's log, kept whether the invocation ran in
the server (waited for) or in a worker (queued with ``--event``); ``--follow`` prints
new logs until Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, start_server, wait_until
from tests.e2e.functions.test_lambda_api import CODE, lambda_client
from tests.e2e.test_cli import CHUTE, Cli, chute_env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("functions-cli")
    config = folder / "chute.toml"
    config.write_text(f"""
[worker]
processes = 1
poll_seconds = 0.2

[functions.hello]
handler = "handlers.context"
code = "{CODE}"
description = "says what it sees"
memory_mb = 256

[functions.fail]
handler = "handlers.fail"
code = "{CODE}"
maximum_retry_attempts = 0
""")
    with start_server(folder / "data", {"CHUTE_CONFIG": str(config)}) as live:
        yield live


@pytest.fixture
def cli(server: LiveServer) -> Cli:
    return Cli(server.url)


def logs_of(cli: Cli, name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = cli.json("logs", name, "--limit", "1000")["entries"]
    return entries


def test_functions_are_listed_and_shown(cli: Cli) -> None:
    listed = cli.ok("functions", "ls").stdout
    assert "hello" in listed
    assert "handlers.context" in listed
    assert [f["name"] for f in cli.json("functions", "ls")["functions"]] == ["fail", "hello"]
    shown = cli.ok("functions", "show", "hello").stdout
    assert shown.startswith("hello\n")
    assert "arn:aws:lambda:us-east-1:000000000000:function:hello" in shown
    assert "says what it sees" in shown
    assert "256 MB" in shown
    assert "ResourceNotFoundException" in cli.error("functions", "show", "nope")


def test_invoke_prints_the_answer_and_logs_has_its_log(cli: Cli) -> None:
    answered = cli.ok("functions", "invoke", "hello", "--payload", '{"n": 1}')
    seen = json.loads(answered.stdout)
    assert seen["function_name"] == "hello"
    request_id = seen["aws_request_id"]
    (entry,) = [e for e in logs_of(cli, "hello") if e["request_id"] == request_id]
    text = entry["text"]
    assert f"START RequestId: {request_id} Version: $LATEST" in text
    assert 'event: {"n": 1}' in text  # what the handler printed
    assert f"END RequestId: {request_id}" in text
    assert f"REPORT RequestId: {request_id}\tDuration: " in text
    assert "Memory Size: 256 MB" in text
    # Both spellings print the logs as text, START to REPORT.
    for command in (["logs", "hello"], ["functions", "logs", "hello"]):
        printed = cli.ok(*command).stdout
        assert f"START RequestId: {request_id}" in printed
        assert f"REPORT RequestId: {request_id}" in printed


def test_a_failed_invocation_exits_1_and_its_error_is_logged(cli: Cli, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"why": "from a file"}')
    result = cli.run("functions", "invoke", "fail", "--payload", f"@{event}", "--log")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errorMessage"] == "no good: from a file"
    assert "[ERROR] ValueError: no good: from a file" in result.stderr  # --log
    assert result.stderr.rstrip().endswith("ValueError: no good: from a file")
    (entry,) = logs_of(cli, "fail")
    assert "[ERROR] ValueError: no good: from a file" in entry["text"]


def test_a_queued_invocation_runs_in_a_worker_and_its_log_is_kept(cli: Cli) -> None:
    queued = cli.json("functions", "invoke", "hello", "--event", "--payload", '{"n": "queued"}')
    assert queued["status"] == "queued"
    request_id = queued["request_id"]

    def logged() -> list[dict[str, Any]]:
        return [e for e in logs_of(cli, "hello") if e["request_id"] == request_id]

    wait_until(logged, timeout=60)
    (entry,) = logged()
    assert 'event: {"n": "queued"}' in entry["text"]
    assert f"REPORT RequestId: {request_id}" in entry["text"]


def test_logs_follow_prints_new_logs_until_interrupted(server: LiveServer, tmp_path: Path) -> None:
    cli = Cli(server.url)
    cursor = cli.json("logs", "hello", "--limit", "1000")["next_cursor"]
    output = tmp_path / "logs.jsonl"

    def request_ids() -> list[str]:
        lines = output.read_text().split("\n")[:-1]  # the last part is "" or a line being written
        return [json.loads(line)["request_id"] for line in lines]

    with output.open("wb") as sink:
        follower = subprocess.Popen(
            [CHUTE, "logs", "hello", "--follow", "--json", "--after", str(cursor)],
            env=chute_env(CHUTE_URL=server.url),
            stdout=sink,
            stderr=subprocess.PIPE,
        )
    try:
        # Invoked through the Lambda API this time: its log lands in the same place.
        answer = lambda_client(server).invoke(FunctionName="hello", Payload=b'{"n": "followed"}')
        request_id = answer["ResponseMetadata"]["RequestId"]
        wait_until(lambda: request_ids() == [request_id])
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=15)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
    assert follower.returncode == 0, stderr
    assert request_ids() == [request_id]
