"""HTTPS: a server with a certificate from a test CA (trustme) on loopback, reached by
the JSON API, the ``chute`` command (``--ca-bundle``, ``CHUTE_CA_BUNDLE`` or
``SSL_CERT_FILE``) and boto3 (which sends its checksums in trailers over HTTPS); a client
that does not trust the CA is refused."""

from __future__ import annotations

import base64
import io
import os
import ssl
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
import trustme
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from typer.testing import CliRunner

from chute.cli.main import app
from tests.e2e.conftest import ROOT_KEY, LiveServer, root_signer, start_server

API = "/_/api/v1"


@dataclass
class TlsServer:
    server: LiveServer
    #: The test CA's certificate, PEM.
    ca_file: Path
    trust: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    cert_file.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    env = {"CHUTE_TLS__CERT_FILE": str(cert_file), "CHUTE_TLS__KEY_FILE": str(key_file)}
    with start_server(folder / "data", env, https=trust) as server:
        yield TlsServer(server, ca_file, trust)


def test_the_json_api_over_https(tls: TlsServer) -> None:
    assert tls.server.url.startswith("https://127.0.0.1:")
    with httpx.Client(
        base_url=tls.server.url + API, verify=tls.trust, auth=root_signer()
    ) as client:
        assert client.put("/buckets/secure").status_code == 201
        assert client.put("/buckets/secure/objects/a", content=b"over tls").status_code == 200
        assert client.get("/buckets/secure/objects/a").content == b"over tls"
        assert client.get("/buckets", auth=None).status_code == 403  # still deny by default


def test_plain_http_to_the_tls_port_gets_no_answer(tls: TlsServer) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(tls.server.url.replace("https://", "http://") + API + "/health")


def test_a_client_that_does_not_trust_the_ca_is_refused(tls: TlsServer) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(tls.server.url + API + "/health")
    result = CliRunner().invoke(app, ["--url", tls.server.url, "ls"])
    assert result.exit_code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr


def test_the_cli_over_https(
    tls: TlsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "f.txt"
    source.write_bytes(b"through the cli")
    url = ["--url", tls.server.url]
    bundle = ["--ca-bundle", str(tls.ca_file)]
    for args in (["mb", "cli-tls"], ["put", str(source), "cli-tls/f.txt"]):
        result = CliRunner().invoke(app, [*url, *bundle, *args])
        assert result.exit_code == 0, result.stderr
    monkeypatch.setenv("CHUTE_CA_BUNDLE", str(tls.ca_file))
    got = CliRunner().invoke(app, [*url, "get", "cli-tls/f.txt", "-"])
    assert got.exit_code == 0, got.stderr
    assert got.stdout_bytes == b"through the cli"
    monkeypatch.delenv("CHUTE_CA_BUNDLE")
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    listed = CliRunner().invoke(app, [*url, "ls", "cli-tls"])
    assert listed.exit_code == 0, listed.stderr
    assert "f.txt" in listed.stdout


def test_s3_clients_over_https_send_checksums_in_trailers(tls: TlsServer) -> None:
    # Over HTTPS botocore leaves the payload unsigned and sends its CRC32 after the body,
    # in an aws-chunked trailer: the form it uses against AWS for every streamed upload.
    s3 = boto3.client(
        "s3",
        endpoint_url=tls.server.url,
        region_name="us-east-1",
        aws_access_key_id=ROOT_KEY.access_key,
        aws_secret_access_key=ROOT_KEY.secret_key,
        verify=str(tls.ca_file),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    sent: list[bytes] = []
    s3.meta.events.register(
        "before-send.s3.*",
        lambda request, **_: sent.append(request.headers.get("x-amz-content-sha256", b"")),
    )
    s3.create_bucket(Bucket="tls-s3")
    data = os.urandom(12 * 1024 * 1024)
    s3.upload_fileobj(
        io.BytesIO(data),
        "tls-s3",
        "big.bin",
        Config=TransferConfig(multipart_threshold=5 * 1024 * 1024),
    )
    s3.put_object(Bucket="tls-s3", Key="small.txt", Body=io.BytesIO(b"small"))
    assert sent.count(b"STREAMING-UNSIGNED-PAYLOAD-TRAILER") >= 3  # two parts, one put

    assert s3.get_object(Bucket="tls-s3", Key="big.bin")["Body"].read() == data
    head = s3.head_object(Bucket="tls-s3", Key="small.txt", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == base64.b64encode(zlib.crc32(b"small").to_bytes(4)).decode()
