"""The object service on a real catalog (SQLite and PostgreSQL) and the memory blob store."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

import pytest

from chute.api.http import content_md5, parse_range
from chute.blobs.memory import MemoryBlobStore
from chute.catalog import Catalog, Versioning
from chute.errors import (
    BadDigest,
    BucketAlreadyExists,
    BucketNotEmpty,
    EntityTooLarge,
    IncompleteBody,
    InvalidArgument,
    InvalidBucketName,
    InvalidDigest,
    MethodNotAllowed,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
)
from chute.events import render
from chute.objects.service import ObjectService
from tests.context import CTX
from tests.registry import cut_off_write, registered, unreferenced


def put(service: ObjectService, bucket: str, key: str, data: bytes, **kw: object):
    return service.put(CTX, bucket, key, [data], **kw)  # type: ignore[arg-type]


def read(service: ObjectService, bucket: str, key: str, version_id: str | None = None) -> bytes:
    return b"".join(service.open(CTX, bucket, key, version_id).body)


def event_names(service: ObjectService) -> list[str]:
    return [e.event_name for e in service.events(CTX, limit=1000)]


# --- buckets ---------------------------------------------------------------------------


def test_bucket_lifecycle(service: ObjectService) -> None:
    service.create_bucket(CTX, "photos")
    service.create_bucket(CTX, "alpha")
    assert [b.name for b in service.list_buckets(CTX)] == ["alpha", "photos"]
    with pytest.raises(BucketAlreadyExists):
        service.create_bucket(CTX, "photos")
    service.delete_bucket(CTX, "alpha")
    assert [b.name for b in service.list_buckets(CTX)] == ["photos"]
    with pytest.raises(NoSuchBucket):
        service.delete_bucket(CTX, "alpha")


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "Upper",
        "under_score",
        "-dash",
        "dash-",
        "a..b",
        "192.168.1.1",
        "xn--punycode",
        "name-s3alias",
        "_chute",
        "sp ace",
        "",
    ],
)
def test_invalid_bucket_names(service: ObjectService, name: str) -> None:
    with pytest.raises(InvalidBucketName):
        service.create_bucket(CTX, name)


def test_bucket_with_versions_is_not_empty(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1", Versioning.ENABLED)
    put(service, "bk1", "k", b"x")
    service.delete(CTX, "bk1", "k")
    with pytest.raises(BucketNotEmpty):
        service.delete_bucket(CTX, "bk1")  # a delete marker and an old version remain


# --- put / get -------------------------------------------------------------------------


def test_put_get_round_trip(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    data = b"hello chute" * 1000
    version = put(
        service, "bk1", "dir/file.txt", data, content_type="text/plain", metadata={"owner": "ann"}
    )
    assert version.size == len(data)
    assert version.etag == hashlib.md5(data).hexdigest()
    assert version.sha256 == hashlib.sha256(data).hexdigest()
    assert version.version_id == "null"
    head = service.head(CTX, "bk1", "dir/file.txt")
    assert (head.content_type, head.user_metadata) == ("text/plain", {"owner": "ann"})
    assert read(service, "bk1", "dir/file.txt") == data


def test_put_streams_many_chunks(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    chunks = [bytes([i]) * 65536 for i in range(40)]
    version = service.put(CTX, "bk1", "big", iter(chunks), expected_size=40 * 65536)
    assert version.sha256 == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert read(service, "bk1", "big") == b"".join(chunks)


def test_empty_body_is_an_empty_object(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    version = put(service, "bk1", "empty", b"", expected_size=0)
    assert version.size == 0
    assert version.etag == hashlib.md5(b"").hexdigest()
    assert read(service, "bk1", "empty") == b""


def test_ranged_reads(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    put(service, "bk1", "k", bytes(range(100)))
    opened = service.open(CTX, "bk1", "k", byte_range=(10, 20))
    assert (opened.start, opened.end, opened.is_partial) == (10, 20, True)
    assert b"".join(opened.body) == bytes(range(10, 20))
    assert b"".join(
        service.open(CTX, "bk1", "k", byte_range=parse_range("bytes=-5", 100)).body
    ) == bytes(range(95, 100))
    assert b"".join(
        service.open(CTX, "bk1", "k", byte_range=parse_range("bytes=90-500", 100)).body
    ) == bytes(range(90, 100))


def test_missing_things(service: ObjectService) -> None:
    with pytest.raises(NoSuchBucket):
        put(service, "nope", "k", b"x")
    service.create_bucket(CTX, "bk1")
    with pytest.raises(NoSuchKey):
        service.head(CTX, "bk1", "k")
    put(service, "bk1", "k", b"x")
    with pytest.raises(NoSuchVersion):
        service.head(CTX, "bk1", "k", "0123")


# --- failed writes leave nothing --------------------------------------------------------


def _assert_nothing_stored(service: ObjectService, blobs: MemoryBlobStore) -> None:
    assert service.list_objects(CTX, "bk1").objects == []
    assert service.events(CTX) == []
    assert list(blobs.list()) == []
    assert blobs.partial_count == 0
    assert registered(service.catalog) == {}


def test_interrupted_body_leaves_nothing(service: ObjectService, blobs: MemoryBlobStore) -> None:
    service.create_bucket(CTX, "bk1")

    def body() -> Iterator[bytes]:
        yield b"x" * 1000
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        service.put(CTX, "bk1", "k", body())
    _assert_nothing_stored(service, blobs)


@pytest.mark.parametrize("declared", [50, 150])
def test_length_mismatch_is_rejected(
    service: ObjectService, blobs: MemoryBlobStore, declared: int
) -> None:
    service.create_bucket(CTX, "bk1")
    with pytest.raises(IncompleteBody):
        put(service, "bk1", "k", b"x" * 100, expected_size=declared)
    _assert_nothing_stored(service, blobs)


def test_bad_content_md5(service: ObjectService, blobs: MemoryBlobStore) -> None:
    service.create_bucket(CTX, "bk1")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(BadDigest):
        put(service, "bk1", "k", b"data", md5=content_md5(wrong))
    with pytest.raises(InvalidDigest):
        put(service, "bk1", "k", b"data", md5=content_md5("not-base64!"))
    _assert_nothing_stored(service, blobs)
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    assert put(service, "bk1", "k", b"data", md5=content_md5(right)).size == 4


def test_too_large(catalog: Catalog, blobs: MemoryBlobStore) -> None:
    service = ObjectService(catalog, blobs, "eu-west-1", max_object_size=1000, small_blob_limit=0)
    service.create_bucket(CTX, "bk1")
    with pytest.raises(EntityTooLarge):
        put(service, "bk1", "k", b"x" * 1001)
    with pytest.raises(EntityTooLarge):
        put(service, "bk1", "k", b"x", expected_size=5000)
    _assert_nothing_stored(service, blobs)


# --- versioning --------------------------------------------------------------------------


def test_unversioned_overwrite_frees_the_old_blob(
    service: ObjectService, blobs: MemoryBlobStore
) -> None:
    service.create_bucket(CTX, "bk1")
    put(service, "bk1", "k", b"one")
    put(service, "bk1", "k", b"two")
    assert read(service, "bk1", "k") == b"two"
    assert [v.version_id for v in service.detail(CTX, "bk1", "k").versions] == ["null"]
    assert len(list(blobs.list())) == 1
    service.delete(CTX, "bk1", "k")
    assert list(blobs.list()) == []
    assert event_names(service) == ["ObjectCreated:Put"] * 2 + ["ObjectRemoved:Delete"]


def test_versioning_enabled(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1", Versioning.ENABLED)
    v1 = put(service, "bk1", "k", b"one")
    v2 = put(service, "bk1", "k", b"two")
    assert v1.version_id != v2.version_id
    assert read(service, "bk1", "k") == b"two"
    assert read(service, "bk1", "k", v1.version_id) == b"one"

    marker = service.delete(CTX, "bk1", "k")
    assert marker.delete_marker
    with pytest.raises(NoSuchKey) as missing:
        service.head(CTX, "bk1", "k")
    assert missing.value.delete_marker
    assert marker.version_id is not None
    with pytest.raises(MethodNotAllowed):
        service.head(CTX, "bk1", "k", marker.version_id)
    assert service.list_objects(CTX, "bk1").objects == []

    service.delete(CTX, "bk1", "k", marker.version_id)  # removing the marker restores v2
    assert read(service, "bk1", "k") == b"two"
    service.delete(CTX, "bk1", "k", v2.version_id)
    assert read(service, "bk1", "k") == b"one"
    versions = service.detail(CTX, "bk1", "k").versions
    assert [(v.version_id, v.is_latest) for v in versions] == [(v1.version_id, True)]
    assert event_names(service) == [
        "ObjectCreated:Put",
        "ObjectCreated:Put",
        "ObjectRemoved:DeleteMarkerCreated",
        "ObjectRemoved:Delete",
        "ObjectRemoved:Delete",
    ]


def test_versioning_suspended_replaces_only_the_null_version(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1", Versioning.ENABLED)
    kept = put(service, "bk1", "k", b"kept")
    service.set_versioning(CTX, "bk1", Versioning.SUSPENDED)
    put(service, "bk1", "k", b"null one")
    put(service, "bk1", "k", b"null two")
    versions = service.detail(CTX, "bk1", "k").versions
    assert [v.version_id for v in versions] == ["null", kept.version_id]
    assert read(service, "bk1", "k") == b"null two"
    service.delete(CTX, "bk1", "k")
    versions = service.detail(CTX, "bk1", "k").versions
    assert [(v.version_id, v.is_delete_marker) for v in versions] == [
        ("null", True),
        (kept.version_id, False),
    ]
    with pytest.raises(InvalidArgument):
        service.set_versioning(CTX, "bk1", Versioning.UNVERSIONED)


def test_list_versions_pages(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1", Versioning.ENABLED)
    made = {(key, put(service, "bk1", key, b"x").version_id) for key in "abc" for _ in range(3)}
    seen: list[tuple[str, str]] = []
    key_marker = version_marker = None
    while True:
        page = service.list_versions(
            CTX, "bk1", key_marker=key_marker, version_id_marker=version_marker, max_keys=2
        )
        seen += [(v.key, v.version_id) for v in page.versions]
        if not page.is_truncated:
            break
        key_marker, version_marker = page.next_key, page.next_version_id
    assert len(seen) == len(set(seen)) == 9
    assert set(seen) == made
    assert [k for k, _ in seen] == sorted(k for k, _ in seen)


# --- copy --------------------------------------------------------------------------------


def test_copy_shares_the_blob(service: ObjectService, blobs: MemoryBlobStore) -> None:
    service.create_bucket(CTX, "src")
    service.create_bucket(CTX, "dst")
    original = put(service, "src", "a", b"payload", content_type="text/plain", metadata={"m": "1"})
    copy = service.copy(CTX, "src", "a", "dst", "b/c")
    assert (copy.blob_id, copy.etag, copy.content_type) == (
        original.blob_id,
        original.etag,
        "text/plain",
    )
    assert copy.user_metadata == {"m": "1"}
    assert len(list(blobs.list())) == 1
    service.delete(CTX, "src", "a")
    assert read(service, "dst", "b/c") == b"payload"  # the blob is still used by the copy
    replaced = service.copy(CTX, "dst", "b/c", "dst", "b/c", metadata={"n": "2"})
    assert replaced.user_metadata == {"n": "2"}
    assert read(service, "dst", "b/c") == b"payload"  # copy onto itself keeps the bytes
    assert event_names(service)[-1] == "ObjectCreated:Copy"


# --- events ------------------------------------------------------------------------------


def test_event_records_follow_the_s3_format(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1", Versioning.ENABLED)
    v = put(service, "bk1", "photos/red flower+1.jpg", b"abc")
    service.delete(CTX, "bk1", "photos/red flower+1.jpg")
    created, removed = (render(e) for e in service.events(CTX))
    assert created["eventVersion"] == "2.1"
    assert created["eventSource"] == "aws:s3"
    assert created["awsRegion"] == "eu-west-1"
    assert created["eventName"] == "ObjectCreated:Put"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created["eventTime"])
    assert created["s3"]["s3SchemaVersion"] == "1.0"
    assert created["s3"]["bucket"] == {
        "name": "bk1",
        "ownerIdentity": {"principalId": CTX.principal},
        "arn": "arn:aws:s3:::bk1",
    }
    obj = created["s3"]["object"]
    assert obj["key"] == "photos/red+flower%2B1.jpg"
    assert (obj["size"], obj["eTag"], obj["versionId"]) == (3, v.etag, v.version_id)
    assert removed["eventName"] == "ObjectRemoved:DeleteMarkerCreated"
    assert "size" not in removed["s3"]["object"]
    assert removed["s3"]["object"]["sequencer"] > obj["sequencer"]
    assert len(removed["s3"]["object"]["sequencer"]) == len(obj["sequencer"])


def test_unversioned_events_have_no_version_id(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    put(service, "bk1", "k", b"x")
    assert "versionId" not in render(service.events(CTX)[0])["s3"]["object"]


def test_event_log_reads_in_order_from_a_cursor(service: ObjectService) -> None:
    service.create_bucket(CTX, "bk1")
    for i in range(25):
        put(service, "bk1", f"k{i:02d}", b"x")
    seen: list[str] = []
    cursor = 0
    while page := service.events(CTX, after=cursor, limit=7):
        seen += [e.key for e in page]
        cursor = page[-1].id
    assert seen == [f"k{i:02d}" for i in range(25)]
    assert [e.key for e in service.events(CTX, bucket="bk1", key="k03")] == ["k03"]


# --- sweep -------------------------------------------------------------------------------


def test_sweep_removes_only_old_orphans(service: ObjectService, blobs: MemoryBlobStore) -> None:
    from datetime import timedelta

    service.create_bucket(CTX, "bk1")
    kept = put(service, "bk1", "k", b"referenced")
    orphan = cut_off_write(service, b"orphan")
    unfinished = cut_off_write(service, b"half written", commit=False)
    with blobs.open_write() as writer:  # not registered: not Chute's to judge
        writer.write(b"foreign")
        foreign = writer.commit()
    assert service.sweep(CTX, timedelta(hours=1)).orphan_blobs == 0  # too young to judge
    assert blobs.partial_count == 1
    assert service.sweep(CTX, timedelta(0)).orphan_blobs == 2
    assert {b.blob_id for b in blobs.list()} == {kept.blob_id, foreign.blob_id}
    assert orphan.blob_id not in {b.blob_id for b in blobs.list()}
    assert blobs.partial_count == 0
    unfinished.abort()
    assert set(registered(service.catalog)) == {kept.blob_id}
    assert unreferenced(service.catalog) == set()


def test_one_process_sweeps_at_a_time(service: ObjectService) -> None:
    from datetime import timedelta

    from chute.objects.sweep import LEASE, LEASE_SECONDS, Sweeper

    service.create_bucket(CTX, "bk1")
    cut_off_write(service, b"orphan")
    other = Sweeper(service.catalog, service.blobs, service.writes.clock, "another-process")
    now = service.writes.clock()
    until = now + timedelta(seconds=LEASE_SECONDS)
    assert service.catalog.run_write(lambda s: s.leases.take(LEASE, other.holder, now, until))
    assert service.sweep(CTX, timedelta(0)).skipped  # the other process holds the lease
    service.catalog.run_write(lambda s: s.leases.drop(LEASE, other.holder))
    report = service.sweep(CTX, timedelta(0))
    assert (report.skipped, report.orphan_blobs) == (False, 1)
    assert other.sweep(timedelta(0)).orphan_blobs == 0  # the lease was given back


def test_a_deleted_versions_id_is_never_given_to_another(service: ObjectService) -> None:
    # Runs point at the version they process by its id: a reused id would hand them
    # another version's bytes.
    service.create_bucket(CTX, "bk1", Versioning.ENABLED)
    first = put(service, "bk1", "k", b"first")
    service.delete(CTX, "bk1", "k", first.version_id)
    second = put(service, "bk1", "k", b"second")
    assert second.id > first.id
    events = service.events(CTX)
    service.catalog.run_write(lambda s: s.conn.exec_driver_sql("DELETE FROM events"))
    put(service, "bk1", "k", b"third")
    assert service.events(CTX, after=events[-1].id)[0].id > events[-1].id  # cursors hold


def test_an_upload_slower_than_the_grace_period_is_not_swept(
    catalog, blobs: MemoryBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from chute.clock import FakeClock
    from chute.objects import writes

    monkeypatch.setattr(writes, "RENEW_SECONDS", 0.0)  # renew at every chunk
    clock = FakeClock()
    slow = ObjectService(catalog, blobs, "eu-west-1", 2**20, small_blob_limit=0, clock=clock)
    slow.create_bucket(CTX, "bk1")
    swept = []

    def trickle() -> Iterator[bytes]:
        yield b"a" * 10
        clock.advance(2 * 3600)  # two hours pass between two chunks
        yield b"b" * 10
        swept.append(slow.sweep(CTX, timedelta(hours=1)).orphan_blobs)
        yield b"c" * 10

    version = slow.put(CTX, "bk1", "slow.bin", trickle())
    assert swept == [0]  # the reservation was renewed while the bytes came
    assert b"".join(slow.open(CTX, "bk1", "slow.bin").body) == b"a" * 10 + b"b" * 10 + b"c" * 10
    assert version.size == 30
