"""Listing on SQLite and PostgreSQL: key order, prefixes, delimiters, pagination."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from chute.catalog import Catalog, NewVersion, Versioning
from chute.clock import system_clock
from chute.errors import InvalidArgument
from chute.objects.listing import Listing, VersionListing
from chute.objects.service import ObjectService
from tests.context import CTX


def add_keys(catalog: Catalog, service: ObjectService, bucket: str, keys: list[str]) -> None:
    """Insert many versions in one catalog transaction (listing is what is under test)."""
    bucket_id = service.get_bucket(CTX, bucket).id
    with catalog.write() as session:
        for key in keys:
            session.add_version(
                bucket_id, NewVersion(key, "null", None, 0, "e", "s", "x/y"), system_clock()
            )


def add_first_keys(catalog: Catalog, service: ObjectService, bucket: str, keys: list[str]) -> None:
    """Insert many new keys at once, as the bulk loader of the benchmarks does."""
    bucket_id = service.get_bucket(CTX, bucket).id
    news = [NewVersion(key, "null", "blob", 1, "e", "s", "x/y") for key in keys]
    with catalog.write() as session:
        session.add_first_versions(bucket_id, news, system_clock())


@contextmanager
def count_statements(catalog: Catalog) -> Iterator[list[str]]:
    """The statements the catalog sends while the block runs."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0] + " " + statement[:60])

    sa.event.listen(catalog.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(catalog.engine, "before_cursor_execute", record)


def list_all(service: ObjectService, bucket: str, page_size: int, **kw: str) -> list[str]:
    """Walk every page; returns keys and common prefixes in the order served."""
    names: list[str] = []
    token = None
    while True:
        page = service.list_objects(CTX, bucket, token=token, max_keys=page_size, **kw)
        assert len(page.objects) + len(page.common_prefixes) <= page_size
        keys = [o.key for o in page.objects]
        assert keys == sorted(keys)
        assert page.common_prefixes == sorted(page.common_prefixes)
        names += sorted(keys + page.common_prefixes)
        if not page.is_truncated:
            return names
        token = page.next_token
        assert token


def test_ten_thousand_keys_page_by_page(catalog: Catalog, service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    keys = [f"logs/{i:05d}.txt" for i in range(10_000)]
    add_keys(catalog, service, "bk1", [*keys, "other/x", "logz"])
    listed = list_all(service, "bk1", 1000, prefix="logs/")
    assert listed == keys  # none missed, none repeated, in key order
    assert list_all(service, "bk1", 333, prefix="logs/0999") == [
        f"logs/0999{i}.txt" for i in range(10)
    ]


def test_delimiter_groups_common_prefixes(catalog: Catalog, service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    keys = [
        "a.txt",
        "photos/2024/1.jpg",
        "photos/2024/2.jpg",
        "photos/2025/1.jpg",
        "photos/top.jpg",
        "videos/v.mp4",
        "z",
    ]
    add_keys(catalog, service, "bk1", keys)
    page = service.list_objects(CTX, "bk1", delimiter="/")
    assert [o.key for o in page.objects] == ["a.txt", "z"]
    assert page.common_prefixes == ["photos/", "videos/"]
    page = service.list_objects(CTX, "bk1", prefix="photos/", delimiter="/")
    assert [o.key for o in page.objects] == ["photos/top.jpg"]
    assert page.common_prefixes == ["photos/2024/", "photos/2025/"]
    assert list_all(service, "bk1", 1, delimiter="/") == [
        "a.txt",
        "photos/",
        "videos/",
        "z",
    ]


def test_start_after_and_max_keys(catalog: Catalog, service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    add_keys(catalog, service, "bk1", ["a", "b", "c", "d"])
    assert [o.key for o in service.list_objects(CTX, "bk1", start_after="b").objects] == ["c", "d"]
    page = service.list_objects(CTX, "bk1", max_keys=2)
    assert ([o.key for o in page.objects], page.is_truncated) == (["a", "b"], True)
    empty = service.list_objects(CTX, "bk1", max_keys=0)
    assert (empty.objects, empty.is_truncated, empty.next_token) == ([], False, None)
    with pytest.raises(InvalidArgument):
        service.list_objects(CTX, "bk1", max_keys=1001)
    with pytest.raises(InvalidArgument):
        service.list_objects(CTX, "bk1", token="garbage!")


def test_keys_sort_bytewise_like_s3(catalog: Catalog, service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    keys = ["B", "a", "a/b", "a-b", "ä", "日本", "\U0001f600", "Z"]
    add_keys(catalog, service, "bk1", keys)
    listed = [o.key for o in service.list_objects(CTX, "bk1").objects]
    assert listed == sorted(keys, key=lambda k: k.encode("utf-8"))


def test_deleted_keys_are_not_listed(service: ObjectService) -> None:
    from chute.catalog import Versioning

    service.create_bucket(CTX, "bk1", Versioning.ENABLED)
    for key in ["a", "b", "c"]:
        service.put(CTX, "bk1", key, [b"x"])
    service.delete(CTX, "bk1", "b")
    assert [o.key for o in service.list_objects(CTX, "bk1").objects] == ["a", "c"]
    assert list_all(service, "bk1", 1) == ["a", "c"]


def test_prefixes_with_only_deleted_keys_are_not_listed(service: ObjectService) -> None:
    from chute.catalog import Versioning

    service.create_bucket(CTX, "bk1", Versioning.ENABLED)
    for key in ["dir/a", "live/b", "z"]:
        service.put(CTX, "bk1", key, [b"x"])
    service.delete(CTX, "bk1", "dir/a")
    page = service.list_objects(CTX, "bk1", delimiter="/")
    assert page.common_prefixes == ["live/"]
    assert [o.key for o in page.objects] == ["z"]
    assert list_all(service, "bk1", 1, delimiter="/") == ["live/", "z"]


def test_markers_cannot_widen_the_prefix(catalog: Catalog, service: ObjectService) -> None:
    from chute.objects.listing import encode_token

    service.create_bucket(CTX, "bk1")
    add_keys(catalog, service, "bk1", ["a1", "b/1", "b/2", "c"])
    for token in (encode_token("k", "a"), encode_token("p", "a/")):
        page = service.list_objects(CTX, "bk1", prefix="b/", token=token)
        assert [o.key for o in page.objects] == ["b/1", "b/2"]
    page = service.list_objects(CTX, "bk1", prefix="b/", start_after="a")
    assert [o.key for o in page.objects] == ["b/1", "b/2"]
    versions = service.list_versions(CTX, "bk1", prefix="b/", key_marker="a")
    assert [v.key for v in versions.versions] == ["b/1", "b/2"]
    assert service.list_versions(CTX, "bk1", max_keys=0).is_truncated is False


def test_markers_name_the_last_entry_seen(catalog: Catalog, service: ObjectService) -> None:
    """ListObjects pages resumed with NextMarker as the marker (ceph s3-tests'
    test_bucket_list_delimiter_prefix): a marker that is a common prefix skips it."""
    service.create_bucket(CTX, "bk1")
    add_keys(
        catalog, service, "bk1", ["asdf", "boo/bar", "boo/baz/xyzzy", "cquux/thud", "cquux/bla"]
    )
    steps = [
        ("", 1, ["asdf"], [], "asdf"),
        ("", 1, [], ["boo/"], "boo/"),
        ("", 1, [], ["cquux/"], None),
        ("", 2, ["asdf"], ["boo/"], "boo/"),
        ("", 2, [], ["cquux/"], None),
        ("boo/", 1, ["boo/bar"], [], "boo/bar"),
        ("boo/", 1, [], ["boo/baz/"], None),
    ]
    marker = None
    for prefix, max_keys, keys, prefixes, next_marker in steps:
        page = service.list_objects(
            CTX, "bk1", prefix=prefix, delimiter="/", start_after=marker, max_keys=max_keys
        )
        assert ([o.key for o in page.objects], page.common_prefixes) == (keys, prefixes)
        assert (page.next_marker, page.is_truncated) == (next_marker, next_marker is not None)
        marker = next_marker
    page = service.list_objects(CTX, "bk1", delimiter="/", start_after="boo/bar")
    assert page.common_prefixes == ["boo/", "cquux/"]  # a key inside a prefix is just a key


def test_a_delimiter_page_is_one_walk(catalog: Catalog, service: ObjectService) -> None:
    """However many keys sit under each common prefix, a page of them costs a handful of
    statements: one range scan that meets the first prefix, then one walk."""
    service.create_bucket(CTX, "bk1")
    add_first_keys(
        catalog, service, "bk1", [f"d{d:02d}/{k:03d}" for d in range(40) for k in range(60)]
    )
    with count_statements(catalog) as statements:
        page = service.list_objects(CTX, "bk1", delimiter="/")
    assert page.common_prefixes == [f"d{d:02d}/" for d in range(40)]
    assert not page.objects
    assert len(statements) <= 4, statements  # begin, the bucket, a scan, the walk
    with count_statements(catalog) as statements:
        versions = service.list_versions(CTX, "bk1", delimiter="/", max_keys=25)
    assert versions.common_prefixes == [f"d{d:02d}/" for d in range(25)]
    assert (versions.next_key, versions.next_version_id) == ("d24/", None)
    assert len(statements) <= 4, statements


def test_scans_grow_while_keys_come_alone(catalog: Catalog, service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    alone = [f"a{i:03d}" for i in range(300)]
    add_first_keys(
        catalog, service, "bk1", alone + [f"z{d}/{k}" for d in range(5) for k in range(9)]
    )
    with count_statements(catalog) as statements:
        page = service.list_objects(CTX, "bk1", delimiter="/")
    assert [o.key for o in page.objects] == alone
    assert page.common_prefixes == [f"z{d}/" for d in range(5)]
    assert len(statements) <= 7, statements  # scans of 16, 64 and 256 rows, then the walk


# --- pages against a reference implementation --------------------------------------------
#
# Random keys (several versions each, some deleted) over an alphabet that makes every
# delimiter appear at prefix ends, twice in a row and beside characters beyond U+FFFF;
# every page size from 1 to 7, with several prefixes and delimiters, walked to the end,
# and started after markers of every kind. The reference lists by the book: keys sorted
# by their UTF-8 bytes, filtered, rolled up, sliced.

#: Keys are made of these, so that many share their first pieces.
PIECES = ["a", "b", "a/", "b-", "/", "-", "--", "é", "\U0001f600", "\U0010ffff", "a\U0010ffff"]
DELIMITERS = [None, "/", "-", "--", "a/", "\U0001f600", "\U0010ffff"]
PREFIXES = ["", "a", "a/", "b-", "\U0001f600"]


@dataclass(frozen=True)
class Row:
    """A version as the reference sees it."""

    key: str
    version_id: str
    order: int  # higher is newer
    deleted: bool


def random_rows(seed: int, count: int = 60) -> list[Row]:
    rng = random.Random(seed)
    keys = {"".join(rng.choices(PIECES, k=rng.randint(1, 4))) for _ in range(count)}
    rows, order = [], 0
    for key in sorted(keys):
        for index in range(rng.choice([1, 1, 2, 3])):
            order += 1
            rows.append(Row(key, f"v{order}", order, deleted=index > 0 and rng.random() < 0.3))
    return rows


def load(catalog: Catalog, service: ObjectService, rows: list[Row]) -> None:
    service.create_bucket(CTX, "bk1", Versioning.ENABLED)
    bucket_id = service.get_bucket(CTX, "bk1").id
    with catalog.write() as session:
        for row in sorted(rows, key=lambda r: r.order):
            blob = None if row.deleted else "blob"
            new = NewVersion(row.key, row.version_id, blob, 1, "e", "s", "x/y", {}, row.deleted)
            session.add_version(bucket_id, new, system_clock())


def utf8_order(row: Row) -> tuple[bytes, int]:
    return row.key.encode(), -row.order


def rolled_up(rows: list[Row], prefix: str, delimiter: str | None, marker: Mark) -> list[Item]:
    """What a listing holds, in order: ``("k", key, version id)`` or ``("p", prefix)``."""
    items: list[Item] = []
    for row in sorted(rows, key=utf8_order):
        if not row.key.startswith(prefix) or marker.skips(row):
            continue
        rest = row.key[len(prefix) :]
        if delimiter and delimiter in rest:
            common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if not items or items[-1] != ("p", common):
                items.append(("p", common))
        else:
            items.append(("k", row.key, row.version_id))
    return items


Item = tuple[str, ...]


@dataclass(frozen=True)
class Mark:
    """The last entry a client saw: a key (or one of its versions), or a prefix."""

    name: str | None = None
    after: Row | None = None  # resume inside ``name`` after this version
    common: bool = False

    def skips(self, row: Row) -> bool:
        if self.name is None:
            return False
        if self.common:
            return row.key.startswith(self.name) or row.key.encode() <= self.name.encode()
        if self.after is not None and row.key == self.name:
            return row.order >= self.after.order
        return row.key.encode() <= self.name.encode()


def is_own_prefix(marker: str, prefix: str, delimiter: str | None) -> bool:
    if not delimiter or not marker.startswith(prefix):
        return False
    at = marker.find(delimiter, len(prefix))
    return at >= 0 and at + len(delimiter) == len(marker)


def latest_rows(rows: list[Row]) -> list[Row]:
    newest: dict[str, Row] = {}
    for row in rows:
        if row.key not in newest or row.order > newest[row.key].order:
            newest[row.key] = row
    return [row for row in newest.values() if not row.deleted]


def object_items(page: Listing) -> list[Item]:
    keys: list[Item] = [("k", o.key, o.version_id) for o in page.objects]
    return sorted(keys + [("p", p) for p in page.common_prefixes], key=lambda i: i[1].encode())


def version_items(page: VersionListing) -> list[Item]:
    keys: list[Item] = [("k", v.key, v.version_id) for v in page.versions]
    return sorted(keys + [("p", p) for p in page.common_prefixes], key=lambda i: i[1].encode())


def check_object_pages(
    service: ObjectService, live: list[Row], prefix: str, delimiter: str | None, size: int
) -> None:
    expected = rolled_up(live, prefix, delimiter, Mark())
    token, seen = None, 0
    while True:
        page = service.list_objects(
            CTX, "bk1", prefix=prefix, delimiter=delimiter, token=token, max_keys=size
        )
        where = (prefix, delimiter, size, seen)
        assert object_items(page) == expected[seen : seen + size], where
        seen += size
        assert page.is_truncated == (seen < len(expected)), where
        if not page.is_truncated:
            return
        token = page.next_token
        # the marker a ListObjects client would send resumes at the same place
        assert page.next_marker is not None
        by_marker = service.list_objects(
            CTX, "bk1", prefix=prefix, delimiter=delimiter, start_after=page.next_marker
        )
        assert object_items(by_marker) == expected[seen : seen + 1000], where


def check_version_pages(
    service: ObjectService, rows: list[Row], prefix: str, delimiter: str | None, size: int
) -> None:
    expected = rolled_up(rows, prefix, delimiter, Mark())
    key_marker = version_marker = None
    seen = 0
    while True:
        page = service.list_versions(
            CTX,
            "bk1",
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            version_id_marker=version_marker,
            max_keys=size,
        )
        where = (prefix, delimiter, size, seen)
        assert version_items(page) == sorted(
            expected[seen : seen + size], key=lambda i: i[1].encode()
        ), where
        seen += size
        assert page.is_truncated == (seen < len(expected)), where
        if not page.is_truncated:
            return
        key_marker, version_marker = page.next_key, page.next_version_id
        last = expected[seen - 1]
        assert (key_marker, version_marker) == (last[1], last[2] if last[0] == "k" else None)


def test_object_pages_match_the_reference(catalog: Catalog, service: ObjectService) -> None:
    rows = random_rows(1)
    load(catalog, service, rows)
    live = latest_rows(rows)
    for prefix in PREFIXES:
        for delimiter in DELIMITERS:
            for size in range(1, 8):
                check_object_pages(service, live, prefix, delimiter, size)


def test_version_pages_match_the_reference(catalog: Catalog, service: ObjectService) -> None:
    rows = random_rows(3)
    load(catalog, service, rows)
    for prefix in PREFIXES:
        for delimiter in DELIMITERS:
            for size in range(1, 8):
                check_version_pages(service, rows, prefix, delimiter, size)


def test_start_after_matches_the_reference(catalog: Catalog, service: ObjectService) -> None:
    rows = random_rows(5)
    load(catalog, service, rows)
    live = latest_rows(rows)
    rng = random.Random(5)
    # Every key once (rows repeat a key for each of its versions), and keys not there.
    markers = list(dict.fromkeys(r.key for r in rows))
    markers += ["".join(rng.choices(PIECES, k=2)) for _ in range(30)]
    markers += ["", "a/", "a-", "a--", "b\U0001f600", "\U0010ffff", "\U0010ffff" * 3]
    for prefix in PREFIXES:
        for delimiter in DELIMITERS:
            for marker in markers:
                mark = Mark(marker, common=is_own_prefix(marker, prefix, delimiter))
                expected = rolled_up(live, prefix, delimiter, mark)
                page = service.list_objects(
                    CTX, "bk1", prefix=prefix, delimiter=delimiter, start_after=marker, max_keys=5
                )
                assert object_items(page) == expected[:5], (prefix, delimiter, marker)
                assert page.is_truncated == (len(expected) > 5)


def test_key_markers_match_the_reference(catalog: Catalog, service: ObjectService) -> None:
    rows = random_rows(6)
    load(catalog, service, rows)
    rng = random.Random(6)
    for prefix in PREFIXES:
        for delimiter in DELIMITERS:
            for row in rng.sample(rows, 12):
                for after in (None, row):
                    common = is_own_prefix(row.key, prefix, delimiter)
                    expected = rolled_up(rows, prefix, delimiter, Mark(row.key, after, common))
                    page = service.list_versions(
                        CTX,
                        "bk1",
                        prefix=prefix,
                        delimiter=delimiter,
                        key_marker=row.key,
                        version_id_marker=None if after is None else after.version_id,
                        max_keys=4,
                    )
                    want = sorted(expected[:4], key=lambda i: i[1].encode())
                    assert version_items(page) == want, (prefix, delimiter, row, after)
