"""Group commit on SQLite and PostgreSQL: writes share a transaction, fail alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chute.catalog import Catalog, CatalogSession, Versioning
from chute.clock import system_clock
from chute.errors import BucketAlreadyExists


def test_a_failing_write_rolls_back_alone(catalog: Catalog) -> None:
    started, gate = threading.Event(), threading.Event()

    def first(session: CatalogSession) -> str:
        started.set()
        gate.wait()
        return session.create_bucket("first", Versioning.UNVERSIONED, system_clock()).name

    def create(name: str) -> str:
        return catalog.run_write(
            lambda session: session.create_bucket(name, Versioning.UNVERSIONED, system_clock()).name
        )

    def broken(session: CatalogSession) -> None:
        session.create_bucket("broken", Versioning.UNVERSIONED, system_clock())
        raise RuntimeError("boom")

    with ThreadPoolExecutor(6) as pool:
        blocker = pool.submit(catalog.run_write, first)
        started.wait()
        # These queue up behind the blocked write and are committed as one batch.
        good = [pool.submit(create, name) for name in ("alpha", "beta")]
        bad = pool.submit(catalog.run_write, broken)
        duplicate = [pool.submit(create, "gamma"), pool.submit(create, "gamma")]
        gate.set()
        assert blocker.result() == "first"
        assert [f.result() for f in good] == ["alpha", "beta"]
        with pytest.raises(RuntimeError, match="boom"):
            bad.result()
        outcomes = [f.exception() for f in duplicate]
    assert sorted(type(e).__name__ for e in outcomes) == ["BucketAlreadyExists", "NoneType"]
    assert any(isinstance(e, BucketAlreadyExists) for e in outcomes)
    with catalog.read() as session:
        names = [b.name for b in session.list_buckets()]
    assert names == ["alpha", "beta", "first", "gamma"]


def test_close_finishes_submitted_writes(catalog_url: str) -> None:
    catalog = Catalog(catalog_url)
    catalog.migrate()
    with ThreadPoolExecutor(8) as pool:
        names = [f"b{i:03d}" for i in range(40)]
        list(
            pool.map(
                lambda n: catalog.run_write(
                    lambda s: s.create_bucket(n, Versioning.UNVERSIONED, system_clock())
                ),
                names,
            )
        )
    catalog.close()
    reopened = Catalog(catalog_url)
    with reopened.read() as session:
        assert [b.name for b in session.list_buckets()] == names
    reopened.close()
