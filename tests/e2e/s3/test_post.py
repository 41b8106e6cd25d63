"""Browser uploads: boto3's ``generate_presigned_post`` makes the form, httpx posts it as
a browser does, and each way a form can break its policy gets S3's error and stores
nothing.

Until access keys are wired into ``chute serve``, a server with authentication off
cannot check a policy's signature, so these tests run the same application
(``open_runtime``, the JSON and S3 front ends on one port) under uvicorn in a thread,
with two access keys to check signatures against. One test shows the forms working on
``chute serve`` itself.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
import uvicorn
from botocore.config import Config
from mypy_boto3_s3 import S3Client
from mypy_boto3_s3.type_defs import CORSRuleTypeDef

from chute.access import EVERYTHING, Access, Grant, Permissions
from chute.api.rest.app import create_app
from chute.api.root import RootApp
from chute.api.s3.app import create_s3_app
from chute.runtime import open_runtime
from chute.settings import load_settings
from tests.e2e.conftest import ROOT_AUTH, LiveServer, start_server

REGION = "us-east-1"
#: Virtual-host style requests name their bucket in the host: BUCKET.s3.chute.test.
DOMAIN = "s3.chute.test"
#: Access keys of the test server: one with every right, one that may only write (and
#: read) under ``uploads/``.
KEYS: dict[str, tuple[str, Permissions]] = {
    "chute-post": ("post-secret", EVERYTHING),
    "chute-uploads": (
        "uploads-secret",
        Permissions((Grant(frozenset({Access.READ, Access.WRITE}), prefixes=("uploads/",)),)),
    ),
}


@dataclasses.dataclass
class PostServer:
    url: str


@pytest.fixture(scope="module")
def post_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostServer]:
    # Requests are not authenticated here (the keys below exist only for POST policies).
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("chute-post"),
        s3={"domain": DOMAIN},
        auth={"enabled": False},
    )
    runtime = open_runtime(settings)
    services = dataclasses.replace(runtime.s3_services(), secrets=KEYS.get)
    app = RootApp(create_app(runtime.rest_services()), create_s3_app(services), DOMAIN)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield PostServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(30)
        runtime.close()


def client(server: PostServer | LiveServer, key: str = "chute-post", **config: Any) -> S3Client:
    secret = KEYS[key][0] if key in KEYS else "chute-test-secret"
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )


@pytest.fixture(scope="module")
def s3v4(post_server: PostServer) -> S3Client:
    """Signs POST forms with Signature Version 4 (boto3 uses version 2 unless told)."""
    return client(post_server, signature_version="s3v4")


@pytest.fixture
def bucket(s3v4: S3Client) -> str:
    name = f"p-{uuid.uuid4().hex[:16]}"
    s3v4.create_bucket(Bucket=name)
    return name


def post(
    url: str,
    fields: dict[str, str],
    content: bytes = b"hello",
    filename: str | None = "photo.jpg",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Post a form as a browser does: the fields in order, the file last."""
    part = (filename, content, "image/jpeg") if filename is not None else (None, content)
    return httpx.post(url, data=fields, files={"file": part}, headers=headers)


def error_of(answer: httpx.Response) -> dict[str, str]:
    return {node.tag: node.text or "" for node in ET.fromstring(answer.content)}


def keys_in(s3: S3Client, bucket: str) -> list[str]:
    return [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def presigned(s3: S3Client, bucket: str, key: str, **options: Any) -> tuple[str, dict[str, str]]:
    made = s3.generate_presigned_post(bucket, key, **options)
    return made["url"], dict(made["fields"])


# --- success ---------------------------------------------------------------------------


def test_a_presigned_post_stores_the_file_with_its_fields(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    url, fields = presigned(
        s3v4,
        bucket,
        "uploads/${filename}",
        Fields={
            "Content-Type": "image/jpeg",
            "x-amz-meta-owner": "ada",
            "Cache-Control": "max-age=9",
        },
        Conditions=[
            ["starts-with", "$Content-Type", "image/"],
            {"x-amz-meta-owner": "ada"},
            ["starts-with", "$Cache-Control", ""],
            ["content-length-range", 1, 1024],
        ],
    )
    assert url == f"{post_server.url}/{bucket}"
    answer = post(url, fields, b"jpeg bytes", filename="C:\\Users\\ada\\cat.jpg")
    assert answer.status_code == 204, answer.text
    etag = f'"{hashlib.md5(b"jpeg bytes").hexdigest()}"'
    assert answer.headers["etag"] == etag
    assert answer.headers["location"] == f"{post_server.url}/{bucket}/uploads%2Fcat.jpg"
    got = s3v4.get_object(Bucket=bucket, Key="uploads/cat.jpg")
    assert got["Body"].read() == b"jpeg bytes"
    assert got["ContentType"] == "image/jpeg"
    assert got["Metadata"] == {"owner": "ada"}
    assert got["CacheControl"] == "max-age=9"
    events = httpx.get(
        f"{post_server.url}/_/api/v1/events", params={"bucket": bucket}, headers=ROOT_AUTH
    ).json()
    (record,) = [event["record"] for event in events["events"]]
    assert record["eventName"] == "ObjectCreated:Post"
    assert record["s3"]["object"]["key"] == "uploads/cat.jpg"
    assert record["userIdentity"]["principalId"] == "chute-post"


def test_signature_version_2_as_boto3_makes_by_default(
    post_server: PostServer, bucket: str
) -> None:
    url, fields = presigned(client(post_server), bucket, "v2.txt")
    assert "AWSAccessKeyId" in fields
    assert post(url, fields, b"two").status_code == 204
    assert client(post_server).get_object(Bucket=bucket, Key="v2.txt")["Body"].read() == b"two"
    fields["signature"] = base64.b64encode(b"x" * 20).decode()
    refused = post(url, fields)
    assert refused.status_code == 403
    assert error_of(refused)["Code"] == "SignatureDoesNotMatch"


def test_an_unsigned_form_is_made_with_the_request_s_own_rights(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    # This server authenticates nothing (every request may do anything), so an
    # anonymous form may write; with authentication on it may write nowhere.
    answer = post(f"{post_server.url}/{bucket}", {"key": "open.txt"}, b"open")
    assert answer.status_code == 204
    assert s3v4.get_object(Bucket=bucket, Key="open.txt")["Body"].read() == b"open"


def test_status_201_answers_with_a_post_response(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    url, fields = presigned(
        s3v4,
        bucket,
        "docs/${filename}",
        Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}],
    )
    answer = post(url, fields, b"report", filename="q3 report.pdf")
    assert answer.status_code == 201
    document = ET.fromstring(answer.content)
    assert document.tag == "PostResponse"  # no namespace, as S3 writes it
    assert document.findtext("Bucket") == bucket
    assert document.findtext("Key") == "docs/q3 report.pdf"
    assert document.findtext("ETag") == f'"{hashlib.md5(b"report").hexdigest()}"'
    assert document.findtext("Location") == f"{post_server.url}/{bucket}/docs%2Fq3%20report.pdf"
    assert answer.headers["location"] == document.findtext("Location")


@pytest.mark.parametrize(("status", "expected"), [("200", 200), ("204", 204), ("404", 204)])
def test_other_statuses_answer_empty(
    post_server: PostServer, s3v4: S3Client, bucket: str, status: str, expected: int
) -> None:
    url, fields = presigned(
        s3v4,
        bucket,
        "k",
        Fields={"success_action_status": status},
        Conditions=[{"success_action_status": status}],
    )
    answer = post(url, fields)
    assert answer.status_code == expected
    assert answer.content == b""


def test_redirect_after_success(post_server: PostServer, s3v4: S3Client, bucket: str) -> None:
    target = "https://app.example.com/done?upload=1"
    url, fields = presigned(
        s3v4,
        bucket,
        "in/${filename}",
        Fields={"success_action_redirect": target},
        Conditions=[["starts-with", "$success_action_redirect", "https://app.example.com/"]],
    )
    answer = post(url, fields, b"x", filename="a b.txt")
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert location.netloc == "app.example.com"
    assert location.path == "/done"
    assert parse_qs(location.query) == {
        "upload": ["1"],
        "bucket": [bucket],
        "key": ["in/a b.txt"],
        "etag": [f'"{hashlib.md5(b"x").hexdigest()}"'],
    }
    assert "key=in%2Fa+b.txt" in location.query
    # A URL S3 cannot follow is as good as none.
    url, fields = presigned(
        s3v4,
        bucket,
        "rel",
        Fields={"redirect": "/relative"},
        Conditions=[{"redirect": "/relative"}],
    )
    assert post(url, fields).status_code == 204


def test_a_file_without_a_name_keeps_the_variable(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    url, fields = presigned(s3v4, bucket, "raw-${filename}")
    assert post(url, fields, b"data", filename=None).status_code == 204
    assert keys_in(s3v4, bucket) == ["raw-${filename}"]


def test_ignored_fields_and_fields_after_the_file(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    url, fields = presigned(s3v4, bucket, "k.txt")
    fields["x-ignore-tracking"] = "1"
    body, content_type = _multipart([*fields.items(), ("file", b"abc"), ("submit", "Upload")])
    answer = httpx.post(url, content=body, headers={"content-type": content_type})
    assert answer.status_code == 204, answer.text
    assert s3v4.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"abc"


def test_a_large_file_streams_through(post_server: PostServer, s3v4: S3Client, bucket: str) -> None:
    size = 20 * 1024 * 1024
    url, fields = presigned(
        s3v4, bucket, "big.bin", Conditions=[["content-length-range", size, size]]
    )
    content = bytes(range(256)) * (size // 256)
    answer = post(url, fields, content)
    assert answer.status_code == 204, answer.text
    assert answer.headers["etag"] == f'"{hashlib.md5(content).hexdigest()}"'
    assert s3v4.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] == size


def test_a_content_md5_field_is_checked(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    good = base64.b64encode(hashlib.md5(b"hello").digest()).decode()
    url, fields = presigned(
        s3v4, bucket, "md5", Fields={"Content-MD5": good}, Conditions=[{"Content-MD5": good}]
    )
    assert post(url, fields, b"hello").status_code == 204
    refused = post(url, fields, b"other")
    assert refused.status_code == 400
    assert error_of(refused)["Code"] == "BadDigest"


# --- refusals --------------------------------------------------------------------------


def refused(
    s3: S3Client, bucket: str, answer: httpx.Response, status: int, code: str
) -> dict[str, str]:
    assert answer.status_code == status, answer.text
    error = error_of(answer)
    assert error["Code"] == code
    assert keys_in(s3, bucket) == []
    return error


@pytest.mark.parametrize(
    ("size", "code", "detail"),
    [
        (11, "EntityTooLarge", ("MaxSizeAllowed", "10")),
        (4, "EntityTooSmall", ("MinSizeAllowed", "5")),
    ],
)
def test_a_file_outside_the_size_range(
    post_server: PostServer,
    s3v4: S3Client,
    bucket: str,
    size: int,
    code: str,
    detail: tuple[str, str],
) -> None:
    url, fields = presigned(s3v4, bucket, "k", Conditions=[["content-length-range", 5, 10]])
    error = refused(s3v4, bucket, post(url, fields, b"x" * size), 400, code)
    assert error[detail[0]] == detail[1]
    assert error["ProposedSize"] == str(size)
    for fits in (5, 10):
        assert post(url, fields, b"x" * fits).status_code == 204


def test_a_large_file_is_refused_as_it_passes_the_maximum(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    url, fields = presigned(s3v4, bucket, "k", Conditions=[["content-length-range", 0, 1024]])
    answer = post(url, fields, b"x" * (8 * 1024 * 1024))
    error = refused(s3v4, bucket, answer, 400, "EntityTooLarge")
    assert int(error["ProposedSize"]) < 8 * 1024 * 1024  # it stopped reading early


def test_a_key_outside_the_policy_prefix(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    url, fields = presigned(s3v4, bucket, "uploads/${filename}")
    fields["key"] = "private/evil.txt"
    error = refused(s3v4, bucket, post(url, fields), 403, "AccessDenied")
    assert error["Message"] == (
        'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "uploads/"]'
    )


def test_a_key_limited_to_a_prefix_cannot_post_outside_it(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    limited = client(post_server, "chute-uploads", signature_version="s3v4")
    url, fields = presigned(
        limited, bucket, "${filename}", Conditions=[["starts-with", "$key", ""]]
    )
    refused(s3v4, bucket, post(url, {**fields, "key": "elsewhere.txt"}), 403, "AccessDenied")
    assert post(url, {**fields, "key": "uploads/mine.txt"}).status_code == 204


def test_an_expired_policy(post_server: PostServer, s3v4: S3Client, bucket: str) -> None:
    url, fields = presigned(s3v4, bucket, "k", ExpiresIn=1)
    time.sleep(2)
    error = refused(s3v4, bucket, post(url, fields), 403, "AccessDenied")
    assert error["Message"] == "Invalid according to Policy: Policy expired."


def test_a_tampered_policy(post_server: PostServer, s3v4: S3Client, bucket: str) -> None:
    url, fields = presigned(s3v4, bucket, "uploads/${filename}")
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"] = [c for c in policy["conditions"] if "$key" not in json.dumps(c)]
    policy["conditions"].append(["starts-with", "$key", ""])
    fields["policy"] = base64.b64encode(json.dumps(policy).encode()).decode()
    fields["key"] = "anywhere.txt"
    error = refused(s3v4, bucket, post(url, fields), 403, "SignatureDoesNotMatch")
    assert error["StringToSign"] == fields["policy"]
    assert error["AWSAccessKeyId"] == "chute-post"


def test_a_wrong_signature_or_unknown_key(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    url, fields = presigned(s3v4, bucket, "k")
    wrong = {**fields, "x-amz-signature": "0" * 64}
    error = refused(s3v4, bucket, post(url, wrong), 403, "SignatureDoesNotMatch")
    assert error["SignatureProvided"] == "0" * 64
    stranger = client(post_server, "nobody", signature_version="s3v4")
    url, fields = presigned(stranger, bucket, "k")
    error = refused(s3v4, bucket, post(url, fields), 403, "InvalidAccessKeyId")
    assert error["AWSAccessKeyId"] == "nobody"


@pytest.mark.parametrize(
    ("missing", "named"),
    [("key", "key"), ("x-amz-signature", "X-Amz-Signature"), ("x-amz-date", "X-Amz-Date")],
)
def test_a_missing_field(
    post_server: PostServer, s3v4: S3Client, bucket: str, missing: str, named: str
) -> None:
    url, fields = presigned(s3v4, bucket, "k")
    del fields[missing]
    error = refused(s3v4, bucket, post(url, fields), 400, "InvalidArgument")
    assert error["ArgumentName"] == named
    assert error["Message"].startswith(f"Bucket POST must contain a field named '{named}'.")


def test_an_extra_field_no_condition_names(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    url, fields = presigned(s3v4, bucket, "k")
    error = refused(
        s3v4, bucket, post(url, {**fields, "Content-Type": "text/html"}), 403, "AccessDenied"
    )
    assert error["Message"] == "Invalid according to Policy: Extra input fields: Content-Type"


def test_a_policy_for_another_bucket(post_server: PostServer, s3v4: S3Client, bucket: str) -> None:
    other = f"p-{uuid.uuid4().hex[:16]}"
    s3v4.create_bucket(Bucket=other)
    _, fields = presigned(s3v4, other, "k")
    error = refused(s3v4, bucket, post(f"{post_server.url}/{bucket}", fields), 403, "AccessDenied")
    assert '"$bucket"' in error["Message"]


def test_forms_that_are_not_forms(post_server: PostServer, s3v4: S3Client, bucket: str) -> None:
    plain = httpx.post(
        f"{post_server.url}/{bucket}", content=b"key=k", headers={"content-type": "text/plain"}
    )
    error = refused(s3v4, bucket, plain, 412, "PreconditionFailed")
    assert error["Condition"] == "Bucket POST must be of the enclosure-type multipart/form-data"
    no_boundary = httpx.post(
        f"{post_server.url}/{bucket}", content=b"x", headers={"content-type": "multipart/form-data"}
    )
    refused(s3v4, bucket, no_boundary, 400, "MalformedPOSTRequest")
    url, fields = presigned(s3v4, bucket, "k")
    no_file = httpx.post(url, data=fields, files={"other": ("a.txt", b"x")})
    error = refused(s3v4, bucket, no_file, 400, "InvalidArgument")
    assert error["ArgumentName"] == "file"
    body, content_type = _multipart([*fields.items(), ("file", b"cut off")])
    cut = httpx.post(url, content=body[:-20], headers={"content-type": content_type})
    refused(s3v4, bucket, cut, 400, "MalformedPOSTRequest")


def test_fields_before_the_file_are_limited_to_20_kib(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    url, fields = presigned(s3v4, bucket, "k")
    answer = post(url, {**fields, "x-ignore-padding": "x" * 21000})
    error = refused(s3v4, bucket, answer, 400, "MaxPostPreDataLengthExceeded")
    assert error["MaxPostPreDataLengthBytes"] == "20480"


# --- a browser's cross-origin upload ---------------------------------------------------


def test_a_cross_origin_upload_as_a_browser_makes_it(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    origin = "https://app.example.com"
    s3v4.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [origin],
                    "AllowedMethods": ["POST"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag", "Location"],
                    "MaxAgeSeconds": 300,
                }
            ]
        },
    )
    url, fields = presigned(s3v4, bucket, "uploads/${filename}")
    # The page's script uploads with progress events, so the browser asks first.
    asked = httpx.options(
        url,
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert asked.status_code == 200
    assert asked.headers["access-control-allow-origin"] == origin
    assert "POST" in asked.headers["access-control-allow-methods"]
    assert asked.headers["access-control-allow-headers"] == "content-type"
    answer = post(
        url, fields, b"from the page", headers={"origin": origin, "referer": origin + "/"}
    )
    assert answer.status_code == 204, answer.text
    assert answer.headers["access-control-allow-origin"] == origin
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert answer.headers["access-control-expose-headers"] == "ETag, Location"
    assert answer.headers["etag"] == f'"{hashlib.md5(b"from the page").hexdigest()}"'
    # A refusal reaches the page too, so its script can show why.
    fields["key"] = "elsewhere/x"
    failed = post(url, fields, headers={"origin": origin})
    assert failed.status_code == 403
    assert failed.headers["access-control-allow-origin"] == origin
    # Another site's page is not allowed to ask.
    other = httpx.options(
        url, headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert other.status_code == 403


def test_virtual_host_style_preflight_and_upload(
    post_server: PostServer, s3v4: S3Client, bucket: str
) -> None:
    origin = "https://app.example.com"
    rule: CORSRuleTypeDef = {"AllowedOrigins": [origin], "AllowedMethods": ["POST"]}
    s3v4.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    host = {"host": f"{bucket}.{DOMAIN}"}
    asked = httpx.options(
        post_server.url + "/photo.jpg",
        headers={**host, "origin": origin, "access-control-request-method": "POST"},
    )
    assert asked.status_code == 200
    assert asked.headers["access-control-allow-origin"] == origin
    _, fields = presigned(s3v4, bucket, "v/${filename}")
    answer = post(post_server.url + "/", fields, b"vhost", headers={**host, "origin": origin})
    assert answer.status_code == 204, answer.text
    assert answer.headers["location"] == f"http://{bucket}.{DOMAIN}/v%2Fphoto.jpg"
    assert answer.headers["access-control-allow-origin"] == origin
    assert s3v4.get_object(Bucket=bucket, Key="v/photo.jpg")["Body"].read() == b"vhost"


# --- chute serve, with authentication off ---------------------------------------------


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``chute serve`` with authentication turned off."""
    data = tmp_path_factory.mktemp("chute-open")
    with start_server(data, env={"CHUTE_AUTH__ENABLED": "false"}) as server:
        yield server


def test_forms_on_chute_serve_without_access_keys(open_server: LiveServer) -> None:
    s3_server = open_server
    """No keys, no signature to check (as for every request): the policy still holds."""
    s3 = client(s3_server, "chute-test", signature_version="s3v4")
    name = f"p-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    url, fields = presigned(s3, name, "in/${filename}", Conditions=[["content-length-range", 1, 9]])
    assert post(url, fields, b"tiny").status_code == 204
    assert s3.get_object(Bucket=name, Key="in/photo.jpg")["Body"].read() == b"tiny"
    assert post(url, fields, b"far too large").status_code == 400
    assert post(url, {**fields, "key": "out/x"}).status_code == 403


def _multipart(parts: list[tuple[str, str | bytes]]) -> tuple[bytes, str]:
    """A form body in the given order (``bytes`` values are files)."""
    boundary = uuid.uuid4().hex
    chunks = []
    for name, value in parts:
        if isinstance(value, bytes):
            head = f'Content-Disposition: form-data; name="{name}"; filename="{name}.bin"\r\n'
            chunks.append(f"--{boundary}\r\n{head}\r\n".encode() + value + b"\r\n")
        else:
            head = f'Content-Disposition: form-data; name="{name}"\r\n'
            chunks.append(f"--{boundary}\r\n{head}\r\n{value}\r\n".encode())
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
