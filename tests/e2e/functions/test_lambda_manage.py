"""The Lambda API's management subset with boto3's ``lambda`` client: functions and
layers made, changed and removed through the API live in the catalog and survive a
restart; policies say who else may invoke; bad code and bad names are refused as
Lambda refuses them."""

from __future__ import annotations

import base64
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from tests.e2e.conftest import ROOT_AUTH, ROOT_KEY, LiveServer, start_server
from tests.e2e.functions.test_lambda_api import _error, lambda_client
from tests.e2e.s3.conftest import s3_client

ROLE = "arn:aws:iam::123456789012:role/manage-role"


def zipped(files: dict[str, str], *, raw: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in files.items():
            bundle.writestr(name, text)
        for name, data in (raw or {}).items():
            bundle.writestr(name, data)
    return buffer.getvalue()


ECHO = zipped({"app.py": "VERSION = 1\ndef handler(event, context):\n    return {'v': VERSION}\n"})


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("manage")
    code = folder / "code"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return 'toml'\n")
    (folder / "chute.toml").write_text(
        f'[functions.from-toml]\nhandler = "app.handler"\ncode = "{code}"\n'
    )
    return folder


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[LiveServer]:
    config = {"CHUTE_CONFIG": str(folder / "chute.toml")}
    with start_server(folder / "data", config) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Any:
    return lambda_client(server)


def _invoke(client: Any, name: str, payload: object = None) -> Any:
    answer = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}))
    assert "FunctionError" not in answer, answer["Payload"].read()
    return json.loads(answer["Payload"].read())


def test_create_invoke_update_and_delete(client: Any) -> None:
    made = client.create_function(
        FunctionName="echo",
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": ECHO},
        Timeout=5,
        MemorySize=256,
        Environment={"Variables": {"A": "1"}},
        Description="echoes",
    )
    assert made["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:echo"
    assert (made["Timeout"], made["MemorySize"], made["Role"]) == (5, 256, ROLE)
    assert made["CodeSize"] == len(ECHO)
    assert _invoke(client, "echo") == {"v": 1}
    client.update_function_code(
        FunctionName="echo",
        ZipFile=zipped({"app.py": "def handler(event, context):\n    return {'v': 2}\n"}),
    )
    assert _invoke(client, "echo") == {"v": 2}  # the warm environment of v1 retired
    changed = client.update_function_configuration(FunctionName="echo", Timeout=9)
    assert (changed["Timeout"], changed["MemorySize"]) == (9, 256)
    names = [f["FunctionName"] for f in client.list_functions()["Functions"]]
    assert names == ["echo", "from-toml"]
    client.delete_function(FunctionName="echo")
    status, code, _ = _error(lambda: client.get_function(FunctionName="echo"))
    assert (status, code) == (404, "ResourceNotFoundException")


def test_code_from_a_bucket(server: LiveServer, client: Any) -> None:
    s3 = s3_client(server)
    s3.create_bucket(Bucket="deploys")
    s3.put_object(Bucket="deploys", Key="echo.zip", Body=ECHO)
    client.create_function(
        FunctionName="from-s3",
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": "deploys", "S3Key": "echo.zip"},
    )
    assert _invoke(client, "from-s3") == {"v": 1}


def test_a_layer_is_laid_out_under_the_function(client: Any) -> None:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    layer = zipped({f"python/lib/{version}/site-packages/helper.py": "WORD = 'layered'\n"})
    published = client.publish_layer_version(
        LayerName="helpers", Content={"ZipFile": layer}, CompatibleRuntimes=["python3.12"]
    )
    assert published["Version"] == 1
    arn = published["LayerVersionArn"]
    assert arn == "arn:aws:lambda:us-east-1:000000000000:layer:helpers:1"
    code = zipped({"uses.py": "import helper\ndef handler(e, c):\n    return helper.WORD\n"})
    client.create_function(
        FunctionName="uses-layer",
        Runtime="python3.12",
        Role=ROLE,
        Handler="uses.handler",
        Code={"ZipFile": code},
        Layers=[arn],
    )
    assert _invoke(client, "uses-layer") == "layered"
    assert client.get_layer_version(LayerName="helpers", VersionNumber=1)["Version"] == 1
    listed = client.list_layers()["Layers"]
    assert [layer["LayerName"] for layer in listed] == ["helpers"]
    assert (
        client.publish_layer_version(LayerName="helpers", Content={"ZipFile": layer})["Version"]
        == 2
    )
    versions = client.list_layer_versions(LayerName="helpers")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]


def test_policies_say_who_else_may_invoke(server: LiveServer, client: Any) -> None:
    client.create_function(
        FunctionName="shared", Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": ECHO},
    )  # fmt: skip
    made = httpx.post(
        f"{server.url}/_/api/v1/keys",
        headers=ROOT_AUTH,
        json={"name": "caller", "grants": [{"access": ["read"], "buckets": ["nothing"]}]},
    ).json()
    caller = boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=made["id"],
        aws_secret_access_key=made["secret"],
        config=Config(retries={"max_attempts": 1}),
    )
    status, code, _ = _error(lambda: caller.invoke(FunctionName="shared", Payload=b"{}"))
    assert (status, code) == (403, "AccessDeniedException")
    client.add_permission(
        FunctionName="shared",
        StatementId="let-caller",
        Action="lambda:InvokeFunction",
        Principal=made["id"],
    )
    assert json.loads(caller.invoke(FunctionName="shared", Payload=b"{}")["Payload"].read()) == {
        "v": 1
    }
    policy = json.loads(client.get_policy(FunctionName="shared")["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["let-caller"]
    status, code, _ = _error(
        lambda: client.add_permission(
            FunctionName="shared", StatementId="let-caller", Action="lambda:InvokeFunction",
            Principal="*",
        )
    )  # fmt: skip
    assert (status, code) == (409, "ResourceConflictException")
    client.remove_permission(FunctionName="shared", StatementId="let-caller")
    status, code, _ = _error(lambda: caller.invoke(FunctionName="shared", Payload=b"{}"))
    assert (status, code) == (403, "AccessDeniedException")
    # Management stays an administrator's.
    status, code, _ = _error(lambda: caller.delete_function(FunctionName="shared"))
    assert (status, code) == (403, "AccessDeniedException")


def test_s3_invokes_only_what_the_functions_policy_lets_it(server: LiveServer, client: Any) -> None:
    # A key that administers one bucket may point its notifications at a function only
    # once the function's policy lets s3.amazonaws.com invoke it for that bucket.
    client.create_function(
        FunctionName="guarded", Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": ECHO},
    )  # fmt: skip
    s3_client(server).create_bucket(Bucket="tenant")
    made = httpx.post(
        f"{server.url}/_/api/v1/keys",
        headers=ROOT_AUTH,
        json={"name": "tenant-admin", "grants": [{"access": ["admin"], "buckets": ["tenant"]}]},
    ).json()
    tenant = boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=made["id"],
        aws_secret_access_key=made["secret"],
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )
    arn = "arn:aws:lambda:us-east-1:000000000000:function:guarded"

    def put() -> None:
        tenant.put_bucket_notification_configuration(
            Bucket="tenant",
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )

    status, code, response = _error(put)
    assert (status, code) == (400, "InvalidArgument")
    assert "does not let s3.amazonaws.com invoke it" in str(response["Error"])
    # Skipping destination validation skips whether they exist, not who may use them.
    status, code, _ = _error(
        lambda: tenant.put_bucket_notification_configuration(
            Bucket="tenant",
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
            SkipDestinationValidation=True,
        )
    )
    assert (status, code) == (400, "InvalidArgument")
    client.add_permission(
        FunctionName="guarded", StatementId="other-bucket", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::someone-else",
    )  # fmt: skip
    status, code, _ = _error(put)
    assert (status, code) == (400, "InvalidArgument")
    client.add_permission(
        FunctionName="guarded", StatementId="tenant", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::tenant",
    )  # fmt: skip
    put()
    got = tenant.get_bucket_notification_configuration(Bucket="tenant")
    assert got["LambdaFunctionConfigurations"][0]["LambdaFunctionArn"] == arn

    def invocations() -> int:
        answer = httpx.get(
            f"{server.url}/_/api/v1/jobs",
            params={"pipeline": "function:guarded"},
            headers=ROOT_AUTH,
        )
        return len(answer.json()["jobs"])

    tenant.put_object(Bucket="tenant", Key="a.txt", Body=b"a")
    assert invocations() == 1
    # The permission is looked at for each event: withdrawn, S3 invokes no more.
    client.remove_permission(FunctionName="guarded", StatementId="tenant")
    tenant.put_object(Bucket="tenant", Key="b.txt", Body=b"b")
    assert invocations() == 1


def test_event_invoke_config(client: Any) -> None:
    client.create_function(
        FunctionName="retrying", Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": ECHO},
    )  # fmt: skip
    client.put_function_event_invoke_config(
        FunctionName="retrying", MaximumRetryAttempts=0, MaximumEventAgeInSeconds=120
    )
    got = client.get_function_event_invoke_config(FunctionName="retrying")
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (0, 120)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"Code": {"ZipFile": b"not a zip"}}, "InvalidParameterValueException"),
        ({"Code": {"ZipFile": zipped({"../evil.py": "x"})}}, "InvalidParameterValueException"),
        ({"Handler": "nodot"}, "InvalidParameterValueException"),
        ({"Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:none:1"]},
         "InvalidParameterValueException"),
        ({"FunctionName": "from-toml"}, "ResourceConflictException"),
        ({"Code": {"S3Bucket": "deploys", "S3Key": "missing.zip"}},
         "InvalidParameterValueException"),
    ],
)  # fmt: skip
def test_bad_functions_are_refused(client: Any, changes: dict[str, Any], code: str) -> None:
    request: dict[str, Any] = {
        "FunctionName": "refused",
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": ECHO},
        **changes,
    }
    status, found, _ = _error(lambda: client.create_function(**request))
    assert found == code
    assert status in (400, 409)


@pytest.mark.parametrize(
    "changes",
    [{"FunctionName": "bad name!"}, {"MemorySize": 64}, {"Timeout": 901}, {"MemorySize": "x"}],
)
def test_what_botocore_would_not_send_is_refused_too(
    server: LiveServer, changes: dict[str, Any]
) -> None:
    body = {
        "FunctionName": "raw",
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(ECHO).decode()},
        **changes,
    }
    answer = signed_lambda(server, "POST", "/2015-03-31/functions", json.dumps(body).encode())
    assert answer.status_code == 400
    assert answer.headers["x-amzn-errortype"] == "InvalidParameterValueException"


def signed_lambda(server: LiveServer, method: str, path: str, body: bytes) -> httpx.Response:
    """A request signed by botocore for the Lambda API, as botocore would never build it."""
    request = AWSRequest(method, server.url + path, data=body)
    credentials = BotoCredentials(ROOT_KEY.access_key, ROOT_KEY.secret_key)
    SigV4Auth(credentials, "lambda", "us-east-1").add_auth(request)
    prepared = request.prepare()
    return httpx.request(method, prepared.url, headers=dict(prepared.headers), content=body)


def test_chute_toml_functions_are_changed_there(client: Any) -> None:
    status, code, _ = _error(
        lambda: client.update_function_configuration(FunctionName="from-toml", Timeout=9)
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    status, code, _ = _error(lambda: client.delete_function(FunctionName="from-toml"))
    assert (status, code) == (400, "InvalidParameterValueException")


def test_functions_survive_a_restart(folder: Path, server: LiveServer, client: Any) -> None:
    client.create_function(
        FunctionName="durable", Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": ECHO},
    )  # fmt: skip
    server.stop()
    config = {"CHUTE_CONFIG": str(folder / "chute.toml")}
    with start_server(folder / "data", config) as again:
        assert _invoke(lambda_client(again), "durable") == {"v": 1}
