"""The JSON API over a real server process: status codes, streaming, hostile clients."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests.e2e.conftest import ROOT_AUTH, root_signer, start_server, wait_until

API = "/_/api/v1"


@pytest.fixture(scope="module")
def client(live_server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url + API, timeout=30, auth=root_signer()) as client:
        yield client


@pytest.fixture
def bucket(client: httpx.Client, request: pytest.FixtureRequest) -> str:
    name = "t-" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]
    assert client.put(f"/buckets/{name}").status_code == 201
    return name


def obj(bucket: str, key: str) -> str:
    return f"/buckets/{bucket}/objects/{quote(key, safe='/')}"


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"code", "message"}
    return str(body["code"])


def raw_request(url: str, head: bytes, body: bytes = b"", hang_up: bool = False) -> bytes:
    """Send bytes as they are (no client-side fixing, but the root key's bearer header
    after the request line) and return all the server says until it closes the
    connection; ``hang_up`` closes our side first (a client that goes away mid-request)."""
    line, _, rest = head.partition(b"\r\n")
    head = line + f"\r\nAuthorization: {ROOT_AUTH['authorization']}\r\n".encode() + rest
    parts = urlsplit(url)
    assert parts.hostname
    assert parts.port
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + body)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def partial_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs" / ".partial").glob("*") if p.is_file()]


# --- happy paths -----------------------------------------------------------------------


def test_put_get_head_delete(client: httpx.Client, bucket: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    put = client.put(
        obj(bucket, "a dir/ü file.bin"),
        content=data,
        headers={"content-type": "application/x-test", "x-chute-meta-Owner": "ann"},
    )
    assert put.status_code == 200
    info = put.json()
    assert info["size"] == len(data)
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert put.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'

    got = client.get(obj(bucket, "a dir/ü file.bin"))
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "application/x-test"
    assert got.headers["x-chute-meta-owner"] == "ann"
    assert got.headers["content-length"] == str(len(data))

    head = client.head(obj(bucket, "a dir/ü file.bin"))
    assert (head.status_code, head.headers["content-length"]) == (200, str(len(data)))
    assert head.content == b""

    assert client.delete(obj(bucket, "a dir/ü file.bin")).status_code == 204
    missing = client.get(obj(bucket, "a dir/ü file.bin"))
    assert (missing.status_code, error_code(missing)) == (404, "NoSuchKey")
    assert client.head(obj(bucket, "a dir/ü file.bin")).status_code == 404


def test_ranges(client: httpx.Client, bucket: str) -> None:
    client.put(obj(bucket, "r"), content=bytes(range(256)))
    part = client.get(obj(bucket, "r"), headers={"range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == bytes(range(10, 20))
    assert part.headers["content-range"] == "bytes 10-19/256"
    beyond = client.get(obj(bucket, "r"), headers={"range": "bytes=300-400"})
    assert (beyond.status_code, error_code(beyond)) == (416, "InvalidRange")
    assert beyond.headers["content-range"] == "bytes */256"


def test_conditional_requests(client: httpx.Client, bucket: str) -> None:
    etag = client.put(obj(bucket, "c"), content=b"v1").headers["etag"]
    assert client.get(obj(bucket, "c"), headers={"if-none-match": etag}).status_code == 304
    assert client.get(obj(bucket, "c"), headers={"if-match": '"nope"'}).status_code == 412
    assert client.get(obj(bucket, "c"), headers={"if-match": etag}).content == b"v1"


def test_versioning_over_http(client: httpx.Client, bucket: str) -> None:
    enabled = client.put(f"/buckets/{bucket}/versioning", json={"status": "enabled"})
    assert enabled.json() == {"status": "enabled"}
    v1 = client.put(obj(bucket, "k"), content=b"one").json()["version_id"]
    client.put(obj(bucket, "k"), content=b"two")
    assert client.get(obj(bucket, "k"), params={"version_id": v1}).content == b"one"
    deleted = client.delete(obj(bucket, "k"))
    assert deleted.headers["x-chute-delete-marker"] == "true"
    gone = client.get(obj(bucket, "k"))
    assert gone.status_code == 404
    assert gone.headers["x-chute-delete-marker"] == "true"
    unknown = client.get(obj(bucket, "k"), params={"version_id": "nope"})
    assert (unknown.status_code, error_code(unknown)) == (404, "NoSuchVersion")
    versions = client.get(f"/buckets/{bucket}/versions").json()["versions"]
    assert [v.get("delete_marker", False) for v in versions] == [True, False, False]
    detail = client.get(f"/buckets/{bucket}/detail/k").json()
    assert len(detail["versions"]) == 3
    assert [e["record"]["eventName"] for e in detail["events"]] == [
        "ObjectCreated:Put",
        "ObjectCreated:Put",
        "ObjectRemoved:DeleteMarkerCreated",
    ]


def test_listing_and_copy(client: httpx.Client, bucket: str) -> None:
    for key in ["a/1", "a/2", "b"]:
        client.put(obj(bucket, key), content=key.encode())
    listing = client.get(f"/buckets/{bucket}/objects", params={"delimiter": "/"}).json()
    assert [o["key"] for o in listing["objects"]] == ["b"]
    assert listing["common_prefixes"] == ["a/"]
    copied = client.post(
        "/copy",
        json={
            "source": {"bucket": bucket, "key": "a/1"},
            "destination": {"bucket": bucket, "key": "c"},
        },
    )
    assert copied.status_code == 200
    assert client.get(obj(bucket, "c")).content == b"a/1"


def test_events_feed(client: httpx.Client, bucket: str) -> None:
    cursor = client.get("/events", params={"limit": 1000, "bucket": bucket}).json()["next_cursor"]
    client.put(obj(bucket, "e1"), content=b"x")
    client.delete(obj(bucket, "e1"))
    page = client.get("/events", params={"after": cursor, "bucket": bucket}).json()
    names = [e["record"]["eventName"] for e in page["events"]]
    assert names == ["ObjectCreated:Put", "ObjectRemoved:Delete"]
    assert page["next_cursor"] == page["events"][-1]["id"]


def test_openapi_document(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert f"{API}/buckets/{{bucket}}/objects/{{key}}" in spec["paths"]


#: Operations whose answers are bytes or headers, not JSON.
NOT_JSON = {
    ("get", "/buckets/{bucket}/objects/{key}"),
    ("head", "/buckets/{bucket}/objects/{key}"),
    ("delete", "/buckets/{bucket}/objects/{key}"),
    ("delete", "/buckets/{bucket}"),
    ("delete", "/keys/{key_id}"),
}


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            yield method, path.removeprefix(API), operation


def _schema(spec: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_openapi_describes_every_json_answer(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    described = set()
    for method, path, operation in _operations(spec):
        if (method, path) in NOT_JSON:
            continue
        success = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert len(success) == 1, (method, path)
        (response,) = success.values()
        assert _schema(spec, response).get("properties"), (method, path, response)
        described.add((method, path))
    assert {
        ("get", "/health"),
        ("get", "/ready"),
        ("get", "/buckets"),
        ("put", "/buckets/{bucket}/objects/{key}"),
        ("post", "/copy"),
        ("get", "/buckets/{bucket}/versions"),
        ("get", "/buckets/{bucket}/detail/{key}"),
        ("get", "/events"),
        ("get", "/buckets/{bucket}/status/{key}"),
        ("get", "/buckets/{bucket}/metadata"),
        ("get", "/jobs"),
        ("get", "/jobs/{job_id}"),
        ("get", "/dead"),
        ("post", "/dead/redrive"),
        ("post", "/pipelines/{name}/reprocess"),
        ("get", "/pipelines"),
        ("get", "/functions"),
        ("get", "/functions/{name}"),
        ("post", "/functions/{name}/invoke"),
        ("get", "/functions/{name}/logs"),
    } <= described


def test_openapi_describes_the_error_body(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["properties"]) == {"code", "message"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for method, path, operation in _operations(spec):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)  # bad parameters answer 400
        errors = {s: r for s, r in responses.items() if s == "default" or s >= "400"}
        if (method, path) == ("get", "/ready"):  # not ready is an answer: each component
            assert _schema(spec, errors.pop("503")) == _schema(spec, responses["200"])
        assert "default" in errors, (method, path)
        for response in errors.values():
            assert _schema(spec, response) == error, (method, path)
    jobs = spec["paths"][f"{API}/jobs/{{job_id}}"]["get"]["responses"]
    assert (jobs["400"]["description"], jobs["404"]["description"]) == (
        "InvalidArgument",
        "NoSuchJob",
    )


# --- errors ------------------------------------------------------------------------------


def test_bucket_errors(client: httpx.Client, bucket: str) -> None:
    again = client.put(f"/buckets/{bucket}")
    assert (again.status_code, error_code(again)) == (409, "BucketAlreadyExists")
    bad = client.put("/buckets/Bad_Name")
    assert (bad.status_code, error_code(bad)) == (400, "InvalidBucketName")
    client.put(obj(bucket, "x"), content=b"x")
    full = client.delete(f"/buckets/{bucket}")
    assert (full.status_code, error_code(full)) == (409, "BucketNotEmpty")
    absent = client.get("/buckets/no-such-bucket-here/objects")
    assert (absent.status_code, error_code(absent)) == (404, "NoSuchBucket")


def test_the_status_of_a_missing_version_is_no_such_version(
    client: httpx.Client, bucket: str
) -> None:
    client.put(obj(bucket, "k"), content=b"x")
    status = f"/buckets/{bucket}/status/k"
    assert client.get(status).json()["status"] == "none"
    missing = client.get(status, params={"version_id": "nope"})
    assert (missing.status_code, error_code(missing)) == (404, "NoSuchVersion")


@pytest.mark.parametrize(
    ("raw_key", "status"),
    [
        ("..%2Fescape", 400),
        ("a/../b", 400),
        ("nul%00byte", 400),
        ("bad%FFutf8", 400),
        ("k" * 1025, 400),
        ("%2Fabsolute%2Fpath", 200),
        ("back%5Cslash", 200),
        ("line%0Abreak", 200),
        ("carriage%0Dreturn", 200),
    ],
)
def test_hostile_keys(live_server: Any, bucket: str, raw_key: str, status: int) -> None:
    path = f"{API}/buckets/{bucket}/objects/{raw_key}".encode()
    head = (
        b"PUT " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n"
    )
    response = raw_request(live_server.url, head, b"hi")
    assert response.startswith(f"HTTP/1.1 {status}".encode()), response[:200]
    if status == 400:
        assert b'"code":"InvalidKey"' in response
    # Keys never become paths: every stored file is named by a Chute blob id.
    blobs = Path(live_server.data_dir) / "blobs"
    names = {p.name for p in blobs.rglob("*") if p.is_file()}
    assert all(re.fullmatch(r"[0-9a-f]{32}", name) for name in names), names


def test_missing_length_is_411(live_server: Any, bucket: str) -> None:
    head = (
        f"PUT {API}/buckets/{bucket}/objects/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ).encode()
    response = raw_request(live_server.url, head)
    assert response.startswith(b"HTTP/1.1 411"), response[:200]
    assert b"MissingContentLength" in response


def test_chunked_upload_is_accepted(client: httpx.Client, bucket: str) -> None:
    def body() -> Iterator[bytes]:
        yield b"abc" * 100_000
        yield b"def"

    put = client.put(obj(bucket, "chunked"), content=body())
    assert put.status_code == 200
    assert client.get(obj(bucket, "chunked")).content == b"abc" * 100_000 + b"def"


def test_too_large_is_413(live_server: Any, client: httpx.Client, bucket: str) -> None:
    head = (
        f"PUT {API}/buckets/{bucket}/objects/huge HTTP/1.1\r\nHost: x\r\n"
        f"Connection: close\r\nContent-Length: {10**15}\r\n\r\n"
    ).encode()
    response = raw_request(live_server.url, head, b"x" * 100)
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b"EntityTooLarge" in response
    assert client.get(f"/buckets/{bucket}/objects").json()["objects"] == []


def test_body_shorter_than_length_stores_nothing(
    live_server: Any, client: httpx.Client, bucket: str
) -> None:
    """The client promises 1 MiB + 1, sends 100 KiB and hangs up."""
    head = (
        f"PUT {API}/buckets/{bucket}/objects/cut HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {2**20 + 1}\r\n\r\n"
    ).encode()
    raw_request(live_server.url, head, b"x" * 100_000, hang_up=True)
    wait_until(lambda: not partial_files(Path(live_server.data_dir)))
    assert client.get(obj(bucket, "cut")).status_code == 404
    events = client.get("/events", params={"bucket": bucket, "limit": 1000}).json()["events"]
    assert events == []


def test_small_body_cut_short_stores_nothing(
    live_server: Any, client: httpx.Client, bucket: str
) -> None:
    head = (
        f"PUT {API}/buckets/{bucket}/objects/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    raw_request(live_server.url, head, b"x" * 50, hang_up=True)
    wait_until(lambda: not partial_files(Path(live_server.data_dir)))
    assert client.get(obj(bucket, "cut")).status_code == 404
    assert client.get("/events", params={"bucket": bucket}).json()["events"] == []


def test_body_longer_than_length_stores_exactly_length(
    live_server: Any, client: httpx.Client, bucket: str
) -> None:
    """As in S3, only Content-Length bytes belong to the object. The surplus is parsed as
    a next request, which is malformed: the server answers 400 and closes. Whether the
    first request still completes depends on whether its body was read before the close;
    either way the surplus never becomes part of an object."""
    head = (
        f"PUT {API}/buckets/{bucket}/objects/long HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
    ).encode()
    response = raw_request(live_server.url, head, b"12345 and some more garbage\r\n\r\n")
    assert b"HTTP/1.1 400" in response or response.startswith(b"HTTP/1.1 200")
    with contextlib.suppress(AssertionError):
        wait_until(lambda: client.get(obj(bucket, "long")).status_code == 200, timeout=3)
    listed = client.get(f"/buckets/{bucket}/objects").json()["objects"]
    assert [o["key"] for o in listed] in ([], ["long"])
    if listed:
        assert client.get(obj(bucket, "long")).content == b"12345"


def test_buckets_named_like_path_words(client: httpx.Client) -> None:
    for name in ("objects", "detail"):
        client.put(f"/buckets/{name}")
        put = client.put(obj(name, "objects/detail/k"), content=b"tricky")
        assert put.json()["key"] == "objects/detail/k"
        assert client.get(obj(name, "objects/detail/k")).content == b"tricky"
        detail = client.get(f"/buckets/{name}/detail/objects/detail/k").json()
        assert detail["key"] == "objects/detail/k"


def test_copy_with_bad_metadata_is_refused(client: httpx.Client, bucket: str) -> None:
    client.put(obj(bucket, "src"), content=b"x")
    refused = client.post(
        "/copy",
        json={
            "source": {"bucket": bucket, "key": "src"},
            "destination": {"bucket": bucket, "key": "dst"},
            "metadata": {"x": "日本"},
        },
    )
    assert (refused.status_code, error_code(refused)) == (400, "InvalidArgument")
    assert client.get(obj(bucket, "dst")).status_code == 404


def test_empty_object_and_ranges(client: httpx.Client, bucket: str) -> None:
    assert client.put(obj(bucket, "empty"), content=b"").json()["size"] == 0
    whole = client.get(obj(bucket, "empty"))
    assert (whole.status_code, whole.content) == (200, b"")
    ranged = client.get(obj(bucket, "empty"), headers={"range": "bytes=-5"})
    assert (ranged.status_code, error_code(ranged)) == (416, "InvalidRange")


def test_32_streaming_writers_same_key(live_server: Any, client: httpx.Client) -> None:
    """Bodies over 1 MiB go through the streaming path; last writer wins and every
    version holds exactly the bytes its writer sent."""
    from concurrent.futures import ThreadPoolExecutor

    client.put("/buckets/race-streams", json={"versioning": "enabled"})
    payloads = {i: os.urandom(3 * 2**19) for i in range(32)}

    def upload(i: int) -> tuple[str, str]:
        with httpx.Client(base_url=live_server.url + API, timeout=60, auth=root_signer()) as own:
            put = own.put(obj("race-streams", "same"), content=payloads[i])
            assert put.status_code == 200
            return put.json()["version_id"], hashlib.sha256(payloads[i]).hexdigest()

    with ThreadPoolExecutor(32) as pool:
        written = dict(pool.map(upload, payloads))
    versions = client.get("/buckets/race-streams/detail/same").json()["versions"]
    assert len(versions) == 32
    assert [v["is_latest"] for v in versions].count(True) == 1
    for version in versions:
        assert written[version["version_id"]] == version["sha256"]
        body = client.get(obj("race-streams", "same"), params={"version_id": version["version_id"]})
        assert hashlib.sha256(body.content).hexdigest() == version["sha256"]


@pytest.mark.parametrize("declared", [100, 4 * 2**20])
def test_stalled_upload_times_out(tmp_path: Path, declared: int) -> None:
    """A client that stops sending mid-body gets 408 and frees its thread; nothing is
    stored. (Small bodies are read whole, large ones stream: both paths.)"""
    env = {"CHUTE_BODY_TIMEOUT_SECONDS": "0.5"}
    with start_server(tmp_path / "data", env=env) as server:
        httpx.put(f"{server.url}{API}/buckets/stall", headers=ROOT_AUTH)
        head = (
            f"PUT {API}/buckets/stall/objects/k HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {ROOT_AUTH['authorization']}\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head + b"x" * 10)  # then nothing more, connection kept open
            answer = b""
            while b"RequestTimeout" not in answer and (chunk := sock.recv(65536)):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"code":"RequestTimeout"' in answer
        missing = httpx.get(f"{server.url}{API}/buckets/stall/objects/k", headers=ROOT_AUTH)
        assert missing.status_code == 404
        wait_until(lambda: not partial_files(Path(server.data_dir)))


# --- processing --------------------------------------------------------------------------

#: A server configuration with one pipeline: images under photos/in/.
PHOTOS_CONFIG = """
[worker]
processes = 1
[pipelines.photos]
trigger = { bucket = "photos", prefix = "in/", content_type = "image/*" }
steps = [{ name = "n", processor = "noop" }]
"""


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A client of a server that runs the ``photos`` pipeline."""
    data_dir = tmp_path_factory.mktemp("photos")
    config = data_dir / "chute.toml"
    config.write_text(PHOTOS_CONFIG)
    with (
        start_server(data_dir, {"CHUTE_CONFIG": str(config)}) as server,
        httpx.Client(base_url=server.url + API, timeout=30, auth=root_signer()) as client,
    ):
        yield client


def reprocess(client: httpx.Client, **selection: str) -> httpx.Response:
    return client.post("/pipelines/photos/reprocess", json={"bucket": "photos", **selection})


def test_reprocess_a_prefix_that_ends_in_the_last_code_point(photos: httpx.Client) -> None:
    image = {"content-type": "image/jpeg"}
    put = photos.put(obj("photos", "in/\U0010ffff.jpg"), content=b"x", headers=image)
    assert put.status_code == 200
    answer = reprocess(photos, prefix="in/\U0010ffff")
    assert (answer.status_code, answer.json()) == (200, {"runs": 1, "skipped": 0})


def test_reprocess_selects_what_the_trigger_matches(photos: httpx.Client) -> None:
    for key, content_type in [("in/mixed/a.jpg", "image/jpeg"), ("in/mixed/a.txt", "text/plain")]:
        put = photos.put(obj("photos", key), content=b"x", headers={"content-type": content_type})
        assert put.status_code == 200
    answer = reprocess(photos, prefix="in/mixed/")
    assert (answer.status_code, answer.json()) == (200, {"runs": 1, "skipped": 1})


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (
            {"bucket": "processed", "prefix": "in/"},
            "pipeline 'photos' does not run on processed/in/*: trigger.bucket is 'photos'",
        ),
        (
            {"prefix": "out/"},
            "pipeline 'photos' does not run on photos/out/*: trigger.prefix is 'in/'",
        ),
        (
            {"key": "in/refused.txt"},
            "pipeline 'photos' does not run on photos/in/refused.txt: "
            "trigger.content_type is 'image/*'",
        ),
    ],
)
def test_reprocess_refuses_what_the_trigger_rules_out(
    photos: httpx.Client, selection: dict[str, str], message: str
) -> None:
    put = photos.put(obj("photos", "in/refused.txt"), content=b"x")
    assert put.status_code == 200
    refused = reprocess(photos, **selection)
    assert (refused.status_code, error_code(refused)) == (400, "InvalidArgument")
    assert refused.json()["message"] == message
