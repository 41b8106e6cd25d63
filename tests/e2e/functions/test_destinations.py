"""Lambda's destinations with boto3's lambda and SQS clients: an asynchronous
invocation that succeeds, or fails for good, sends its invocation record to an SQS
queue, a webhook target (an SNS topic ARN) or another function, as
PutFunctionEventInvokeConfig or UpdateFunctionEventInvokeConfig set it; a destination
that cannot take records is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from chute.errors import ConfigError
from chute.runtime import open_runtime
from chute.settings import load_settings
from tests.e2e.conftest import ROOT_AUTH, ROOT_KEY, LiveServer, start_server, wait_until
from tests.e2e.functions.test_lambda_api import _error, lambda_client
from tests.e2e.functions.test_lambda_manage import ROLE, zipped
from tests.e2e.sqs.conftest import sqs_client
from tests.receiver import Receiver, running_receiver

FLAKY = zipped(
    {
        "app.py": (
            "def handler(event, context):\n"
            "    record = 'requestContext' in event\n"
            "    looping = record and context.function_name in ('ping', 'pong')\n"
            "    if event.get('fail') or looping:\n"
            "        raise ValueError('asked to fail')\n"
            "    if 'big' in event:\n"
            "        return {'blob': 'x' * event['big']}\n"
            "    if 'nan' in event:\n"
            "        return {'ratio': float('nan')}\n"
            "    return {'echo': event}\n"
        )
    }
)
ARN = "arn:aws:{}:us-east-1:000000000000:{}"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("destinations")
    config = folder / "chute.toml"
    config.write_text(f'[webhooks.alerts]\nurls = ["{receiver.url}/alerts"]\nsecret = "{SECRET}"\n')
    with start_server(folder / "data", {"CHUTE_CONFIG": str(config)}) as live:
        yield live


@pytest.fixture(scope="module")
def clients(server: LiveServer) -> tuple[Any, Any]:
    functions, queues = lambda_client(server), sqs_client(server)
    for name in ("flaky", "catcher", "ping", "pong", "odd"):
        functions.create_function(
            FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": FLAKY},
        )  # fmt: skip
    for name in ("successes", "failures"):
        queues.create_queue(QueueName=name)
    queues.create_queue(QueueName="ordered.fifo", Attributes={"FifoQueue": "true"})
    return functions, queues


def _record(queues: Any, name: str) -> dict[str, Any]:
    url = queues.get_queue_url(QueueName=name)["QueueUrl"]
    got = queues.receive_message(QueueUrl=url, WaitTimeSeconds=20, AttributeNames=["All"])
    (message,) = got["Messages"]
    queues.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert message["Attributes"]["SenderId"] == "Lambda"
    record: dict[str, Any] = json.loads(message["Body"])
    return record


def _invoke(functions: Any, name: str, event: dict[str, Any]) -> None:
    answer = functions.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event))
    assert answer["StatusCode"] == 202


def test_records_go_to_the_queues_of_success_and_failure(clients: tuple[Any, Any]) -> None:
    functions, queues = clients
    configured = functions.put_function_event_invoke_config(
        FunctionName="flaky",
        MaximumRetryAttempts=0,
        DestinationConfig={
            "OnSuccess": {"Destination": ARN.format("sqs", "successes")},
            "OnFailure": {"Destination": ARN.format("sqs", "failures")},
        },
    )
    assert configured["DestinationConfig"] == {
        "OnSuccess": {"Destination": ARN.format("sqs", "successes")},
        "OnFailure": {"Destination": ARN.format("sqs", "failures")},
    }
    got = functions.get_function_event_invoke_config(FunctionName="flaky")
    assert got["DestinationConfig"] == configured["DestinationConfig"]

    _invoke(functions, "flaky", {"n": 1})
    record = _record(queues, "successes")
    assert record["version"] == "1.0"
    context = record["requestContext"]
    assert context["functionArn"] == ARN.format("lambda", "function:flaky") + ":$LATEST"
    assert (context["condition"], context["approximateInvokeCount"]) == ("Success", 1)
    assert record["requestPayload"] == {"n": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"echo": {"n": 1}}

    _invoke(functions, "flaky", {"fail": True})
    record = _record(queues, "failures")
    context = record["requestContext"]
    assert (context["condition"], context["approximateInvokeCount"]) == ("RetriesExhausted", 1)
    assert record["requestPayload"] == {"fail": True}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "asked to fail"


def test_a_function_and_a_topic_take_records(clients: tuple[Any, Any], receiver: Receiver) -> None:
    functions, queues = clients
    # flaky's failures invoke catcher, whose successes (the record it echoes) are queued.
    functions.update_function_event_invoke_config(
        FunctionName="flaky",
        DestinationConfig={"OnFailure": {"Destination": ARN.format("lambda", "function:catcher")}},
    )
    functions.put_function_event_invoke_config(
        FunctionName="catcher",
        DestinationConfig={"OnSuccess": {"Destination": ARN.format("sqs", "successes")}},
    )
    got = functions.get_function_event_invoke_config(FunctionName="flaky")
    assert got["MaximumRetryAttempts"] == 0  # an update changes what it names only
    assert got["DestinationConfig"]["OnSuccess"] == {"Destination": ARN.format("sqs", "successes")}
    _invoke(functions, "flaky", {"fail": "again"})
    caught = _record(queues, "successes")
    assert caught["requestContext"]["functionArn"].endswith(":function:catcher:$LATEST")
    inner = caught["requestPayload"]
    assert inner["requestContext"]["condition"] == "RetriesExhausted"
    assert inner["requestPayload"] == {"fail": "again"}
    assert caught["responsePayload"] == {"echo": inner}

    functions.update_function_event_invoke_config(
        FunctionName="flaky",
        DestinationConfig={"OnFailure": {"Destination": ARN.format("sns", "alerts")}},
    )
    _invoke(functions, "flaky", {"fail": "loudly"})
    (request,) = receiver.wait_for_requests(1, timeout=20)
    assert request.path == "/alerts"
    posted = json.loads(request.body)
    assert posted["requestPayload"] == {"fail": "loudly"}
    assert posted["responsePayload"]["errorMessage"] == "asked to fail"


def test_put_resets_and_delete_forgets(clients: tuple[Any, Any]) -> None:
    functions, _ = clients
    functions.put_function_event_invoke_config(
        FunctionName="catcher",
        MaximumEventAgeInSeconds=600,
        DestinationConfig={"OnFailure": {"Destination": ARN.format("sqs", "failures")}},
    )
    functions.put_function_event_invoke_config(FunctionName="catcher", MaximumRetryAttempts=1)
    got = functions.get_function_event_invoke_config(FunctionName="catcher")
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (1, 21600)
    assert got["DestinationConfig"] == {}
    listed = functions.list_function_event_invoke_configs(FunctionName="catcher")
    assert [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]] == [got["FunctionArn"]]
    functions.delete_function_event_invoke_config(FunctionName="catcher")
    got = functions.get_function_event_invoke_config(FunctionName="catcher")
    assert got["MaximumRetryAttempts"] == 2


@pytest.mark.parametrize(
    ("destination", "why"),
    [
        (ARN.format("sqs", "missing"), "no SQS queue named 'missing'"),
        (ARN.format("sqs", "ordered.fifo"), "a FIFO queue cannot be a destination"),
        (ARN.format("sns", "nobody"), "no webhook target named 'nobody'"),
        (ARN.format("lambda", "function:ghost"), "no function named 'ghost'"),
        ("arn:aws:s3:::a-bucket", "names no SQS queue, SNS topic or Lambda function"),
    ],
)
def test_a_destination_that_cannot_take_records_is_refused(
    clients: tuple[Any, Any], destination: str, why: str
) -> None:
    functions, _ = clients
    before = functions.get_function_event_invoke_config(FunctionName="flaky")
    status, code, response = _error(
        lambda: functions.update_function_event_invoke_config(
            FunctionName="flaky", DestinationConfig={"OnSuccess": {"Destination": destination}}
        )
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    assert why in response["Error"]["Message"]
    after = functions.get_function_event_invoke_config(FunctionName="flaky")
    assert after["DestinationConfig"] == before["DestinationConfig"]


def test_retry_attempts_over_two_are_refused(clients: tuple[Any, Any]) -> None:
    functions, _ = clients
    status, code, _ = _error(
        lambda: functions.put_function_event_invoke_config(
            FunctionName="flaky", MaximumRetryAttempts=3
        )
    )
    assert (status, code) == (400, "InvalidParameterValueException")


def test_a_configured_destination_must_be_an_arn(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    config = tmp_path / "chute.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[functions.f]\nhandler = "app.handler"\n'
        f'code = "{code}"\non_failure = "arn:aws:sqs:us-east-1:000000000000:"\n'
    )
    with pytest.raises(ConfigError, match=r"functions\.f\.on_failure"):
        open_runtime(load_settings(config))


def _jobs(server: LiveServer, pipeline: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{server.url}/_/api/v1/jobs", params={"pipeline": pipeline}, headers=ROOT_AUTH
    )
    jobs: list[dict[str, Any]] = answer.json()["jobs"]
    return jobs


def test_a_response_json_cannot_hold_is_passed_on_as_text(clients: tuple[Any, Any]) -> None:
    functions, queues = clients
    functions.put_function_event_invoke_config(
        FunctionName="odd",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnSuccess": {"Destination": ARN.format("sqs", "successes")}},
    )
    _invoke(functions, "odd", {"nan": 1})  # Python's json writes NaN; JSON has none
    record = _record(queues, "successes")
    assert record["requestPayload"] == {"nan": 1}
    assert record["responsePayload"] == '{"ratio": NaN}'


def test_a_record_over_256_kib_is_not_sent(server: LiveServer, clients: tuple[Any, Any]) -> None:
    functions, queues = clients
    _invoke(functions, "odd", {"big": 300_000})
    wait_until(lambda: _jobs(server, "function:odd")[0]["state"] == "succeeded", timeout=30)
    wait_until(lambda: "over the 256 KiB a destination takes" in server.log(), timeout=10)
    url = queues.get_queue_url(QueueName="successes")["QueueUrl"]
    assert "Messages" not in queues.receive_message(QueueUrl=url, WaitTimeSeconds=1)


def test_functions_naming_each_other_stop_at_the_chain_limit(
    server: LiveServer, clients: tuple[Any, Any]
) -> None:
    # Each fails on the record of the other's failure: a loop of destinations.
    functions, _ = clients
    for me, other in (("ping", "pong"), ("pong", "ping")):
        functions.put_function_event_invoke_config(
            FunctionName=me,
            MaximumRetryAttempts=0,
            DestinationConfig={
                "OnFailure": {"Destination": ARN.format("lambda", f"function:{other}")}
            },
        )
    _invoke(functions, "ping", {"fail": True})
    wait_until(lambda: "could not be sent to arn:aws:lambda" in server.log(), timeout=60)
    made = len(_jobs(server, "function:ping")) + len(_jobs(server, "function:pong"))
    assert made == 16


@pytest.mark.parametrize(
    "shape",
    [
        {"OnSuccess": ARN.format("sqs", "successes")},  # not {"Destination": ARN}
        {"OnSuccess": ["x"]},
        {"OnSucess": {"Destination": ARN.format("sqs", "successes")}},  # a typo
        ["OnSuccess"],
        0,
        {"OnSuccess": {"Destination": ARN.format("sqs", "successes"), "X": 1}},
    ],
)
def test_a_malformed_destination_config_is_refused(
    server: LiveServer, clients: tuple[Any, Any], shape: Any
) -> None:
    # Bodies boto3 would not send, signed as it signs.
    functions, _ = clients
    before = functions.get_function_event_invoke_config(FunctionName="catcher")
    url = f"{server.url}/2019-09-25/functions/catcher/event-invoke-config"
    request = AWSRequest("POST", url, data=json.dumps({"DestinationConfig": shape}).encode())
    credentials = BotoCredentials(ROOT_KEY.access_key, ROOT_KEY.secret_key)
    SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    answer = httpx.post(url, content=request.body, headers=dict(request.headers))
    assert answer.status_code == 400
    assert answer.headers["x-amzn-errortype"] == "InvalidParameterValueException"
    after = functions.get_function_event_invoke_config(FunctionName="catcher")
    assert after["DestinationConfig"] == before["DestinationConfig"]
