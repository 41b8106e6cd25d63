"""Listing benchmark: S3-style pages over a million objects, on SQLite and PostgreSQL.

One bucket holds ``--folders`` x ``--keys`` objects (1,000 x 1,000 by default), written
straight into the catalog in a few bulk transactions: the rows and indexes the object
service writes (``object_versions``, one latest version per key, with blob ids, ETags and
metadata), without the blobs or events, which listings never read. On PostgreSQL the
table is then vacuumed and analyzed, as autovacuum would soon do; SQLite is left as Chute
leaves it. Timed, as the median (and the minimum) of ``--runs`` calls of :class:`ObjectService` (a
read transaction, the bucket, the page), with these targets:

* a page of 1,000 keys: the first of one folder, and one from the middle of the bucket
  (continuation token, across two folders): target <= 50 ms;
* the page of 1,000 common prefixes at the root (delimiter ``/``): target <= 100 ms;
* one folder listed with the delimiter (``aws s3 ls s3://bucket/folder/``): 1,000 keys;
* version listings: a folder's 1,000 versions, a page resumed by key and version id
  markers, the 1,000 common prefixes at the root.

The baseline, in the same run on the same data, is the listing as it was before walks:
one query per page and per common prefix, each reading up to a page of rows (only to
skip all but the first of them when the delimiter rolls them up), every row made into a
record. Its delimiter page is timed over ``--baseline-prefixes`` prefixes (20 by default)
and extrapolated to 1,000; the figure says so.

    python benchmarks/listing.py [--folders 1000] [--keys 1000] [--runs 7] [--no-postgres]

Figures only: nothing here fails on a slow run.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chute.access import EVERYTHING
from chute.blobs.memory import MemoryBlobStore
from chute.catalog import Catalog, CatalogSession, NewVersion, ObjectVersion, Versioning
from chute.catalog.schema import object_versions
from chute.context import RequestContext
from chute.names import after_prefix
from chute.objects.listing import Listing, encode_token
from chute.objects.service import ObjectService

CTX = RequestContext("benchmark", "127.0.0.1", permissions=EVERYTHING)
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
DATABASE = "chute_bench_listing"
BUCKET = "bench"
#: Folders written per catalog transaction while loading.
FOLDERS_PER_TRANSACTION = 100


@dataclass
class Figure:
    """One line of the report."""

    engine: str
    measure: str
    chute: float  # median, ms
    fastest: float  # ms
    baseline: str = ""
    target: float | None = None


# --- the data ------------------------------------------------------------------------------


def folder(index: int) -> str:
    return f"folder-{index:04d}/"


def key(folder_index: int, key_index: int) -> str:
    return f"{folder(folder_index)}key-{key_index:04d}.dat"


def load(catalog: Catalog, folders: int, keys: int) -> float:
    """Write ``folders`` x ``keys`` objects into a new bucket; returns the seconds taken."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    with catalog.write() as session:
        bucket = session.create_bucket(BUCKET, Versioning.ENABLED, now)
    for first in range(0, folders, FOLDERS_PER_TRANSACTION):
        with catalog.write() as session:
            for index in range(first, min(first + FOLDERS_PER_TRANSACTION, folders)):
                session.add_first_versions(bucket.id, _folder_versions(index, keys), now)
    return time.perf_counter() - started


def _folder_versions(index: int, keys: int) -> Iterator[NewVersion]:
    for number in range(keys):
        serial = index * keys + number
        yield NewVersion(
            key=key(index, number),
            version_id=uuid.uuid4().hex,
            blob_id=f"{serial:032x}",  # in order, so the load is quick; listings never read it
            size=1000 + number,
            etag=f'"{serial:032x}"',
            sha256=f"{serial:064x}",
            content_type="application/octet-stream",
            user_metadata={"source": "benchmark"} if number % 10 == 0 else {},
        )


# --- timing --------------------------------------------------------------------------------


def timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """The median and the shortest wall time of ``runs`` calls in ms, after one to warm
    up. On a shared machine the shortest is the nearest to the work itself."""
    call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times)


def ms(times: tuple[float, float]) -> str:
    return f"{times[0]:.1f} ms (min {times[1]:.1f})"


def measure(
    engine: str, service: ObjectService, folders: int, keys: int, args: argparse.Namespace
) -> list[Figure]:
    """Every figure for one engine."""
    runs = args.runs
    middle = folders // 2
    catalog = service.catalog
    token = encode_token("k", key(middle - 1, keys // 2))
    start_key, start_version = _version_marker(service, middle - 1, keys // 2)
    figures: list[Figure] = []

    def add(measure: str, call: Callable[[], object], target: float | None = None) -> Figure:
        figure = Figure(engine, measure, *timed(call, runs), target=target)
        figures.append(figure)
        return figure

    def objects(**kw: Any) -> Callable[[], Listing]:
        return lambda: _check(service.list_objects(CTX, BUCKET, **kw), kw)

    first = add("page of 1000 keys, first of a folder", objects(prefix=folder(middle)), 50)
    first.baseline = _baseline(catalog, runs, prefix=folder(middle))
    page = add("page of 1000 keys, middle (token)", objects(token=token), 50)
    page.baseline = _baseline(catalog, runs, start_after=key(middle - 1, keys // 2))
    root = add("page of 1000 common prefixes, '/'", objects(delimiter="/"), 100)
    root.baseline = _baseline_prefixes(catalog, args.baseline_prefixes, folders)
    inside = add("one folder with '/': 1000 keys", objects(prefix=folder(middle), delimiter="/"))
    inside.baseline = _baseline(catalog, runs, prefix=folder(middle), delimiter="/")

    def versions(**kw: Any) -> Callable[[], object]:
        return lambda: service.list_versions(CTX, BUCKET, **kw)

    flat = add("versions: 1000 of a folder", versions(prefix=folder(middle)))
    flat.baseline = _baseline_versions(catalog, runs, folder(middle))
    resumed = versions(key_marker=start_key, version_id_marker=start_version)
    add("versions: middle (key + version id)", resumed)
    add("versions: 1000 common prefixes, '/'", versions(delimiter="/"))
    return figures


def _check(page: Listing, kw: dict[str, Any]) -> Listing:
    if not page.objects and not page.common_prefixes:
        raise SystemExit(f"the page of {kw} is empty")
    return page


def _version_marker(service: ObjectService, folder_index: int, key_index: int) -> tuple[str, str]:
    name = key(folder_index, key_index)
    return name, service.head(CTX, BUCKET, name).version_id


# --- the baseline: the listing before walks -------------------------------------------------
# A query per page and per common prefix, each built anew and reading up to a page of
# rows; every row made into a record.


def _baseline(catalog: Catalog, runs: int, **kw: Any) -> str:
    return ms(timed(lambda: _baseline_page(catalog, **kw), runs))


def _baseline_prefixes(catalog: Catalog, prefixes: int, folders: int) -> str:
    _baseline_page(catalog, delimiter="/", stop_after=2)  # warm up
    started = time.perf_counter()
    found = _baseline_page(catalog, delimiter="/", stop_after=prefixes)
    elapsed = (time.perf_counter() - started) * 1000 * folders / len(found.common_prefixes)
    return f"{elapsed:.0f} ms (timed over {prefixes} prefixes)"


def _baseline_versions(catalog: Catalog, runs: int, prefix: str) -> str:
    def page() -> list[ObjectVersion]:
        with catalog.read() as session:
            bucket_id = _bucket_id(session)
            return _old_versions(session.conn, bucket_id, prefix, after_prefix(prefix), 1001)

    return ms(timed(page, runs))


def _baseline_page(
    catalog: Catalog,
    prefix: str = "",
    delimiter: str | None = None,
    start_after: str | None = None,
    stop_after: int | None = None,
    max_keys: int = 1000,
) -> Listing:
    listing = Listing()
    with catalog.read() as session:
        bucket_id = _bucket_id(session)
        lower: str | None = start_after or prefix
        inclusive = not start_after
        upper = after_prefix(prefix) if prefix else None
        while lower is not None:
            room = max_keys - len(listing.objects) - len(listing.common_prefixes)
            batch = _old_latest(session.conn, bucket_id, lower, upper, inclusive, room + 1)
            if not batch or room == 0:
                break
            for version in batch[:room]:
                rest = version.key[len(prefix) :]
                if delimiter and delimiter in rest:
                    common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                    listing.common_prefixes.append(common)
                    lower, inclusive = after_prefix(common), True
                    break
                lower, inclusive = version.key, False
                listing.objects.append(version)
            else:
                if len(batch) <= room:
                    break
            if stop_after is not None and len(listing.common_prefixes) >= stop_after:
                break
    return listing


def _bucket_id(session: CatalogSession) -> int:
    bucket = session.get_bucket(BUCKET)
    assert bucket is not None
    return bucket.id


def _old_latest(
    conn: sa.Connection, bucket_id: int, lower: str, upper: str | None, inclusive: bool, limit: int
) -> list[ObjectVersion]:
    table, key = object_versions, object_versions.c.key
    query = sa.select(*table.c).where(
        table.c.bucket_id == bucket_id,
        table.c.is_latest,
        sa.not_(table.c.is_delete_marker),
        key >= lower if inclusive else key > lower,
    )
    if upper is not None:
        query = query.where(key < upper)
    query = query.order_by(table.c.bucket_id, key).limit(limit)
    return [_old_version(row) for row in conn.execute(query)]


def _old_versions(
    conn: sa.Connection, bucket_id: int, lower: str, upper: str | None, limit: int
) -> list[ObjectVersion]:
    table, key = object_versions, object_versions.c.key
    query = sa.select(*table.c).where(table.c.bucket_id == bucket_id, key >= lower)
    if upper is not None:
        query = query.where(key < upper)
    query = query.order_by(key, table.c.id.desc()).limit(limit)
    return [_old_version(row) for row in conn.execute(query)]


def _old_version(row: sa.Row[Any]) -> ObjectVersion:
    return ObjectVersion(
        id=row.id,
        bucket_id=row.bucket_id,
        key=row.key,
        version_id=row.version_id,
        is_latest=bool(row.is_latest),
        is_delete_marker=bool(row.is_delete_marker),
        blob_id=row.blob_id,
        size=row.size,
        etag=row.etag,
        sha256=row.sha256,
        content_type=row.content_type,
        user_metadata=dict(row.user_metadata),
        created_at=row.created_at,
    )


# --- engines -------------------------------------------------------------------------------


@contextmanager
def sqlite_catalog() -> Iterator[tuple[str, Catalog]]:
    with tempfile.TemporaryDirectory(prefix="chute-bench-listing-") as folder_path:
        catalog = Catalog(f"sqlite:///{Path(folder_path) / 'catalog.db'}")
        try:
            yield f"sqlite {sqlite3.sqlite_version}", catalog
        finally:
            catalog.close()


@contextmanager
def postgres_catalog() -> Iterator[tuple[str, Catalog] | None]:
    """A scratch database, dropped afterwards; ``None`` if PostgreSQL is unreachable."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(drop)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            version = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as exc:
        print(f"PostgreSQL not available ({exc.__class__.__name__}); skipped")
        yield None
        return
    catalog = Catalog(POSTGRES_URL.format(name=DATABASE))
    try:
        yield f"postgresql {version[0] if version else '?'}", catalog
    finally:
        catalog.close()
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(drop)


def run_engine(name: str, catalog: Catalog, args: argparse.Namespace) -> list[Figure]:
    catalog.migrate()
    seconds = load(catalog, args.folders, args.keys)
    print(f"{name}: {args.folders * args.keys} objects loaded in {seconds:.0f} s")
    if catalog.dialect == "postgresql":
        with catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE object_versions")
    service = ObjectService(catalog, MemoryBlobStore(), "eu-west-1", 2**30)
    print(f"  measuring ({_load()})")
    figures = measure(name, service, args.folders, args.keys, args)
    for figure in figures:
        print(f"  {_line(figure)}")
    return figures


def _load() -> str:
    """The machine's load average: on a shared machine, how far to trust the figures."""
    return "load average " + " ".join(f"{load:.1f}" for load in os.getloadavg())


def _line(figure: Figure) -> str:
    target = "" if figure.target is None else f"target <= {figure.target:.0f} ms"
    verdict = "" if figure.target is None else ("ok" if figure.chute <= figure.target else "MISSED")
    baseline = f"baseline {figure.baseline}" if figure.baseline else ""
    chute = ms((figure.chute, figure.fastest))
    return f"{figure.measure:38} {chute:24} {baseline:46} {target:17} {verdict}".rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--folders", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=1000, help="keys per folder")
    parser.add_argument("--runs", type=int, default=7, help="calls timed per figure (median)")
    parser.add_argument("--baseline-prefixes", type=int, default=20)
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {args.folders} folders x {args.keys} keys")
    figures: list[Figure] = []
    with sqlite_catalog() as (name, catalog):
        figures += run_engine(name, catalog, args)
    if args.postgres:
        with postgres_catalog() as found:
            if found is not None:
                figures += run_engine(*found, args)
    print(f"\nmachine: {os.cpu_count()} cores, {_load()}; medians of {args.runs} calls (and min)")
    for figure in figures:
        print(f"{figure.engine.split()[0]:10} {_line(figure)}")


if __name__ == "__main__":
    main()
