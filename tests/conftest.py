"""Fixtures every test layer may use: real services, started once per test process.

A service that cannot start skips its tests locally and fails them in CI (see
:mod:`tests.services`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import sqlalchemy as sa

from chute.catalog import Catalog
from tests.receiver import receiver  # noqa: F401 - a fixture for every layer
from tests.services import POSTGRES_URL, require, require_postgres

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """Endpoint URL of an S3 server (moto, in this process) with dummy credentials set."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in _AWS_ENV.items():
            env.setenv(name, value)
        env.delenv("AWS_PROFILE", raising=False)
        server = _start_moto()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
        server.stop()


@pytest.fixture
def s3_bucket(moto_s3: str) -> Iterator[tuple[str, str]]:
    """A new, empty bucket on the test S3 server: ``(endpoint_url, bucket_name)``.

    Afterwards the server forgets everything, so a long session does not pile up bytes.
    """
    import boto3

    name = f"chute-test-{uuid.uuid4().hex[:16]}"
    client = boto3.session.Session().client("s3", endpoint_url=moto_s3)
    client.create_bucket(Bucket=name)
    client.close()
    yield moto_s3, name
    httpx.post(f"{moto_s3}/moto-api/reset").raise_for_status()


def _start_moto() -> ThreadedMotoServer:
    """Start moto on a port the system picks, so parallel test processes never collide."""
    try:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
    except Exception:
        require(False, "moto S3 server (pip install 'moto[server]')")
        raise
    return server


# --- catalog databases: every test taking catalog_url runs on SQLite and PostgreSQL ---
# PostgreSQL tests are fast because the schema is migrated once per test process into a
# template database, and each test gets a fresh clone of it (CREATE DATABASE ... TEMPLATE).


def _admin() -> sa.Engine:
    return sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def _drop(admin: sa.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_template(worker_id: str) -> Iterator[str]:
    """A migrated database to clone, one per test process."""
    require_postgres()
    name = f"chute_tpl_{worker_id}_{os.getpid()}"
    admin = _admin()
    _drop(admin, name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    catalog = Catalog(sa.make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    catalog.migrate()
    catalog.close()
    yield name
    _drop(admin, name)
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, migrated catalog database."""
    yield from catalog_database(request.param, request, tmp_path)


def catalog_database(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty catalog database on ``engine`` (``sqlite``, or ``postgres``:
    a clone of the migrated template), for fixtures whose parameters are not
    ``catalog_url``'s."""
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"chute_test_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    _drop(admin, name)
    admin.dispose()
