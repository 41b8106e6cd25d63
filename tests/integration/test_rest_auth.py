"""Authentication and authorisation of the JSON API, in-process: deny by default, each
way credentials fail, what limited keys may and may not do, signed bodies, the key
management endpoints, and the API with authentication off."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Generator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import botocore.auth
import httpx
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from chute.api.rest.app import create_app
from chute.cli.client.signing import AccessKey, SigV4Signer
from chute.clock import FakeClock
from chute.jobs import Result
from chute.queue.states import Outcome
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings
from tests.context import CTX

API = "/_/api/v1"
BASE = "http://chute.test"
PIPELINES = {
    "p": {
        "trigger": {"bucket": "inbox"},
        "steps": [{"name": "a", "processor": "noop", "retry": {"max_attempts": 1}}],
    }
}


class Api:
    """The app in-process; each request signed as asked."""

    def __init__(self, runtime: Runtime) -> None:
        self.app = create_app(runtime.rest_services())

    def request(
        self, method: str, path: str, *, auth: httpx.Auth | None = None, **options: Any
    ) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                return await client.request(method, API + path, auth=auth, **options)

        return asyncio.run(send())


class Bearer(httpx.Auth):
    def __init__(self, key: AccessKey) -> None:
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["authorization"] = f"Bearer {self.key.access_key}:{self.key.secret_key}"
        yield request


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def runtime_of(tmp_path: Path, clock: FakeClock, **settings: Any) -> Iterator[Runtime]:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    loaded = load_settings(
        data_dir=tmp_path, database_url=url, pipelines=PIPELINES, region="eu-west-1", **settings
    )
    runtime = open_runtime(loaded, clock=clock, sweep=False)
    yield runtime
    runtime.close()


@pytest.fixture
def runtime(tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    yield from runtime_of(tmp_path, clock)


@pytest.fixture
def api(runtime: Runtime) -> Api:
    return Api(runtime)


@pytest.fixture
def root(runtime: Runtime, clock: FakeClock) -> SigV4Signer:
    made = runtime.keys.ensure_root()
    return SigV4Signer(AccessKey(made.key_id, made.secret), "eu-west-1", clock)


def key(api: Api, root: SigV4Signer, clock: FakeClock, *grants: dict[str, Any]) -> SigV4Signer:
    """A new key with ``grants``, made through the API by the root key."""
    made = api.request("POST", "/keys", auth=root, json={"name": "k", "grants": list(grants)})
    assert made.status_code == 201, made.text
    body = made.json()
    return SigV4Signer(AccessKey(body["id"], body["secret"]), "eu-west-1", clock)


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


# --- deny by default --------------------------------------------------------------------


def test_anonymous_requests_are_denied(api: Api) -> None:
    for method, path in [("GET", "/buckets"), ("PUT", "/buckets/x"), ("GET", "/keys")]:
        answer = api.request(method, path)
        assert code(answer) == (403, "AccessDenied"), (method, path)
        assert "Bearer" in answer.json()["message"]


def test_health_needs_no_key(api: Api) -> None:
    assert api.request("GET", "/health").status_code == 200


def test_the_root_key_may_do_anything(api: Api, root: SigV4Signer) -> None:
    assert api.request("PUT", "/buckets/photos", auth=root).status_code == 201
    assert (
        api.request("PUT", "/buckets/photos/objects/a", auth=root, content=b"x").status_code == 200
    )
    assert api.request("GET", "/buckets/photos/objects/a", auth=root).content == b"x"


def test_a_wrong_secret_does_not_match(api: Api, root: SigV4Signer, clock: FakeClock) -> None:
    wrong = SigV4Signer(AccessKey(root.key.access_key, "x" * 40), "eu-west-1", clock)
    assert code(api.request("GET", "/buckets", auth=wrong)) == (403, "SignatureDoesNotMatch")
    bearer = Bearer(AccessKey(root.key.access_key, "x" * 40))
    assert code(api.request("GET", "/buckets", auth=bearer)) == (403, "SignatureDoesNotMatch")


def test_an_unknown_key_is_refused(api: Api, clock: FakeClock) -> None:
    stranger = SigV4Signer(AccessKey("CKNOBODY000000000000", "x" * 40), "eu-west-1", clock)
    assert code(api.request("GET", "/buckets", auth=stranger)) == (403, "InvalidAccessKeyId")


def test_another_region_is_refused(api: Api, root: SigV4Signer, clock: FakeClock) -> None:
    elsewhere = SigV4Signer(root.key, "us-east-1", clock)
    answer = api.request("GET", "/buckets", auth=elsewhere)
    assert code(answer) == (400, "AuthorizationHeaderMalformed")
    assert "eu-west-1" in answer.json()["message"]


def test_the_bearer_form(api: Api, root: SigV4Signer) -> None:
    answer = api.request("GET", "/buckets", auth=Bearer(root.key))
    assert answer.status_code == 200


def test_a_request_signed_by_botocore(
    api: Api, root: SigV4Signer, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    """The JSON API takes what an S3 SDK signs (service s3), headers and presigned URLs."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: clock().replace(tzinfo=None))
    credentials = BotoCredentials(root.key.access_key, root.key.secret_key)
    assert api.request("PUT", "/buckets/signed", auth=root).status_code == 201
    put = AWSRequest("PUT", f"{BASE}{API}/buckets/signed/objects/a%20b", data=b"body")
    S3SigV4Auth(credentials, "s3", "eu-west-1").add_auth(put)
    answer = api.request(
        "PUT", "/buckets/signed/objects/a%20b", headers=dict(put.headers), content=b"body"
    )
    assert answer.status_code == 200, answer.text
    get = AWSRequest("GET", f"{BASE}{API}/buckets/signed/objects/a%20b")
    S3SigV4QueryAuth(credentials, "s3", "eu-west-1", expires=60).add_auth(get)
    assert get.url is not None
    query = get.url.split("?", 1)[1]
    presigned = api.request("GET", f"/buckets/signed/objects/a%20b?{query}")
    assert presigned.content == b"body"
    clock.advance(61)
    assert code(api.request("GET", f"/buckets/signed/objects/a%20b?{query}")) == (
        403,
        "AccessDenied",
    )


# --- limited keys -----------------------------------------------------------------------


def test_a_key_limited_to_a_prefix_writes_there_only(
    api: Api, root: SigV4Signer, clock: FakeClock
) -> None:
    api.request("PUT", "/buckets/photos", auth=root)
    api.request("PUT", "/buckets/other", auth=root)
    limited = key(
        api, root, clock, {"access": ["read", "write"], "buckets": ["photos"], "prefixes": ["up/"]}
    )
    assert (
        api.request("PUT", "/buckets/photos/objects/up/a", auth=limited, content=b"ok").status_code
        == 200
    )
    assert api.request("GET", "/buckets/photos/objects/up/a", auth=limited).content == b"ok"
    for path in ("/buckets/photos/objects/down/a", "/buckets/other/objects/up/a"):
        assert code(api.request("PUT", path, auth=limited, content=b"no")) == (403, "AccessDenied")
    assert code(api.request("DELETE", "/buckets/photos/objects/down/a", auth=limited)) == (
        403,
        "AccessDenied",
    )
    assert (
        api.request(
            "GET", "/buckets/photos/objects", auth=limited, params={"prefix": "up/"}
        ).status_code
        == 200
    )
    assert code(api.request("GET", "/buckets/photos/objects", auth=limited)) == (
        403,
        "AccessDenied",
    )
    listed = api.request("GET", "/buckets", auth=limited).json()["buckets"]
    assert [b["name"] for b in listed] == ["photos"]


def test_a_read_only_key_cannot_write(api: Api, root: SigV4Signer, clock: FakeClock) -> None:
    api.request("PUT", "/buckets/photos", auth=root)
    api.request("PUT", "/buckets/photos/objects/a", auth=root, content=b"x")
    reader = key(api, root, clock, {"access": ["read"]})
    assert api.request("GET", "/buckets/photos/objects/a", auth=reader).content == b"x"
    assert code(api.request("PUT", "/buckets/photos/objects/b", auth=reader, content=b"y")) == (
        403,
        "AccessDenied",
    )
    assert code(api.request("DELETE", "/buckets/photos/objects/a", auth=reader)) == (
        403,
        "AccessDenied",
    )
    assert code(api.request("PUT", "/buckets/new", auth=reader)) == (403, "AccessDenied")
    copy = {
        "source": {"bucket": "photos", "key": "a"},
        "destination": {"bucket": "photos", "key": "c"},
    }
    assert code(api.request("POST", "/copy", auth=reader, json=copy)) == (403, "AccessDenied")


def test_non_admins_cannot_manage_keys(api: Api, root: SigV4Signer, clock: FakeClock) -> None:
    writer = key(api, root, clock, {"access": ["read", "write"]})
    grants = [{"access": ["admin"]}]
    assert code(
        api.request("POST", "/keys", auth=writer, json={"name": "x", "grants": grants})
    ) == (
        403,
        "AccessDenied",
    )
    assert code(api.request("GET", "/keys", auth=writer)) == (403, "AccessDenied")
    assert code(api.request("POST", f"/keys/{root.key.access_key}/disable", auth=writer)) == (
        403,
        "AccessDenied",
    )
    bucket_admin = key(api, root, clock, {"access": ["admin"], "buckets": ["photos"]})
    assert code(api.request("GET", "/keys", auth=bucket_admin)) == (403, "AccessDenied")


def test_processing_needs_rights_on_the_objects(
    api: Api, runtime: Runtime, root: SigV4Signer, clock: FakeClock
) -> None:
    runtime.objects.put(CTX, "inbox", "x.txt", [b"hello"])
    (task,) = runtime.broker.claim("w", 10, lease=30).tasks
    failed = Result(task.job_id, task.attempt, Outcome.FAILED, clock(), clock(), error="bad")
    runtime.broker.record([failed], "w")
    other = key(api, root, clock, {"access": ["read", "write"], "buckets": ["photos"]})
    reader = key(api, root, clock, {"access": ["read"], "buckets": ["inbox"]})
    assert code(api.request("GET", "/buckets/inbox/status/x.txt", auth=other)) == (
        403,
        "AccessDenied",
    )
    assert api.request("GET", "/buckets/inbox/status/x.txt", auth=reader).status_code == 200
    assert code(api.request("GET", "/jobs", auth=other)) == (403, "AccessDenied")
    assert api.request("GET", "/dead", auth=reader, params={"bucket": "inbox"}).json()["jobs"]
    assert code(api.request("GET", f"/jobs/{task.job_id}", auth=other)) == (404, "NoSuchJob")
    assert api.request("GET", f"/jobs/{task.job_id}", auth=reader).status_code == 200
    assert code(api.request("GET", "/buckets/inbox/metadata", auth=other)) == (403, "AccessDenied")
    redrive = {"bucket": "inbox"}
    assert code(api.request("POST", "/dead/redrive", auth=reader, json=redrive)) == (
        403,
        "AccessDenied",
    )
    reprocess = {"bucket": "inbox", "key": "x.txt"}
    assert code(api.request("POST", "/pipelines/p/reprocess", auth=reader, json=reprocess)) == (
        403,
        "AccessDenied",
    )
    writer = key(api, root, clock, {"access": ["read", "write"], "buckets": ["inbox"]})
    assert api.request("POST", "/dead/redrive", auth=writer, json=redrive).json() == {"redriven": 1}
    assert (
        api.request("POST", "/pipelines/p/reprocess", auth=writer, json=reprocess).json()["runs"]
        == 1
    )


# --- signed bodies ----------------------------------------------------------------------


def test_a_json_body_must_match_its_signed_hash(
    api: Api, root: SigV4Signer, clock: FakeClock
) -> None:
    request = httpx.Request(
        "POST", f"{BASE}{API}/keys", json={"name": "a", "grants": [{"access": ["read"]}]}
    )
    headers = dict(next(root.auth_flow(request)).headers)
    tampered = b'{"name": "a", "grants": [{"access": ["admin"]}]}'
    headers["content-length"] = str(len(tampered))
    answer = api.request("POST", "/keys", headers=headers, content=tampered)
    assert code(answer) == (400, "XAmzContentSHA256Mismatch")
    assert [k["name"] for k in api.request("GET", "/keys", auth=root).json()["keys"]] == ["root"]


def test_an_upload_must_match_its_signed_hash(
    api: Api, runtime: Runtime, root: SigV4Signer
) -> None:
    api.request("PUT", "/buckets/photos", auth=root)
    for size in (10, 3 * 2**20):  # read whole, and streamed
        url = f"{BASE}{API}/buckets/photos/objects/k{size}"
        request = httpx.Request("PUT", url, content=b"a" * size)
        headers = dict(next(root.auth_flow(request)).headers)
        answer = api.request(
            "PUT", f"/buckets/photos/objects/k{size}", headers=headers, content=b"b" * size
        )
        assert code(answer) == (400, "XAmzContentSHA256Mismatch")
        assert (
            code(api.request("GET", f"/buckets/photos/objects/k{size}", auth=root))[1]
            == "NoSuchKey"
        )
        assert hashlib.sha256(b"a" * size).hexdigest() == headers["x-amz-content-sha256"]


def test_an_aws_chunked_body_is_refused(
    api: Api, root: SigV4Signer, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    """What botocore streams over HTTPS: the JSON API does not decode aws-chunked."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: clock().replace(tzinfo=None))
    api.request("PUT", "/buckets/photos", auth=root)
    put = AWSRequest("PUT", f"{BASE}{API}/buckets/photos/objects/k", data=b"x")
    put.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32"}}
    S3SigV4Auth(
        BotoCredentials(root.key.access_key, root.key.secret_key), "s3", "eu-west-1"
    ).add_auth(put)
    assert put.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    answer = api.request(
        "PUT", "/buckets/photos/objects/k", headers=dict(put.headers), content=b"x"
    )
    assert code(answer) == (400, "InvalidRequest")
    assert "aws-chunked" in answer.json()["message"]


# --- key management ---------------------------------------------------------------------


def test_managing_keys(api: Api, root: SigV4Signer, clock: FakeClock) -> None:
    grant = {"access": ["read"], "buckets": ["photos"], "prefixes": ["public/"]}
    clock.advance(1)  # keys are listed oldest first: the root key, then this one
    made = api.request("POST", "/keys", auth=root, json={"name": "site", "grants": [grant]})
    body = made.json()
    assert (made.status_code, body["name"], body["grants"], body["enabled"]) == (
        201,
        "site",
        [{**grant, "queues": []}],
        True,
    )
    assert len(body["secret"]) == 40
    listed = api.request("GET", "/keys", auth=root).json()["keys"]
    assert [(k["name"], k["is_root"]) for k in listed] == [("root", True), ("site", False)]
    assert all("secret" not in k for k in listed)
    assert "secret" not in api.request("GET", f"/keys/{body['id']}", auth=root).json()
    signer = SigV4Signer(AccessKey(body["id"], body["secret"]), "eu-west-1", clock)
    assert api.request("GET", "/buckets", auth=signer).status_code == 200
    disabled = api.request("POST", f"/keys/{body['id']}/disable", auth=root).json()
    assert disabled["enabled"] is False
    answer = api.request("GET", "/buckets", auth=signer)
    assert code(answer) == (403, "InvalidAccessKeyId")
    assert "disabled" in answer.json()["message"]
    assert api.request("POST", f"/keys/{body['id']}/enable", auth=root).json()["enabled"]
    assert api.request("GET", "/buckets", auth=signer).status_code == 200
    assert api.request("DELETE", f"/keys/{body['id']}", auth=root).status_code == 204
    assert code(api.request("GET", "/buckets", auth=signer)) == (403, "InvalidAccessKeyId")
    assert code(api.request("GET", f"/keys/{body['id']}", auth=root)) == (404, "NoSuchAccessKey")
    assert code(api.request("DELETE", f"/keys/{root.key.access_key}", auth=root)) == (
        400,
        "InvalidArgument",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "grants": []},
        {"name": "", "grants": [{"access": ["read"]}]},
        {"name": "x", "grants": [{"access": ["everything"]}]},
        {"name": "x", "grants": [{"access": ["read"], "buckets": ["Bad_Name"]}]},
        {"name": "x", "grants": [{"access": ["read"], "buckets": []}]},  # on nothing
        {"name": "x", "grants": [{"access": ["read"]}], "expires_at": "2020-01-01T00:00:00"},
    ],
)
def test_a_bad_key_is_refused(api: Api, root: SigV4Signer, body: dict[str, Any]) -> None:
    assert api.request("POST", "/keys", auth=root, json=body).status_code == 400


def test_temporary_credentials_expire(api: Api, root: SigV4Signer, clock: FakeClock) -> None:
    until = (clock() + timedelta(minutes=5)).isoformat()
    made = api.request(
        "POST",
        "/keys",
        auth=root,
        json={"name": "fn", "grants": [{"access": ["read"]}], "expires_at": until},
    ).json()
    signer = SigV4Signer(AccessKey(made["id"], made["secret"]), "eu-west-1", clock)
    assert api.request("GET", "/buckets", auth=signer).status_code == 200
    clock.advance(301)
    assert code(api.request("GET", "/buckets", auth=signer)) == (400, "ExpiredToken")


# --- authentication off -----------------------------------------------------------------


def test_with_authentication_off_anyone_may_do_anything(tmp_path: Path, clock: FakeClock) -> None:
    for runtime in runtime_of(tmp_path, clock, auth={"enabled": False}):
        api = Api(runtime)
        assert api.request("PUT", "/buckets/open").status_code == 201
        assert api.request("PUT", "/buckets/open/objects/a", content=b"x").status_code == 200
        assert api.request("GET", "/keys").json() == {"keys": []}
        assert not (tmp_path / "root-credentials").exists()
