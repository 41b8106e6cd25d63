"""Listing on SQLite and PostgreSQL: key order, prefixes, delimiters, pagination."""

from __future__ import annotations

import pytest

from chute.catalog import Catalog, NewVersion
from chute.clock import system_clock
from chute.errors import InvalidArgument
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
