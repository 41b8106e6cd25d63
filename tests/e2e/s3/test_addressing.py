"""Virtual-host style requests when ``s3.domain`` is set; path style always; the JSON
API beside the S3 API on one port; ``Expect: 100-continue``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveServer, start_server
from tests.e2e.s3.conftest import s3_client
from tests.e2e.s3.signing import send, signed_headers

DOMAIN = "s3.example.test"


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data: Path = tmp_path_factory.mktemp("chute-vhost")
    with start_server(data, env={"CHUTE_S3__DOMAIN": DOMAIN}) as server:
        yield server


def test_virtual_host_style(hosted: LiveServer) -> None:
    s3 = s3_client(hosted)
    s3.create_bucket(Bucket="photos")
    host = f"photos.{DOMAIN}:{hosted.port}"
    put = send(hosted, "PUT", "/cat.jpg", b"meow", host=host)
    assert put.status_code == 200, put.text
    assert s3.get_object(Bucket="photos", Key="cat.jpg")["Body"].read() == b"meow"
    listing = send(hosted, "GET", "/?list-type=2", host=host)
    assert "<Key>cat.jpg</Key>" in listing.text
    # A key starting with "_/" is still an object when the bucket is in the host name.
    odd = send(hosted, "PUT", "/_/api/v1/health", b"not the JSON API", host=host)
    assert odd.status_code == 200
    assert (
        s3.get_object(Bucket="photos", Key="_/api/v1/health")["Body"].read() == b"not the JSON API"
    )


def test_path_style_still_works_with_a_domain(hosted: LiveServer) -> None:
    s3 = s3_client(hosted)
    s3.create_bucket(Bucket="paths")
    s3.put_object(Bucket="paths", Key="k", Body=b"v")
    assert s3.get_object(Bucket="paths", Key="k")["Body"].read() == b"v"


def test_expect_100_continue(hosted: LiveServer) -> None:
    s3 = s3_client(hosted)
    s3.create_bucket(Bucket="expect")
    body = b"x" * 5000
    headers = signed_headers(hosted, "PUT", "/expect/k", body, {"Expect": "100-continue"})
    head = f"PUT /expect/k HTTP/1.1\r\nHost: 127.0.0.1:{hosted.port}\r\n"
    head += f"Content-Length: {len(body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", hosted.port), timeout=10) as sock:
        sock.sendall(head.encode())
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(body)
        final = b""
        while b"\r\n\r\n" not in final:
            final += sock.recv(4096)
    assert final.startswith(b"HTTP/1.1 200")
    assert s3.head_object(Bucket="expect", Key="k")["ContentLength"] == 5000
