"""A server facing a hostile network, over a real server process: what no client may make
it buffer, how long a connection may idle or dribble, how many it keeps open, and what a
client gets while the catalog database is down."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.conftest import (
    HEALTH_PATH,
    ROOT_AUTH,
    ROOT_AUTH_LINE,
    LiveServer,
    start_server,
    wait_until,
)
from tests.e2e.s3.signing import error_code, send
from tests.services import POSTGRES_URL, require_postgres

API = "/_/api/v1"
MiB = 1024 * 1024
HEADER_TIMEOUT = 2.0
KEEP_ALIVE = 0.5
MAX_CONNECTIONS = 24
LIMITED = {
    "CHUTE_HTTP__HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    "CHUTE_HTTP__KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
    "CHUTE_HTTP__MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    "CHUTE_WORKER__PROCESSES": "1",
    "CHUTE_BUCKETS": '["limits"]',
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(tmp_path_factory.mktemp("chute-limits"), env=LIMITED) as server:
        yield server


def connect(server: LiveServer, timeout: float = 10.0) -> socket.socket:
    parts = urlsplit(server.url)
    assert parts.hostname
    assert parts.port
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def send_and_read(server: LiveServer, data: bytes, block: int = MiB) -> bytes:
    """Send ``data`` (a write the server cuts off is fine), then read until it closes."""
    with connect(server) as sock:
        try:
            for start in range(0, len(data), block):
                sock.sendall(data[start : start + block])
        except OSError:
            pass
        return read_to_end(sock)


def read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


def error_of(response: bytes) -> str:
    """The error code of a JSON or an S3 XML error answer."""
    body = response.partition(b"\r\n\r\n")[2]
    if body.startswith(b"<?xml"):
        return body.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode()
    code: str = json.loads(body)["code"]
    return code


def rss_mib(server: LiveServer) -> float:
    """The server process's resident memory (its worker processes not included)."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmRSS:")]
    return int(line.split()[1]) / 1024


def get(path: str) -> bytes:
    return f"GET {API}{path} HTTP/1.1\r\nHost: x\r\n".encode()


# --- request heads ------------------------------------------------------------------------


def test_forty_megabyte_header_lines_are_refused_without_growing_memory(
    server: LiveServer,
) -> None:
    before = rss_mib(server)
    line = get("/health") + b"X-Big: " + b"a" * (40 * MiB) + b"\r\n\r\n"
    answers: list[bytes] = []

    def attack() -> None:
        answers.append(send_and_read(server, line))

    started = time.monotonic()
    threads = [threading.Thread(target=attack) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 30
    assert len(answers) == 12
    answered = [a for a in answers if a]
    assert answered, "at least the connections that finished sending read their answer"
    assert {(status_of(a), error_of(a)) for a in answered} == {
        (431, "RequestHeaderSectionTooLarge")
    }
    assert rss_mib(server) - before < 64  # it grew by 500 MiB before the cap


def test_an_eight_megabyte_header_is_431(server: LiveServer) -> None:
    answer = send_and_read(server, get("/health") + b"X-Big: " + b"a" * (8 * MiB) + b"\r\n\r\n")
    assert status_of(answer) == 431


def test_refusals_before_routing_answer_s3_paths_in_xml(server: LiveServer) -> None:
    head = b"PUT /limits/key HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (64 * 1024) + b"\r\n\r\n"
    answer = send_and_read(server, head)
    assert (status_of(answer), error_of(answer)) == (431, "RequestHeaderSectionTooLarge")
    assert b"content-type: application/xml" in answer.partition(b"\r\n\r\n")[0].lower()
    long_target = f"GET /limits/{'k' * 20000} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    answer = send_and_read(server, long_target)
    assert (status_of(answer), error_of(answer)) == (414, "RequestURITooLong")
    assert answer.partition(b"\r\n\r\n")[2].startswith(b"<?xml")


def test_twenty_thousand_headers_are_431(server: LiveServer) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(20_000))
    answer = send_and_read(server, get("/health") + headers + b"\r\n")
    assert (status_of(answer), error_of(answer)) == (431, "RequestHeaderSectionTooLarge")


def test_a_long_request_target_is_414(server: LiveServer) -> None:
    target = f"{API}/health?pad={'a' * (20 * 1024)}".encode()
    answer = send_and_read(server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status_of(answer), error_of(answer)) == (414, "RequestURITooLong")


def test_a_presigned_url_and_sigv4_headers_fit(server: LiveServer) -> None:
    query = "&".join(f"X-Amz-P{i}={'q' * 100}" for i in range(60))  # about 6.5 KB
    headers = {f"x-amz-h{i}": "v" * 200 for i in range(40)}  # about 8.5 KB
    response = httpx.get(f"{server.url}{API}/health?{query}", headers=headers)
    assert response.status_code == 200


# --- bodies that are not objects ----------------------------------------------------------


def copy_head(length: int | None) -> bytes:
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (
        f"POST {API}/copy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\n{framing}\r\n\r\n"
    ).encode()


def test_a_huge_json_body_is_refused_from_its_length(server: LiveServer) -> None:
    with connect(server) as sock:
        sock.sendall(copy_head(300 * MiB) + b'{"source": ')  # and nothing more
        answer = read_to_end(sock)
    assert (status_of(answer), error_of(answer)) == (400, "MaxMessageLengthExceeded")


def test_a_chunked_json_body_is_cut_off_at_the_cap(server: LiveServer) -> None:
    before = rss_mib(server)
    chunk = b"%x\r\n%s\r\n" % (MiB, b" " * MiB)
    with connect(server) as sock:
        sock.sendall(copy_head(None))
        try:
            for _ in range(64):
                sock.sendall(chunk)
        except OSError:
            pass
        answer = read_to_end(sock)
    assert (status_of(answer), error_of(answer)) == (400, "MaxMessageLengthExceeded")
    assert rss_mib(server) - before < 32


def test_metadata_over_two_kilobytes_is_metadata_too_large(server: LiveServer) -> None:
    response = httpx.put(
        f"{server.url}{API}/buckets/limits/objects/meta",
        content=b"x",
        headers={"x-chute-meta-big": "v" * 2100, **ROOT_AUTH},
    )
    assert (response.status_code, response.json()["code"]) == (400, "MetadataTooLarge")


# --- connections --------------------------------------------------------------------------


def test_an_idle_keep_alive_connection_is_closed(server: LiveServer) -> None:
    with connect(server) as sock:
        sock.sendall(get("/health") + b"\r\n")
        answer = sock.recv(65536)
        while not answer.endswith(b"}"):
            answer += sock.recv(65536)
        assert status_of(answer) == 200
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed by the server
        assert KEEP_ALIVE * 0.5 < time.monotonic() - started < KEEP_ALIVE + 3


def test_a_connection_that_never_sends_is_closed_after_the_head_deadline(
    server: LiveServer,
) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        assert sock.recv(65536) == b""
        assert HEADER_TIMEOUT * 0.5 < time.monotonic() - started < HEADER_TIMEOUT + 3


def test_a_slowloris_head_is_cut_off(server: LiveServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        answer = b""
        for byte in get("/health") + b"X-Slow: " + b"s" * 1000:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sock.settimeout(0.1)
            try:
                answer = sock.recv(65536)
                break
            except TimeoutError:
                continue
        sock.settimeout(5)
        answer += read_to_end(sock)
        assert (status_of(answer), error_of(answer)) == (408, "RequestTimeout")
        assert time.monotonic() - started < HEADER_TIMEOUT + 3


def test_over_the_connection_cap_is_503_and_logged_then_served_again(tmp_path: Path) -> None:
    env = {**LIMITED, "CHUTE_HTTP__HEADER_TIMEOUT_SECONDS": "60"}
    with start_server(tmp_path, env=env) as server:
        held = [connect(server) for _ in range(MAX_CONNECTIONS)]
        try:
            wait_until(lambda: _answer_over_cap(server) is not None)
            answer = _answer_over_cap(server)
            assert answer is not None
            assert (status_of(answer), error_of(answer)) == (503, "SlowDown")
            assert b"retry-after: 1\r\n" in answer
        finally:
            for sock in held:
                sock.close()
        wait_until(lambda: _health(server) == 200)
        assert f"connection limit of {MAX_CONNECTIONS} reached" in server.log()


def _answer_over_cap(server: LiveServer) -> bytes | None:
    answer = send_and_read(server, get("/health") + b"Connection: close\r\n\r\n")
    return answer if status_of(answer) == 503 else None


def _health(server: LiveServer) -> int | None:
    try:
        return httpx.get(server.url + HEALTH_PATH, timeout=2).status_code
    except httpx.TransportError:
        return None


# --- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw_key", ["line%0Abreak", "carriage%0Dreturn", "both%0D%0A", "%0A"])
def test_keys_with_newlines_are_objects_like_any_other(server: LiveServer, raw_key: str) -> None:
    url = f"{server.url}{API}/buckets/limits"
    with httpx.Client(timeout=10, headers=ROOT_AUTH) as client:
        assert client.put(f"{url}/objects/{raw_key}", content=b"hi").status_code == 200
        got = client.get(f"{url}/objects/{raw_key}")
        assert (got.status_code, got.content) == (200, b"hi")
        assert client.head(f"{url}/objects/{raw_key}").status_code == 200
        detail = client.get(f"{url}/detail/{raw_key}").json()
        key = detail["key"]
        assert "\n" in key or "\r" in key
        listed = client.get(f"{url}/objects", params={"prefix": key}).json()
        assert [o["key"] for o in listed["objects"]] == [key]
        assert client.delete(f"{url}/objects/{raw_key}").status_code == 204
        assert client.get(f"{url}/objects/{raw_key}").status_code == 404


# --- the catalog database going away ------------------------------------------------------


@pytest.fixture
def scratch_database() -> Iterator[tuple[str, sa.Engine]]:
    """An empty PostgreSQL database of its own (the server migrates it), and an admin
    engine to take it away."""
    require_postgres()
    name = f"chute_down_{int(time.time() * 1000) % 10**9}_{threading.get_ident() % 1000}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(False), admin
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _set_database_down(admin: sa.Engine, url: str, down: bool) -> None:
    name = sa.make_url(url).database
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not down).lower()}')
        if down:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )


@pytest.mark.postgres
def test_database_down_is_503_with_retry_after_and_not_ready(
    tmp_path: Path, scratch_database: tuple[str, sa.Engine]
) -> None:
    url, admin = scratch_database
    env = {**LIMITED, "CHUTE_DATABASE_URL": url}
    with (
        start_server(tmp_path, env=env) as server,
        httpx.Client(timeout=30, headers=ROOT_AUTH) as client,
    ):
        api = server.url + API
        assert client.get(api + "/ready").json()["status"] == "ok"
        _set_database_down(admin, url, down=True)

        small = client.put(api + "/buckets/limits/objects/k", content=b"x")
        assert (small.status_code, small.json()["code"]) == (503, "ServiceUnavailable")
        assert int(small.headers["retry-after"]) >= 1
        listing = client.get(api + "/buckets/limits/objects")
        assert listing.status_code == 503
        s3_put = send(server, "PUT", "/limits/s3-key", b"x")  # the S3 API alike, in XML
        assert (s3_put.status_code, error_code(s3_put)) == (503, "ServiceUnavailable")
        assert int(s3_put.headers["retry-after"]) >= 1
        ready = client.get(api + "/ready")
        assert ready.status_code == 503
        assert "retry-after" in ready.headers
        components = ready.json()["components"]
        assert components["catalog"]["status"] == "unavailable"
        assert components["catalog"]["code"] == "ServiceUnavailable"
        assert components["blobs"]["status"] == "ok"
        assert client.get(api + "/health").status_code == 200  # alive, not ready

        # An upload whose answer comes before its body is sent: the client still reads
        # the 503, never a reset.
        with connect(server) as sock:
            length = 8 * MiB
            sock.sendall(
                f"PUT {API}/buckets/limits/objects/big HTTP/1.1\r\nHost: x\r\n"
                f"{ROOT_AUTH_LINE}Connection: close\r\nContent-Length: {length}\r\n\r\n".encode()
            )
            for _ in range(length // MiB):
                sock.sendall(b"x" * MiB)
            answer = read_to_end(sock)
        assert (status_of(answer), error_of(answer)) == (503, "ServiceUnavailable")

        _set_database_down(admin, url, down=False)
        wait_until(lambda: client.get(api + "/ready").status_code == 200)
        assert client.put(api + "/buckets/limits/objects/k", content=b"x").status_code == 200
        assert "answered 503" in server.log()
        assert "S3 PUT /limits/s3-key answered 503" in server.log()


def test_ready_reports_each_component(server: LiveServer) -> None:
    body: Any = httpx.get(server.url + API + "/ready").json()
    assert body["status"] == "ok"
    assert {name: c["status"] for name, c in body["components"].items()} == {
        "catalog": "ok",
        "blobs": "ok",
    }
