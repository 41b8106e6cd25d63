"""What the JSON API answers when a dependency fails: 503 with ``Retry-After`` while the
catalog database cannot be reached, 507 when the disk is full, and a readiness check
that says which component failed. (The same on PostgreSQL, over a real server process:
``tests/e2e/test_http_limits.py``.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chute.api.rest.app import create_app
from chute.blobs.local import LocalBlobStore, LocalBlobWriter
from chute.runtime import Runtime, open_runtime
from chute.settings import load_settings

API = "/_/api/v1"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    # About availability, not access: authentication off.
    settings = load_settings(
        data_dir=tmp_path, buckets=["inbox"], small_blob_limit=0, auth={"enabled": False}
    )
    rt = open_runtime(settings, sweep=False)
    yield rt
    rt.close()


def call(runtime: Runtime, method: str, path: str, **options: Any) -> httpx.Response:
    app = create_app(runtime.rest_services())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://chute") as client:
            return await client.request(method, API + path, **options)

    return asyncio.run(send())


def take_the_database_away(runtime: Runtime) -> None:
    database = runtime.settings.data_dir / "catalog.db"
    runtime.catalog.engine.dispose()
    for path in database.parent.glob("catalog.db*"):
        path.unlink()
    database.mkdir()  # what stands there now cannot be opened as a database


def test_catalog_down_is_503_with_retry_after(runtime: Runtime) -> None:
    assert call(runtime, "GET", "/ready").status_code == 200
    take_the_database_away(runtime)
    put = call(runtime, "PUT", "/buckets/inbox/objects/k", content=b"x" * 100_000)
    assert (put.status_code, put.json()["code"]) == (503, "ServiceUnavailable")
    assert put.headers["retry-after"] == "2"
    head = call(runtime, "HEAD", "/buckets/inbox/objects/k")
    assert (head.status_code, head.headers["retry-after"]) == (503, "2")
    assert call(runtime, "GET", "/health").status_code == 200


def test_readiness_names_the_component_that_fails(runtime: Runtime) -> None:
    take_the_database_away(runtime)
    ready = call(runtime, "GET", "/ready")
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "2"
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["components"]["catalog"]["code"] == "ServiceUnavailable"
    assert body["components"]["blobs"] == {"status": "ok", "code": None, "message": None}


def test_a_full_disk_is_507(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = LocalBlobStore.open_write

    def open_on_a_full_disk(store: LocalBlobStore, prefix: str = "") -> LocalBlobWriter:
        writer = opened(store, prefix)
        writer._file.close()
        writer._file = open("/dev/full", "wb")  # noqa: SIM115 - ENOSPC on every write
        return writer

    monkeypatch.setattr(LocalBlobStore, "open_write", open_on_a_full_disk)
    put = call(runtime, "PUT", "/buckets/inbox/objects/k", content=b"x" * 300_000)
    assert (put.status_code, put.json()["code"]) == (507, "XChuteStorageFull")
    assert "retry-after" not in put.headers
    assert call(runtime, "GET", "/buckets/inbox/objects/k").status_code == 404
