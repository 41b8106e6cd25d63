"""AWS's "Using an Amazon S3 trigger to create thumbnail images" tutorial, step by step
with the AWS CLI as typed there, only ``--endpoint-url`` added: two buckets, a handler
packaged with Pillow in a zip, create-function, add-permission, a test invoke, the
bucket's notification configuration with the function's ARN, then ``aws s3 cp`` of an
image, and its half-size copy found in the ``-resized`` bucket."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import PIL
import pytest
from PIL import Image

from tests.e2e.conftest import ROOT_AUTH, LiveServer, start_server, wait_until
from tests.e2e.s3.clients.conftest import aws_env, program, run
from tests.e2e.s3.conftest import s3_client

HERE = Path(__file__).parent
ROLE = "arn:aws:iam::123456789012:role/LambdaS3Role"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("tutorial")
    config = folder / "chute.toml"
    config.write_text("[worker]\nprocesses = 1\npoll_seconds = 0.2\n")
    with start_server(folder / "data", {"CHUTE_CONFIG": str(config)}) as live:
        yield live


def package(target: Path) -> Path:
    """``pip install --target package pillow``, then zip it with the handler, as the
    tutorial does (here from the Pillow the tests have installed)."""
    site = Path(PIL.__file__).parent.parent
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(HERE / "tutorial" / "lambda_function.py", "lambda_function.py")
        for folder in ("PIL", "pillow.libs"):
            for path in sorted((site / folder).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    bundle.write(path, str(path.relative_to(site)))
    return target


def test_the_thumbnail_tutorial(server: LiveServer, tmp_path: Path) -> None:
    cli = program("aws")
    env = aws_env(server, tmp_path)

    def aws(*arguments: str) -> str:
        return run([cli, "--endpoint-url", server.url, *arguments], env).stdout

    # The role the function runs with: in Chute, the access key of that name, its grants.
    _make_role_key(
        server, "LambdaS3Role", ["amzn-s3-tutorial-source", "amzn-s3-tutorial-source-resized"]
    )

    aws("s3", "mb", "s3://amzn-s3-tutorial-source")
    aws("s3", "mb", "s3://amzn-s3-tutorial-source-resized")
    image = tmp_path / "HappyFace.jpg"
    Image.new("RGB", (200, 120), (250, 200, 0)).save(image)

    zipped = package(tmp_path / "lambda_function.zip")
    created = json.loads(
        aws(
            "lambda", "create-function", "--function-name", "CreateThumbnail",
            "--zip-file", f"fileb://{zipped}", "--handler", "lambda_function.lambda_handler",
            "--runtime", "python3.12", "--timeout", "10", "--memory-size", "1024",
            "--role", ROLE,
        )
    )  # fmt: skip
    assert created["FunctionName"] == "CreateThumbnail"
    arn = created["FunctionArn"]
    aws(
        "lambda", "add-permission", "--function-name", "CreateThumbnail",
        "--principal", "s3.amazonaws.com", "--statement-id", "s3invoke",
        "--action", "lambda:InvokeFunction",
        "--source-arn", "arn:aws:s3:::amzn-s3-tutorial-source",
        "--source-account", "123456789012",
    )  # fmt: skip

    # Test the function with a dummy event, as the tutorial does.
    aws("s3", "cp", str(image), "s3://amzn-s3-tutorial-source/HappyFace.jpg")
    event = tmp_path / "dummyS3Event.json"
    event.write_text(json.dumps(_dummy_event("amzn-s3-tutorial-source", "HappyFace.jpg")))
    out = tmp_path / "outputfile.txt"
    invoked = json.loads(
        aws(
            "lambda", "invoke", "--function-name", "CreateThumbnail",
            "--invocation-type", "RequestResponse", "--payload", event.read_text(), str(out),
        )
    )  # fmt: skip
    assert invoked["StatusCode"] == 200
    assert "FunctionError" not in invoked, out.read_text()
    listed = json.loads(
        aws("s3api", "list-objects-v2", "--bucket", "amzn-s3-tutorial-source-resized")
    )
    assert [o["Key"] for o in listed["Contents"]] == ["resized-HappyFace.jpg"]

    # Then the trigger: every upload to the source bucket makes its thumbnail.
    notification = tmp_path / "notification.json"
    notification.write_text(
        json.dumps(
            {
                "LambdaFunctionConfigurations": [
                    {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            }
        )
    )
    aws(
        "s3api", "put-bucket-notification-configuration",
        "--bucket", "amzn-s3-tutorial-source",
        "--notification-configuration", f"file://{notification}",
    )  # fmt: skip
    aws("s3", "cp", str(image), "s3://amzn-s3-tutorial-source/photos/Happy Face.jpg")
    s3 = s3_client(server)
    wanted = "resized-photos/Happy Face.jpg"

    def resized() -> bool:
        found = s3.list_objects_v2(Bucket="amzn-s3-tutorial-source-resized").get("Contents", [])
        return wanted in [o["Key"] for o in found]

    wait_until(resized, timeout=60)
    body = s3.get_object(Bucket="amzn-s3-tutorial-source-resized", Key=wanted)["Body"].read()
    assert Image.open(io.BytesIO(body)).size == (100, 60)  # half the original


def _make_role_key(server: LiveServer, name: str, buckets: list[str]) -> None:
    grant = {"access": ["read", "write"], "buckets": buckets}
    answer = httpx.post(
        f"{server.url}/_/api/v1/keys", headers=ROOT_AUTH, json={"name": name, "grants": [grant]}
    )
    assert answer.status_code in (200, 201), answer.text


def _dummy_event(bucket: str, key: str) -> dict[str, object]:
    return {
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "1970-01-01T00:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "EXAMPLE"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "testConfigRule",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": 1024, "eTag": "0123456789abcdef"},
                },
            }
        ]
    }
