"""A hostile client against a real server: presigned URLs altered to do what their
signer did not sign, and a key limited to one prefix of one bucket reaching for keys
outside it through every operation that names another key, bucket or prefix."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from mypy_boto3_s3 import S3Client

from chute.cli.client.signing import AccessKey, sign
from tests.e2e.conftest import ROOT_AUTH, LiveServer, start_server
from tests.e2e.s3.conftest import REGION, s3_client
from tests.e2e.s3.signing import error_code

DOMAIN = "s3.example.test"
API = "/_/api/v1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with start_server(
        tmp_path_factory.mktemp("chute-hostile"), env={"CHUTE_S3__DOMAIN": DOMAIN}
    ) as live:
        yield live


@pytest.fixture(scope="module")
def root(server: LiveServer) -> S3Client:
    return s3_client(server)


@dataclass(frozen=True)
class Limited:
    """A key that may read and write ``uploads/`` in ``bucket`` only."""

    bucket: str
    other_bucket: str
    credentials: Credentials
    client: S3Client
    v2: S3Client


@pytest.fixture(scope="module")
def limited(server: LiveServer, root: S3Client) -> Iterator[Limited]:
    bucket, other = f"h-{uuid.uuid4().hex[:12]}", f"h-{uuid.uuid4().hex[:12]}"
    for name in (bucket, other):
        root.create_bucket(Bucket=name)
    root.put_object(Bucket=bucket, Key="private.txt", Body=b"secret")
    root.put_object(Bucket=bucket, Key="uploadsX/near.txt", Body=b"near")
    root.put_object(Bucket=other, Key="uploads/theirs.txt", Body=b"theirs")
    made = httpx.post(
        f"{server.url}{API}/keys",
        headers=ROOT_AUTH,
        json={
            "name": "hostile",
            "grants": [
                {"access": ["read", "write"], "buckets": [bucket], "prefixes": ["uploads/"]}
            ],
        },
    )
    assert made.status_code == 201, made.text
    key = made.json()
    credentials = Credentials(key["id"], key["secret"])
    yield Limited(
        bucket,
        other,
        credentials,
        client(server, credentials),
        client(server, credentials, signature_version="s3"),
    )
    httpx.delete(f"{server.url}{API}/keys/{key['id']}", headers=ROOT_AUTH)


def client(server: LiveServer, credentials: Credentials, **config: Any) -> S3Client:
    return s3_client(
        server, access_key=credentials.access_key, secret_key=credentials.secret_key, **config
    )


def send_as(
    server: LiveServer,
    credentials: Credentials,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    host: str | None = None,
) -> httpx.Response:
    """``method path`` signed with SigV4 by ``credentials`` and sent as written, over a
    socket (httpx would remove dot segments), with ``host`` (its port included) as the
    Host header when given."""
    raw_path, _, query = path.encode().partition(b"?")
    sent = httpx.Headers({"host": host or f"127.0.0.1:{server.port}", **(headers or {})})
    wire = SimpleNamespace(
        method=method,
        url=SimpleNamespace(raw_path=raw_path, query=query),
        headers=sent,
        content=body,
    )
    key = AccessKey(credentials.access_key, credentials.secret_key)
    sign(wire, key, REGION, datetime.now(UTC))  # type: ignore[arg-type]
    head = f"{method} {path} HTTP/1.1\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in sent.items())
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, content = rest.partition(b"\r\n\r\n")
    return httpx.Response(int(status_line.split()[1]), content=content)


def s3_error(call: Any) -> tuple[int, str]:
    with pytest.raises(Exception) as caught:  # noqa: PT011  (botocore's ClientError)
        call()
    response = caught.value.response  # type: ignore[attr-defined]
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


DENIED = (403, "AccessDenied")


# --- altered presigned URLs ----------------------------------------------------------


@pytest.fixture
def versioned(root: S3Client) -> tuple[str, str, str]:
    """A versioned bucket whose key ``k`` has two versions: the bucket and their ids."""
    name = f"v-{uuid.uuid4().hex[:12]}"
    root.create_bucket(Bucket=name)
    root.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    first = root.put_object(Bucket=name, Key="k", Body=b"old")["VersionId"]
    second = root.put_object(Bucket=name, Key="k", Body=b"new")["VersionId"]
    return name, first, second


def v2_presigned(server: LiveServer, method: str, params: dict[str, str]) -> str:
    signer = s3_client(server, signature_version="s3")
    operation = {"GET": "get_object", "DELETE": "delete_object", "PUT": "put_object"}[method]
    return signer.generate_presigned_url(operation, Params=params, ExpiresIn=300)


@pytest.mark.parametrize("added", ["%76ersionId={v}", "version%49d={v}"])
def test_a_presigned_delete_cannot_be_pointed_at_a_version(
    server: LiveServer, root: S3Client, versioned: tuple[str, str, str], added: str
) -> None:
    bucket, first, second = versioned
    url = v2_presigned(server, "DELETE", {"Bucket": bucket, "Key": "k"})
    tampered = httpx.delete(url + "&" + added.format(v=first))
    assert (tampered.status_code, error_code(tampered)) == (403, "SignatureDoesNotMatch")
    versions = root.list_object_versions(Bucket=bucket)["Versions"]
    assert {v["VersionId"] for v in versions} == {first, second}
    assert httpx.delete(url).status_code == 204  # as signed: a delete marker


def test_a_presigned_get_cannot_be_pointed_at_an_older_version(
    server: LiveServer, versioned: tuple[str, str, str]
) -> None:
    bucket, first, _ = versioned
    url = v2_presigned(server, "GET", {"Bucket": bucket, "Key": "k"})
    assert httpx.get(url).content == b"new"
    tampered = httpx.get(url + f"&%76ersionId={first}")
    assert (tampered.status_code, error_code(tampered)) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST", "HEAD"])
def test_a_presigned_get_is_no_other_method(
    server: LiveServer, root: S3Client, signature_version: str, method: str
) -> None:
    bucket = f"m-{uuid.uuid4().hex[:12]}"
    root.create_bucket(Bucket=bucket)
    root.put_object(Bucket=bucket, Key="k", Body=b"kept")
    signer = s3_client(server, signature_version=signature_version)
    url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    answer = httpx.request(method, url, content=b"replaced" if method != "HEAD" else None)
    assert answer.status_code in (403, 405)  # POST on an object is no operation at all
    assert root.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"


@pytest.mark.parametrize(
    "header",
    [
        {"x-amz-copy-source": "/{bucket}/private.txt"},
        {"x-amz-meta-owner": "mallory"},
        {"x-amz-acl": "public-read"},
        {"content-type": "text/html"},
    ],
)
def test_a_presigned_put_does_not_take_unsigned_headers(
    server: LiveServer, root: S3Client, limited: Limited, header: dict[str, str]
) -> None:
    # A URL for someone to upload one file with: it must not copy or relabel instead.
    url = limited.v2.generate_presigned_url(
        "put_object", Params={"Bucket": limited.bucket, "Key": "uploads/dropbox.bin"}
    )
    name, value = next(iter(header.items()))
    answer = httpx.put(url, content=b"", headers={name: value.format(bucket=limited.bucket)})
    assert (answer.status_code, error_code(answer)) == (403, "SignatureDoesNotMatch")
    assert s3_error(lambda: root.head_object(Bucket=limited.bucket, Key="uploads/dropbox.bin"))[
        0
    ] == (404)


# --- a key limited to a prefix --------------------------------------------------------


def test_the_limited_key_still_works(limited: Limited) -> None:
    limited.client.put_object(Bucket=limited.bucket, Key="uploads/mine.txt", Body=b"mine")
    got = limited.client.get_object(Bucket=limited.bucket, Key="uploads/mine.txt")
    assert got["Body"].read() == b"mine"
    url = limited.v2.generate_presigned_url(
        "get_object", Params={"Bucket": limited.bucket, "Key": "uploads/mine.txt"}
    )
    assert httpx.get(url).content == b"mine"


def test_copy_sources_outside_the_grant_are_refused(limited: Limited) -> None:
    for source in (
        {"Bucket": limited.bucket, "Key": "private.txt"},
        {"Bucket": limited.bucket, "Key": "uploadsX/near.txt"},
        {"Bucket": limited.other_bucket, "Key": "uploads/theirs.txt"},
    ):
        copy = lambda source=source: limited.client.copy_object(  # noqa: E731
            Bucket=limited.bucket, Key="uploads/stolen.txt", CopySource=source
        )
        assert s3_error(copy) == DENIED


@pytest.mark.parametrize(
    "source",
    [
        "{bucket}/uploads/../private.txt",
        "{bucket}/uploads%2F..%2Fprivate.txt",
        "/{bucket}//private.txt",
    ],
)
def test_a_copy_source_with_dot_segments_is_not_a_way_out(
    server: LiveServer, limited: Limited, source: str
) -> None:
    answer = send_as(
        server,
        limited.credentials,
        "PUT",
        f"/{limited.bucket}/uploads/stolen.txt",
        headers={"x-amz-copy-source": source.format(bucket=limited.bucket)},
    )
    assert answer.status_code in (400, 403), answer.text
    assert b"secret" not in answer.content


def test_upload_part_copy_from_outside_is_refused(limited: Limited) -> None:
    upload = limited.client.create_multipart_upload(Bucket=limited.bucket, Key="uploads/big")
    copy = lambda: limited.client.upload_part_copy(  # noqa: E731
        Bucket=limited.bucket,
        Key="uploads/big",
        UploadId=upload["UploadId"],
        PartNumber=1,
        CopySource={"Bucket": limited.bucket, "Key": "private.txt"},
    )
    assert s3_error(copy) == DENIED
    limited.client.abort_multipart_upload(
        Bucket=limited.bucket, Key="uploads/big", UploadId=upload["UploadId"]
    )


def test_another_key_s_upload_cannot_be_written_or_listed(root: S3Client, limited: Limited) -> None:
    theirs = root.create_multipart_upload(Bucket=limited.bucket, Key="private/big")["UploadId"]
    part = lambda: limited.client.upload_part(  # noqa: E731
        Bucket=limited.bucket, Key="uploads/big", UploadId=theirs, PartNumber=1, Body=b"x"
    )
    assert s3_error(part) == (404, "NoSuchUpload")
    parts = lambda: limited.client.list_parts(  # noqa: E731
        Bucket=limited.bucket, Key="private/big", UploadId=theirs
    )
    assert s3_error(parts) == DENIED
    abort = lambda: limited.client.abort_multipart_upload(  # noqa: E731
        Bucket=limited.bucket, Key="private/big", UploadId=theirs
    )
    assert s3_error(abort) == DENIED
    uploads = lambda: limited.client.list_multipart_uploads(Bucket=limited.bucket)  # noqa: E731
    assert s3_error(uploads) == DENIED
    root.abort_multipart_upload(Bucket=limited.bucket, Key="private/big", UploadId=theirs)


def test_delete_objects_deletes_only_within_the_grant(root: S3Client, limited: Limited) -> None:
    limited.client.put_object(Bucket=limited.bucket, Key="uploads/gone.txt", Body=b"x")
    answer = limited.client.delete_objects(
        Bucket=limited.bucket,
        Delete={"Objects": [{"Key": "private.txt"}, {"Key": "uploads/gone.txt"}]},
    )
    assert [d["Key"] for d in answer.get("Deleted", [])] == ["uploads/gone.txt"]
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("private.txt", "AccessDenied")]
    assert root.get_object(Bucket=limited.bucket, Key="private.txt")["Body"].read() == b"secret"


@pytest.mark.parametrize("prefix", ["", "uploads", "u", "private", "uploadsX/"])
def test_listings_outside_the_prefix_are_refused(limited: Limited, prefix: str) -> None:
    bucket = limited.bucket
    for listing in (
        lambda: limited.client.list_objects_v2(Bucket=bucket, Prefix=prefix),
        lambda: limited.client.list_objects(Bucket=bucket, Prefix=prefix),
        lambda: limited.client.list_object_versions(Bucket=bucket, Prefix=prefix),
        lambda: limited.client.list_multipart_uploads(Bucket=bucket, Prefix=prefix),
    ):
        assert s3_error(listing) == DENIED


def test_markers_do_not_leave_the_prefix(limited: Limited) -> None:
    bucket = limited.bucket
    for listed in (
        limited.client.list_objects_v2(Bucket=bucket, Prefix="uploads/", StartAfter="a"),
        limited.client.list_objects(Bucket=bucket, Prefix="uploads/", Marker="a"),
        limited.client.list_object_versions(Bucket=bucket, Prefix="uploads/", KeyMarker="a"),
    ):
        keys = [o["Key"] for o in listed.get("Contents", listed.get("Versions", []))]  # type: ignore[attr-defined]
        assert all(key.startswith("uploads/") for key in keys), keys
    # A continuation token of the client's making, naming a key outside the prefix.
    try:
        forged = limited.client.list_objects_v2(
            Bucket=bucket, Prefix="uploads/", ContinuationToken="cHJpdmF0ZS50eHQ="
        )
    except ClientError:
        return
    assert all(o["Key"].startswith("uploads/") for o in forged.get("Contents", []))


def test_list_buckets_shows_only_the_granted_bucket(limited: Limited) -> None:
    names = [b["Name"] for b in limited.client.list_buckets()["Buckets"]]
    assert names == [limited.bucket]


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/{bucket}/uploads/../private.txt", {400}),
        ("/{bucket}/uploads/%2E%2E/private.txt", {400}),
        ("/{bucket}/uploads%2F..%2Fprivate.txt", {400}),
        ("/{bucket}/uploads/./../private.txt", {400}),
        ("/{bucket}//private.txt", {403}),
        ("/{bucket}/uploads\\..\\private.txt", {400, 403}),
        ("/{upper}/uploads/mine.txt", {400, 403, 404}),
        ("/{bucket}%2Fprivate.txt", {400, 403, 404}),
    ],
)
def test_path_tricks_do_not_leave_the_grant(
    server: LiveServer, limited: Limited, path: str, statuses: set[int]
) -> None:
    target = path.format(bucket=limited.bucket, upper=limited.bucket.upper())
    answer = send_as(server, limited.credentials, "GET", target)
    assert answer.status_code in statuses, (answer.status_code, answer.text)
    assert answer.content != b"secret"


def test_virtual_host_style_names_no_bucket_outside_the_grant(
    server: LiveServer, limited: Limited
) -> None:
    def get(host_bucket: str, path: str) -> httpx.Response:
        host = f"{host_bucket}.{DOMAIN}:{server.port}"
        return send_as(server, limited.credentials, "GET", path, host=host)

    assert get(limited.bucket, "/uploads/mine.txt").status_code in (200, 404)
    assert get(limited.bucket, "/private.txt").status_code == 403
    assert get(limited.other_bucket, "/uploads/theirs.txt").status_code == 403
    assert get(limited.other_bucket.upper(), "/uploads/theirs.txt").status_code == 403
    # A bucket in both host and path: the path is the key, within the host's bucket.
    both = get(limited.bucket, f"/{limited.other_bucket}/uploads/theirs.txt")
    assert both.status_code == 403
    assert get(limited.other_bucket, "/?list-type=2").status_code == 403


def test_a_version_2_url_of_the_limited_key_is_as_limited(limited: Limited) -> None:
    url = limited.v2.generate_presigned_url(
        "get_object", Params={"Bucket": limited.bucket, "Key": "private.txt"}
    )
    answer = httpx.get(url)
    assert (answer.status_code, error_code(answer)) == DENIED


def test_a_post_form_of_the_limited_key_writes_only_within_its_grant(
    root: S3Client, limited: Limited
) -> None:
    for key in ("private.txt", "uploadsX/near.txt"):
        form = limited.client.generate_presigned_post(limited.bucket, key)
        answer = httpx.post(form["url"], data=form["fields"], files={"file": b"overwritten"})
        assert answer.status_code == 403, answer.text
    assert root.get_object(Bucket=limited.bucket, Key="private.txt")["Body"].read() == b"secret"
