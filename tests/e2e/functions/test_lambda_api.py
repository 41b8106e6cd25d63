"""The Lambda API with boto3's own ``lambda`` client: Invoke (RequestResponse,
DryRun, ``LogType: Tail``, function errors), the configuration reads, and the errors
Lambda answers; on the same address as S3, routed by the signed service."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import ROOT_KEY, LiveServer, start_server
from tests.e2e.s3.clients.conftest import aws_env, program, run
from tests.e2e.s3.conftest import s3_client

CODE = Path(__file__).resolve().parents[2] / "integration" / "functions" / "code"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("lambda")
    config = folder / "chute.toml"
    config.write_text(f"""
[functions.context]
handler = "handlers.context"
code = "{CODE}"
environment = {{ GREETING = "hello" }}

[functions.fail]
handler = "handlers.fail"
code = "{CODE}"

[functions.slow]
handler = "handlers.sleep"
code = "{CODE}"
timeout_seconds = 1

[functions.probe]
handler = "s3_handlers.probe"
code = "{CODE}"
timeout_seconds = 30
permissions = [
    {{ bucket = "fn-data", prefix = "in/", access = "read" }},
    {{ bucket = "fn-data", prefix = "out/", access = "write" }},
]

[functions.off]
handler = "handlers.context"
code = "{CODE}"
reserved_concurrency = 0
""")
    with start_server(folder / "data", {"CHUTE_CONFIG": str(config)}) as live:
        yield live


def lambda_client(server: LiveServer, **config: Any) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=ROOT_KEY.access_key,
        aws_secret_access_key=ROOT_KEY.secret_key,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def test_invoke_returns_the_handlers_result(server: LiveServer) -> None:
    client = lambda_client(server)
    answer = client.invoke(FunctionName="context", Payload=json.dumps({"x": 1}))
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    seen = json.loads(answer["Payload"].read())
    assert seen["function_name"] == "context"
    assert seen["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:context"
    assert seen["environ"]["GREETING"] == "hello"
    assert seen["environ"]["AWS_ENDPOINT_URL"] == server.url
    # The request id the client saw is the one the handler got.
    assert seen["aws_request_id"] == answer["ResponseMetadata"]["RequestId"]


def test_a_function_error_is_flagged_with_lambdas_error_document(server: LiveServer) -> None:
    answer = lambda_client(server).invoke(
        FunctionName="fail", Payload=json.dumps({"why": "test"}), LogType="Tail"
    )
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "no good: test")
    log = base64.b64decode(answer["LogResult"]).decode()
    assert log.startswith("START RequestId:") or "START RequestId:" in log
    assert "[ERROR] ValueError: no good: test" in log
    assert "REPORT RequestId:" in log


def test_a_timeout_answers_lambdas_timeout_error(server: LiveServer) -> None:
    answer = lambda_client(server).invoke(FunctionName="slow", Payload=b'{"seconds": 10}')
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")


def test_a_dry_run_checks_without_running(server: LiveServer) -> None:
    answer = lambda_client(server).invoke(FunctionName="context", InvocationType="DryRun")
    assert answer["StatusCode"] == 204


def test_the_function_may_be_named_by_its_arn(server: LiveServer) -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:context"
    answer = lambda_client(server).invoke(FunctionName=arn, Payload=b"{}")
    assert json.loads(answer["Payload"].read())["function_name"] == "context"


def test_configuration_reads(server: LiveServer) -> None:
    client = lambda_client(server)
    names = [f["FunctionName"] for f in client.list_functions()["Functions"]]
    assert names == ["context", "fail", "off", "probe", "slow"]
    config = client.get_function_configuration(FunctionName="slow")
    assert (config["Handler"], config["Timeout"], config["MemorySize"]) == (
        "handlers.sleep",
        1,
        128,
    )
    assert client.get_function(FunctionName="context")["Configuration"]["Environment"] == {
        "Variables": {"GREETING": "hello"}
    }


def _error(call: Any) -> tuple[int, str, dict[str, Any]]:
    with pytest.raises(ClientError) as caught:
        call()
    response: dict[str, Any] = dict(caught.value.response)
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response


def test_an_unknown_function_is_resource_not_found(server: LiveServer) -> None:
    client = lambda_client(server)
    status, code, _ = _error(lambda: client.invoke(FunctionName="nope", Payload=b"{}"))
    assert (status, code) == (404, "ResourceNotFoundException")
    status, code, _ = _error(lambda: client.get_function(FunctionName="nope"))
    assert (status, code) == (404, "ResourceNotFoundException")


def test_a_payload_over_6_mb_is_refused(server: LiveServer) -> None:
    client = lambda_client(server)
    payload = json.dumps("x" * (6 * 1024 * 1024)).encode()
    status, code, _ = _error(lambda: client.invoke(FunctionName="context", Payload=payload))
    assert (status, code) == (413, "RequestTooLargeException")


def test_a_payload_that_is_not_json_is_refused(server: LiveServer) -> None:
    client = lambda_client(server)
    status, code, _ = _error(lambda: client.invoke(FunctionName="context", Payload=b"{nope"))
    assert (status, code) == (400, "InvalidRequestContentException")


def test_no_reserved_concurrency_throttles(server: LiveServer) -> None:
    client = lambda_client(server)
    status, code, response = _error(lambda: client.invoke(FunctionName="off", Payload=b"{}"))
    assert (status, code) == (429, "TooManyRequestsException")
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_unsigned_and_wrongly_signed_requests_are_refused(server: LiveServer) -> None:
    bad = boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=ROOT_KEY.access_key,
        aws_secret_access_key="wrong" * 8,
        config=Config(retries={"max_attempts": 1}),
    )
    status, code, _ = _error(lambda: bad.invoke(FunctionName="context", Payload=b"{}"))
    assert (status, code) == (403, "InvalidSignatureException")
    unknown = boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="CKNOSUCHKEY000000000",
        aws_secret_access_key="wrong" * 8,
        config=Config(retries={"max_attempts": 1}),
    )
    status, code, _ = _error(lambda: unknown.list_functions())
    assert (status, code) == (403, "UnrecognizedClientException")


def test_a_bucket_named_like_a_lambda_path_stays_a_bucket(server: LiveServer) -> None:
    s3 = s3_client(server)
    s3.create_bucket(Bucket="2015-03-31")
    s3.put_object(Bucket="2015-03-31", Key="functions/context/invocations", Body=b"data")
    got = s3.get_object(Bucket="2015-03-31", Key="functions/context/invocations")
    assert got["Body"].read() == b"data"


def test_handlers_reach_chute_with_the_functions_permissions_only(server: LiveServer) -> None:
    s3 = s3_client(server)
    for bucket in ("fn-data", "fn-other"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="in/a.txt", Body=b"a")
    event = {"bucket": "fn-data", "other": "fn-other"}
    answer = lambda_client(server).invoke(FunctionName="probe", Payload=json.dumps(event))
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert json.loads(answer["Payload"].read()) == {
        "read_allowed": "ok",
        "read_elsewhere": "AccessDenied",
        "write_allowed": "ok",
        "write_elsewhere": "AccessDenied",
    }
    assert s3.get_object(Bucket="fn-data", Key="out/b.txt")["Body"].read() == b"b"


def test_the_aws_cli_invokes_and_lists(server: LiveServer, tmp_path: Path) -> None:
    # The AWS CLI v1 (on PyPI) takes the payload as text; v2 wants
    # --cli-binary-format raw-in-base64-out for the same.
    cli = program("aws")
    env = aws_env(server, tmp_path)
    out = tmp_path / "out.json"
    invoked = run(
        [
            cli, "--endpoint-url", server.url, "lambda", "invoke",
            "--function-name", "context",
            "--payload", '{"from": "cli"}',
            "--log-type", "Tail",
            str(out),
        ],
        env,
    )  # fmt: skip
    answer = json.loads(invoked.stdout)
    assert answer["StatusCode"] == 200
    assert "START RequestId:" in base64.b64decode(answer["LogResult"]).decode()
    assert json.loads(out.read_text())["function_name"] == "context"
    listed = run([cli, "--endpoint-url", server.url, "lambda", "list-functions"], env)
    names = [f["FunctionName"] for f in json.loads(listed.stdout)["Functions"]]
    assert "context" in names


def test_a_qualifier_other_than_latest_is_not_found(server: LiveServer) -> None:
    client = lambda_client(server)
    for name in ("context:7", "arn:aws:lambda:us-east-1:000000000000:function:context:prod"):
        status, code, _ = _error(lambda name=name: client.invoke(FunctionName=name, Payload=b"{}"))
        assert (status, code) == (404, "ResourceNotFoundException")
    answer = client.invoke(FunctionName="context:$LATEST", Payload=b"{}")
    assert "FunctionError" not in answer
    answer["Payload"].read()  # (an unread answer holds its connection)
    status, code, _ = _error(lambda: client.invoke(FunctionName="a:b:c:d", Payload=b"{}"))
    assert (status, code) == (400, "InvalidParameterValueException")
    client.close()


def test_a_client_context_reaches_the_handler_whatever_its_characters(
    server: LiveServer,
) -> None:
    """Non-ASCII text and line breaks in the client context reach the handler as they
    were sent, and never break the Runtime API's headers."""
    custom = {"custom": {"name": "Zoë", "note": "a\r\nX-Injected: 1"}}
    context = base64.b64encode(json.dumps(custom, ensure_ascii=False).encode()).decode()
    client = lambda_client(server)
    answer = client.invoke(FunctionName="context", Payload=b"{}", ClientContext=context)
    assert "FunctionError" not in answer
    seen = json.loads(answer["Payload"].read())
    assert "Zoë" in seen["client_context"]
    assert "X-Injected" in seen["client_context"]
    not_json = base64.b64encode(b"not json").decode()
    status, code, _ = _error(
        lambda: client.invoke(FunctionName="context", Payload=b"{}", ClientContext=not_json)
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    again = client.invoke(FunctionName="context", Payload=b"{}")
    assert "FunctionError" not in again
    again["Payload"].read()
    client.close()


def test_a_payload_nested_past_the_parser_is_refused(server: LiveServer) -> None:
    client = lambda_client(server)
    deep = b"[" * 100_000 + b"]" * 100_000
    status, code, _ = _error(lambda: client.invoke(FunctionName="context", Payload=deep))
    client.close()
    assert (status, code) == (400, "InvalidRequestContentException")
