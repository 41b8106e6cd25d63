"""Multipart uploads in the object service, on SQLite and PostgreSQL: S3's rules for
parts and completion, composition without copying, checksums, listings, expiry, and
what is left (nothing) once an upload is completed or aborted."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from chute.access import Access, Grant, Permissions
from chute.blobs import BlobKind
from chute.blobs.checksums import (
    ChecksumAlgorithm,
    ChecksumType,
    ExpectedChecksum,
    checksum_of,
    composite,
)
from chute.blobs.memory import MemoryBlobStore
from chute.catalog import Catalog, ObjectVersion, Part, Upload, Versioning
from chute.clock import FakeClock
from chute.context import RequestContext
from chute.errors import (
    AccessDenied,
    BadDigest,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartNumber,
    InvalidPartOrder,
    InvalidRequest,
    MalformedXML,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    PreconditionFailed,
)
from chute.objects.service import ObjectService
from tests.context import CTX
from tests.registry import registered, unreferenced

MIN = 1024  # the smallest part but the last, in these tests
A, B, C = os.urandom(MIN), os.urandom(MIN + 300), os.urandom(200)
WHOLE = A + B + C


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(catalog: Catalog, blobs: MemoryBlobStore, clock: FakeClock) -> ObjectService:
    """Every part in the blob store (no inline blobs)."""
    service = ObjectService(
        catalog, blobs, "eu-west-1", max_object_size=2**20, small_blob_limit=0,
        clock=clock, min_part_size=MIN,
    )  # fmt: skip
    service.create_bucket(CTX, "bk1")
    return service


def begin(service: ObjectService, key: str = "big.bin", **kw: object) -> Upload:
    return service.create_multipart_upload(CTX, "bk1", key, **kw)  # type: ignore[arg-type]


def part(service: ObjectService, upload: Upload, number: int, data: bytes, **kw: object) -> Part:
    return service.upload_part(CTX, "bk1", upload.key, upload.id, number, [data], **kw)  # type: ignore[arg-type]


def complete(
    service: ObjectService, upload: Upload, parts: list[Part], **kw: object
) -> ObjectVersion:
    listed = [(p.part_number, p.etag, p.checksum) for p in parts]
    return service.complete_multipart_upload(CTX, "bk1", upload.key, upload.id, listed, **kw)  # type: ignore[arg-type]


def uploaded(service: ObjectService, key: str = "big.bin") -> tuple[Upload, list[Part]]:
    upload = begin(service, key)
    return upload, [part(service, upload, n, data) for n, data in enumerate((A, B, C), 1)]


def read(service: ObjectService, key: str, byte_range: tuple[int, int] | None = None) -> bytes:
    return b"".join(service.open(CTX, "bk1", key, byte_range=byte_range).body)


def stored(blobs: MemoryBlobStore) -> set[str]:
    return {blob.blob_id for blob in blobs.list()}


def multipart_etag(*parts: bytes) -> str:
    digests = b"".join(hashlib.md5(data).digest() for data in parts)
    return f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"


# --- the round trip --------------------------------------------------------------------


def test_completion_composes_the_parts_without_copying(
    service: ObjectService, blobs: MemoryBlobStore
) -> None:
    upload, parts = uploaded(service)
    before = stored(blobs)
    assert before == {p.blob_id for p in parts}
    version = complete(service, upload, parts)

    assert stored(blobs) == before  # no byte was written
    assert read(service, "big.bin") == WHOLE
    assert (version.size, version.parts_count) == (len(WHOLE), 3)
    assert version.etag == multipart_etag(A, B, C)
    assert version.sha256 == ""  # unknown without reading the bytes
    assert [p.etag for p in parts] == [hashlib.md5(d).hexdigest() for d in (A, B, C)]
    with service.catalog.read() as session:
        record = session.blobs.get(version.blob_id or "")
        segments = session.blobs.segments(version.blob_id or "")
    assert record is not None
    assert record.kind is BlobKind.COMPOSITE
    assert [(s.blob_id, s.size) for s in segments] == [(p.blob_id, p.size) for p in parts]
    [event] = service.events(CTX, bucket="bk1")
    assert (event.event_name, event.etag, event.size) == (
        "ObjectCreated:CompleteMultipartUpload",
        version.etag,
        len(WHOLE),
    )
    assert unreferenced(service.catalog) == set()


def test_the_upload_keeps_what_the_object_will_be(service: ObjectService) -> None:
    upload = begin(
        service, content_type="video/mp4", metadata={"owner": "ann"},
        headers={"cache-control": "no-cache"},
    )  # fmt: skip
    assert (upload.principal, upload.initiated_at) == (CTX.principal, service.writes.clock())
    parts = [part(service, upload, 1, A), part(service, upload, 2, C)]
    version = complete(service, upload, parts)
    head = service.head(CTX, "bk1", "big.bin")
    assert head == version
    assert (head.content_type, head.user_metadata) == ("video/mp4", {"owner": "ann"})
    assert head.headers == {"cache-control": "no-cache"}
    assert head.checksum is None


@pytest.mark.parametrize(
    "byte_range",
    [
        (0, len(WHOLE)),
        (MIN - 10, MIN + 10),  # across the first boundary
        (MIN - 1, 2 * MIN + 301),  # the last byte of A, all of B, the first of C
        (5, 2 * MIN + 400),  # across both
        (MIN, 2 * MIN + 300),  # exactly part 2
        (MIN + 5, MIN + 6),  # one byte inside a part
        (len(WHOLE) - 1, len(WHOLE)),
    ],
)
def test_ranges_read_across_part_boundaries(
    service: ObjectService, byte_range: tuple[int, int]
) -> None:
    upload, parts = uploaded(service)
    complete(service, upload, parts)
    start, end = byte_range
    assert read(service, "big.bin", byte_range) == WHOLE[start:end]


def test_parts_read_by_number(service: ObjectService) -> None:
    upload, parts = uploaded(service)
    version = complete(service, upload, parts)
    offsets = [(0, MIN), (MIN, 2 * MIN + 300), (2 * MIN + 300, len(WHOLE))]
    for number, (start, end) in enumerate(offsets, 1):
        assert service.part_range(CTX, version, number) == (start, end, 3)
        assert b"".join(service.read(CTX, version, (start, end)).body) == WHOLE[start:end]
    with pytest.raises(InvalidPartNumber) as refused:
        service.part_range(CTX, version, 4)
    assert refused.value.status == 416
    with pytest.raises(InvalidArgument):
        service.part_range(CTX, version, 0)


def test_an_object_in_one_piece_is_its_part_one(service: ObjectService) -> None:
    version = service.put(CTX, "bk1", "plain", [b"12345"])
    assert service.part_range(CTX, version, 1) == (0, 5, 1)
    with pytest.raises(InvalidPartNumber):
        service.part_range(CTX, version, 2)


def test_inline_parts_compose_too(catalog: Catalog, blobs: MemoryBlobStore) -> None:
    # Parts up to the inline limit keep their bytes in the catalog; the last small one
    # of a real upload usually does.
    service = ObjectService(
        catalog, blobs, "eu-west-1", max_object_size=2**20, small_blob_limit=MIN,
        min_part_size=MIN,
    )  # fmt: skip
    service.create_bucket(CTX, "bk1")
    upload, parts = uploaded(service)
    kinds = [registered(catalog)[p.blob_id].kind for p in parts]
    assert kinds == [BlobKind.INLINE, BlobKind.STORE, BlobKind.INLINE]
    complete(service, upload, parts)
    assert read(service, "big.bin") == WHOLE
    assert read(service, "big.bin", (MIN - 3, 2 * MIN + 303)) == WHOLE[MIN - 3 : 2 * MIN + 303]
    service.delete(CTX, "bk1", "big.bin")
    assert registered(catalog) == {}
    assert list(blobs.list()) == []


def test_a_single_part_upload(service: ObjectService) -> None:
    upload = begin(service)
    only = part(service, upload, 7, C)  # numbers need not start at 1
    version = complete(service, upload, [only])
    assert (version.parts_count, version.etag) == (1, multipart_etag(C))
    assert read(service, "big.bin") == C


def test_an_empty_part(service: ObjectService) -> None:
    upload = begin(service)
    version = complete(service, upload, [part(service, upload, 1, b"")])
    assert (version.size, read(service, "big.bin")) == (0, b"")


def test_versioned_completion_adds_a_version(service: ObjectService) -> None:
    service.create_bucket(CTX, "vers", Versioning.ENABLED)
    old = service.put(CTX, "vers", "k", [b"old"])
    upload = service.create_multipart_upload(CTX, "vers", "k")
    piece = service.upload_part(CTX, "vers", "k", upload.id, 1, [C])
    new = service.complete_multipart_upload(CTX, "vers", "k", upload.id, [(1, piece.etag, None)])
    assert new.version_id != old.version_id
    assert [v.version_id for v in service.detail(CTX, "vers", "k").versions] == [
        new.version_id,
        old.version_id,
    ]
    assert b"".join(service.open(CTX, "vers", "k", old.version_id).body) == b"old"


# --- S3's rules ------------------------------------------------------------------------


@pytest.mark.parametrize("number", [0, -1, 10_001])
def test_part_numbers_run_from_1_to_10000(
    service: ObjectService, blobs: MemoryBlobStore, number: int
) -> None:
    upload = begin(service)
    with pytest.raises(InvalidArgument) as refused:
        part(service, upload, number, A)
    assert refused.value.message == (
        "Part number must be an integer between 1 and 10000, inclusive"
    )
    assert part(service, upload, 10_000, C).part_number == 10_000
    assert len(stored(blobs)) == 1


def test_completion_needs_a_part(service: ObjectService) -> None:
    upload, _ = uploaded(service)
    with pytest.raises(MalformedXML):
        complete(service, upload, [])


@pytest.mark.parametrize("order", [[2, 1, 3], [1, 1, 3], [1, 3, 2]])
def test_parts_are_listed_in_ascending_order(service: ObjectService, order: list[int]) -> None:
    upload, parts = uploaded(service)
    with pytest.raises(InvalidPartOrder):
        complete(service, upload, [parts[n - 1] for n in order])


def test_every_listed_part_exists_with_its_etag(service: ObjectService) -> None:
    upload, parts = uploaded(service)
    listed = [(p.part_number, p.etag, None) for p in parts]
    wrong_etag = [listed[0], (2, hashlib.md5(b"other").hexdigest(), None), listed[2]]
    missing = [listed[0], listed[1], (4, parts[2].etag, None)]
    for bad in (wrong_etag, missing):
        with pytest.raises(InvalidPart):
            service.complete_multipart_upload(CTX, "bk1", upload.key, upload.id, bad)
    quoted = [(n, f'"{etag.upper()}"', None) for n, etag, _ in listed]
    version = service.complete_multipart_upload(CTX, "bk1", upload.key, upload.id, quoted)
    assert read(service, "big.bin") == WHOLE
    assert version.parts_count == 3


def test_every_part_but_the_last_has_the_minimum_size(service: ObjectService) -> None:
    upload = begin(service)
    parts = [part(service, upload, 1, A), part(service, upload, 2, C), part(service, upload, 3, A)]
    with pytest.raises(EntityTooSmall):
        complete(service, upload, parts)
    version = complete(service, upload, [parts[0], parts[1]])  # a small last part is fine
    assert read(service, "big.bin") == A + C
    assert version.parts_count == 2


def test_the_minimum_part_size_is_five_mib_by_default(catalog: Catalog) -> None:
    service = ObjectService(catalog, MemoryBlobStore(), "eu-west-1", 2**30)
    assert service.multipart.min_part_size == 5 * 2**20


def test_unknown_upload_ids(service: ObjectService) -> None:
    upload, parts = uploaded(service)
    other = begin(service, "other.bin")
    listed = [(p.part_number, p.etag, None) for p in parts]
    with pytest.raises(NoSuchUpload) as refused:
        service.complete_multipart_upload(CTX, "bk1", "other.bin", upload.id, listed)
    assert refused.value.status == 404
    hostile = ["nope", "a\x00b", "f" * 1000, upload.id.upper(), ""]
    tries = [("big.bin", other.id), ("other.bin", upload.id)] + [("big.bin", h) for h in hostile]
    for key, upload_id in tries:
        with pytest.raises(NoSuchUpload):
            service.upload_part(CTX, "bk1", key, upload_id, 1, [A])
        with pytest.raises(NoSuchUpload):
            service.list_parts(CTX, "bk1", key, upload_id)
        with pytest.raises(NoSuchUpload):
            service.abort_multipart_upload(CTX, "bk1", key, upload_id)
    service.create_bucket(CTX, "bk2")
    with pytest.raises(NoSuchUpload):  # the same key in another bucket
        service.upload_part(CTX, "bk2", "big.bin", upload.id, 1, [A])
    with pytest.raises(NoSuchBucket):
        service.upload_part(CTX, "nobucket", "big.bin", upload.id, 1, [A])
    assert read_parts(service, upload) == parts  # nothing of that touched the upload


def read_parts(service: ObjectService, upload: Upload) -> list[Part]:
    return service.list_parts(CTX, "bk1", upload.key, upload.id).parts


def test_an_aborted_upload_is_gone(service: ObjectService, blobs: MemoryBlobStore) -> None:
    upload, parts = uploaded(service)
    service.abort_multipart_upload(CTX, "bk1", upload.key, upload.id)
    assert list(blobs.list()) == []
    assert registered(service.catalog) == {}
    with pytest.raises(NoSuchUpload):
        complete(service, upload, parts)
    with pytest.raises(NoSuchUpload):
        part(service, upload, 4, A)
    with pytest.raises(NoSuchUpload):
        service.abort_multipart_upload(CTX, "bk1", upload.key, upload.id)
    assert list(blobs.list()) == []
    assert registered(service.catalog) == {}
    with pytest.raises(NoSuchKey):
        service.head(CTX, "bk1", "big.bin")


def test_a_completed_upload_is_gone(service: ObjectService) -> None:
    # S3 may answer a retried completion with its result for a while; Chute answers
    # NoSuchUpload, as S3 documents for completed uploads.
    upload, parts = uploaded(service)
    complete(service, upload, parts)
    with pytest.raises(NoSuchUpload):
        complete(service, upload, parts)
    with pytest.raises(NoSuchUpload):
        part(service, upload, 1, A)
    assert service.list_multipart_uploads(CTX, "bk1").uploads == []


def test_a_part_uploaded_after_abort_leaves_nothing(
    service: ObjectService, blobs: MemoryBlobStore
) -> None:
    upload = begin(service)

    def body() -> Iterator[bytes]:
        yield A
        service.abort_multipart_upload(CTX, "bk1", upload.key, upload.id)  # meanwhile
        yield B

    with pytest.raises(NoSuchUpload):
        service.upload_part(CTX, "bk1", upload.key, upload.id, 1, body())
    assert list(blobs.list()) == []
    assert registered(service.catalog) == {}


def test_a_failed_part_leaves_nothing(service: ObjectService, blobs: MemoryBlobStore) -> None:
    upload = begin(service)
    with pytest.raises(BadDigest):
        part(service, upload, 1, A, md5=hashlib.md5(b"other").hexdigest())
    assert list(blobs.list()) == []
    assert registered(service.catalog) == {}
    assert read_parts(service, upload) == []


# --- parts replaced, parts freed -------------------------------------------------------


def test_a_part_uploaded_again_replaces_the_old_one(
    service: ObjectService, blobs: MemoryBlobStore
) -> None:
    upload = begin(service)
    first = part(service, upload, 1, A)
    second = part(service, upload, 1, B)
    assert stored(blobs) == {second.blob_id}
    assert set(registered(service.catalog)) == {second.blob_id}
    with pytest.raises(InvalidPart):  # the old ETag names a part that is gone
        complete(service, upload, [first])
    complete(service, upload, [second])
    assert read(service, "big.bin") == B


def test_parts_not_listed_are_freed(service: ObjectService, blobs: MemoryBlobStore) -> None:
    upload, parts = uploaded(service)
    extra = part(service, upload, 9, A)
    version = complete(service, upload, [parts[0], parts[2]])
    assert read(service, "big.bin") == A + C
    assert stored(blobs) == {parts[0].blob_id, parts[2].blob_id}
    assert extra.blob_id not in registered(service.catalog)
    assert set(registered(service.catalog)) == {
        parts[0].blob_id,
        parts[2].blob_id,
        version.blob_id,
    }


def test_the_same_part_twice_at_once_leaves_one(
    service: ObjectService, blobs: MemoryBlobStore
) -> None:
    # Both bodies are staged before either is recorded: the later record replaces the
    # earlier, whose blob is freed.
    upload = begin(service)
    both_staged = threading.Barrier(2, timeout=10)

    def body(data: bytes) -> Iterator[bytes]:
        yield data
        both_staged.wait()

    results: list[Part] = []
    threads = [
        threading.Thread(
            target=lambda d=data: results.append(
                service.upload_part(CTX, "bk1", upload.key, upload.id, 1, body(d))
            )
        )
        for data in (A, B)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    [kept] = read_parts(service, upload)
    assert kept in results
    assert stored(blobs) == {kept.blob_id}
    assert set(registered(service.catalog)) == {kept.blob_id}
    complete(service, upload, [kept])
    assert read(service, "big.bin") == (A if kept.md5 == hashlib.md5(A).hexdigest() else B)


# --- the sweep and what is left --------------------------------------------------------


def test_the_sweep_keeps_the_parts_of_an_upload_in_progress(
    service: ObjectService, blobs: MemoryBlobStore, clock: FakeClock
) -> None:
    upload, parts = uploaded(service)
    clock.advance(3 * 86400)  # days later, the upload is still going
    report = service.sweep(CTX, timedelta(hours=1))
    assert report.orphan_blobs == 0
    assert stored(blobs) == {p.blob_id for p in parts}
    more = part(service, upload, 4, C)
    clock.advance(86400)
    assert service.sweep(CTX, timedelta(hours=1)).orphan_blobs == 0
    complete(service, upload, [*parts[:2], more])
    assert read(service, "big.bin") == A + B + C


def test_nothing_is_left_after_completion_and_delete(
    service: ObjectService, blobs: MemoryBlobStore, clock: FakeClock
) -> None:
    upload, parts = uploaded(service)
    complete(service, upload, parts)
    clock.advance(7200)
    assert service.sweep(CTX, timedelta(hours=1)).orphan_blobs == 0  # all in use
    service.delete(CTX, "bk1", "big.bin")
    # The composite goes with its version, its segments with it: nothing for a sweep.
    assert list(blobs.list()) == []
    assert registered(service.catalog) == {}
    assert service.sweep(CTX, timedelta(0)).orphan_blobs == 0


def test_overwriting_a_multipart_object_frees_its_parts(
    service: ObjectService, blobs: MemoryBlobStore
) -> None:
    upload, parts = uploaded(service)
    complete(service, upload, parts)
    version = service.put(CTX, "bk1", "big.bin", [b"small now"])
    assert stored(blobs) == {version.blob_id}
    assert set(registered(service.catalog)) == {version.blob_id}


def test_a_copy_shares_the_composite(service: ObjectService, blobs: MemoryBlobStore) -> None:
    upload, parts = uploaded(service)
    original = complete(service, upload, parts)
    copy = service.copy(CTX, "bk1", "big.bin", "bk1", "copy.bin")
    assert (copy.blob_id, copy.parts_count, copy.etag) == (original.blob_id, 3, original.etag)
    service.delete(CTX, "bk1", "big.bin")
    assert read(service, "copy.bin") == WHOLE
    service.delete(CTX, "bk1", "copy.bin")
    assert list(blobs.list()) == []
    assert registered(service.catalog) == {}


def test_deleting_a_bucket_aborts_its_uploads(
    service: ObjectService, blobs: MemoryBlobStore
) -> None:
    uploaded(service)
    service.delete_bucket(CTX, "bk1")
    assert list(blobs.list()) == []
    assert registered(service.catalog) == {}


def test_expired_uploads_are_aborted(
    service: ObjectService, blobs: MemoryBlobStore, clock: FakeClock
) -> None:
    old, _ = uploaded(service, "old.bin")
    clock.advance(6 * 86400)
    young = begin(service, "young.bin")
    kept = part(service, young, 1, A)
    clock.advance(2 * 86400)
    report = service.expire_uploads(CTX, timedelta(days=7))
    assert (report.aborted, report.skipped) == (1, False)
    assert [u.id for u in service.list_multipart_uploads(CTX, "bk1").uploads] == [young.id]
    assert stored(blobs) == {kept.blob_id}
    with pytest.raises(NoSuchUpload):
        read_parts(service, old)
    assert service.expire_uploads(CTX, timedelta(days=7)).aborted == 0


def test_expiry_is_one_process_at_a_time(service: ObjectService, clock: FakeClock) -> None:
    uploaded(service)
    clock.advance(8 * 86400)
    other = ObjectService(service.catalog, service.blobs, "eu-west-1", 2**20, clock=clock)
    moment = clock()
    service.catalog.run_write(
        lambda s: s.leases.take(
            "multipart-expiry", other.multipart.holder, moment, moment + timedelta(minutes=5)
        )
    )
    assert service.expire_uploads(CTX, timedelta(days=7)).skipped
    assert len(service.list_multipart_uploads(CTX, "bk1").uploads) == 1


# --- listing ---------------------------------------------------------------------------


def test_list_parts_in_pages(service: ObjectService) -> None:
    upload = begin(service, checksum_algorithm=ChecksumAlgorithm.CRC32)
    parts = [
        part(service, upload, n, C, checksum=crc(ChecksumAlgorithm.CRC32, C))
        for n in (1, 2, 5, 7, 9)
    ]
    first = service.list_parts(CTX, "bk1", upload.key, upload.id, max_parts=2)
    assert (first.parts, first.is_truncated, first.next_part_number_marker) == (
        parts[:2], True, 2,
    )  # fmt: skip
    assert first.upload == upload
    assert (first.upload.checksum_algorithm, first.upload.checksum_type) == (
        ChecksumAlgorithm.CRC32,
        ChecksumType.COMPOSITE,
    )
    assert first.parts[0].checksum == checksum_of(ChecksumAlgorithm.CRC32, C)
    second = service.list_parts(
        CTX, "bk1", upload.key, upload.id, part_number_marker=2, max_parts=2
    )
    assert (second.parts, second.next_part_number_marker) == (parts[2:4], 7)
    last = service.list_parts(CTX, "bk1", upload.key, upload.id, part_number_marker=7)
    assert (last.parts, last.is_truncated) == (parts[4:], False)
    empty = service.list_parts(CTX, "bk1", upload.key, upload.id, max_parts=0)
    assert (empty.parts, empty.is_truncated) == ([], False)
    with pytest.raises(InvalidArgument):
        service.list_parts(CTX, "bk1", upload.key, upload.id, max_parts=1001)


def _keys(page_uploads: list[Upload]) -> list[str]:
    return [u.key for u in page_uploads]


def test_list_uploads_by_key_then_initiation(service: ObjectService, clock: FakeClock) -> None:
    uploads = []
    for key in ["b", "a", "b", "dir/x", "dir/y", "dir/sub/z", "c"]:
        uploads.append(begin(service, key))
        clock.advance(1)
    page = service.list_multipart_uploads(CTX, "bk1")
    assert _keys(page.uploads) == ["a", "b", "b", "c", "dir/sub/z", "dir/x", "dir/y"]
    b_uploads = [u for u in page.uploads if u.key == "b"]
    assert [u.id for u in b_uploads] == [uploads[0].id, uploads[2].id]  # initiation order
    assert not page.is_truncated

    by_dir = service.list_multipart_uploads(CTX, "bk1", delimiter="/")
    assert (_keys(by_dir.uploads), by_dir.common_prefixes) == (["a", "b", "b", "c"], ["dir/"])
    inside = service.list_multipart_uploads(CTX, "bk1", prefix="dir/", delimiter="/")
    assert (_keys(inside.uploads), inside.common_prefixes) == (["dir/x", "dir/y"], ["dir/sub/"])
    assert _keys(service.list_multipart_uploads(CTX, "bk1", prefix="dir/").uploads) == [
        "dir/sub/z", "dir/x", "dir/y",
    ]  # fmt: skip


@pytest.mark.parametrize("size", [1, 2, 3])
def test_list_uploads_in_pages(service: ObjectService, clock: FakeClock, size: int) -> None:
    for key in ["a", "b", "b", "b", "dir/x", "dir/y", "e"]:
        begin(service, key)
        clock.advance(1)
    seen: list[str] = []
    prefixes: list[str] = []
    key_marker = upload_id_marker = None
    for _ in range(10):
        page = service.list_multipart_uploads(
            CTX, "bk1", delimiter="/", key_marker=key_marker,
            upload_id_marker=upload_id_marker, max_uploads=size,
        )  # fmt: skip
        seen += [f"{u.key}:{u.id}" for u in page.uploads]
        prefixes += page.common_prefixes
        if not page.is_truncated:
            break
        key_marker, upload_id_marker = page.next_key_marker, page.next_upload_id_marker
    everything = service.list_multipart_uploads(CTX, "bk1", delimiter="/")
    assert seen == [f"{u.key}:{u.id}" for u in everything.uploads]
    assert len(seen) == 5
    assert prefixes == ["dir/"]


def test_list_uploads_markers(service: ObjectService, clock: FakeClock) -> None:
    firsts: dict[str, Upload] = {}
    for key in ["a", "b", "b", "c"]:
        upload = begin(service, key)
        firsts.setdefault(key, upload)
        clock.advance(1)
    after_b = service.list_multipart_uploads(CTX, "bk1", key_marker="b")
    assert _keys(after_b.uploads) == ["c"]
    inside_b = service.list_multipart_uploads(
        CTX, "bk1", key_marker="b", upload_id_marker=firsts["b"].id
    )
    assert _keys(inside_b.uploads) == ["b", "c"]
    assert inside_b.uploads[0].id != firsts["b"].id
    assert service.list_multipart_uploads(CTX, "bk1", upload_id_marker="x").uploads[0].key == "a"
    assert service.list_multipart_uploads(CTX, "bk1", max_uploads=0).uploads == []
    for hostile in [{"prefix": "a\x00"}, {"key_marker": "\x00"}, {"upload_id_marker": "\x00"}]:
        with pytest.raises(InvalidArgument):
            service.list_multipart_uploads(CTX, "bk1", **{"key_marker": "b", **hostile})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        service.list_multipart_uploads(CTX, "bk1", max_uploads=1001)


# --- checksums -------------------------------------------------------------------------


def crc(algorithm: ChecksumAlgorithm, data: bytes) -> ExpectedChecksum:
    return ExpectedChecksum(algorithm, checksum_of(algorithm, data))


@pytest.mark.parametrize(
    ("algorithm", "asked", "kind"),
    [
        (ChecksumAlgorithm.SHA256, None, ChecksumType.COMPOSITE),
        (ChecksumAlgorithm.SHA1, None, ChecksumType.COMPOSITE),
        (ChecksumAlgorithm.CRC32, None, ChecksumType.COMPOSITE),
        (ChecksumAlgorithm.CRC32C, None, ChecksumType.COMPOSITE),
        (ChecksumAlgorithm.CRC64NVME, None, ChecksumType.FULL_OBJECT),
        (ChecksumAlgorithm.CRC32, ChecksumType.FULL_OBJECT, ChecksumType.FULL_OBJECT),
        (ChecksumAlgorithm.CRC32C, ChecksumType.FULL_OBJECT, ChecksumType.FULL_OBJECT),
        (ChecksumAlgorithm.CRC64NVME, ChecksumType.FULL_OBJECT, ChecksumType.FULL_OBJECT),
        (ChecksumAlgorithm.SHA256, ChecksumType.COMPOSITE, ChecksumType.COMPOSITE),
    ],
)
def test_checksum_types_default_as_in_s3(
    service: ObjectService,
    algorithm: ChecksumAlgorithm,
    asked: ChecksumType | None,
    kind: ChecksumType,
) -> None:
    upload = begin(service, checksum_algorithm=algorithm, checksum_type=asked)
    assert (upload.checksum_algorithm, upload.checksum_type) == (algorithm, kind)
    again = service.list_parts(CTX, "bk1", upload.key, upload.id).upload
    assert (again.checksum_algorithm, again.checksum_type) == (algorithm, kind)


NOT_WITH = "The {} checksum type cannot be used with the {} checksum algorithm."
FULL, COMPOSITE = ChecksumType.FULL_OBJECT, ChecksumType.COMPOSITE


@pytest.mark.parametrize(
    ("algorithm", "kind", "message"),
    [
        (ChecksumAlgorithm.SHA256, FULL, NOT_WITH.format("FULL_OBJECT", "sha256")),
        (ChecksumAlgorithm.SHA1, FULL, NOT_WITH.format("FULL_OBJECT", "sha1")),
        (ChecksumAlgorithm.CRC64NVME, COMPOSITE, NOT_WITH.format("COMPOSITE", "crc64nvme")),
        (
            None, COMPOSITE,
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm "
            "header.",
        ),
    ],
)  # fmt: skip
def test_checksum_types_s3_refuses(
    service: ObjectService,
    algorithm: ChecksumAlgorithm | None,
    kind: ChecksumType,
    message: str,
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        begin(service, checksum_algorithm=algorithm, checksum_type=kind)
    assert refused.value.message == message


def test_a_composite_checksum(service: ObjectService, blobs: MemoryBlobStore) -> None:
    sha = ChecksumAlgorithm.SHA256
    upload = begin(service, checksum_algorithm=sha)
    with pytest.raises(InvalidRequest) as missing:
        part(service, upload, 1, A)
    assert missing.value.message == (
        "Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum "
        "Type: null"
    )
    with pytest.raises(InvalidRequest):  # another algorithm than the upload's
        part(service, upload, 1, A, checksum=crc(ChecksumAlgorithm.CRC32, A))
    with pytest.raises(BadDigest):
        part(service, upload, 1, A, checksum=crc(sha, B))
    assert list(blobs.list()) == []
    parts = [part(service, upload, n, d, checksum=crc(sha, d)) for n, d in enumerate((A, B, C), 1)]
    assert [p.checksum for p in parts] == [checksum_of(sha, d) for d in (A, B, C)]

    unlisted = [(p.part_number, p.etag, None) for p in parts]
    with pytest.raises(InvalidRequest) as refused:
        service.complete_multipart_upload(CTX, "bk1", upload.key, upload.id, unlisted)
    assert refused.value.message == (
        "The upload was created using a sha256 checksum. The complete request must include "
        "the checksum for each part. It was missing for part 1 in the request."
    )
    wrong = [(p.part_number, p.etag, checksum_of(sha, b"x")) for p in parts]
    with pytest.raises(InvalidPart):
        service.complete_multipart_upload(CTX, "bk1", upload.key, upload.id, wrong)
    with pytest.raises(BadDigest):
        complete(service, upload, parts, checksum_type=ChecksumType.FULL_OBJECT)
    with pytest.raises(BadDigest):
        complete(service, upload, parts, expected_checksum=(sha, checksum_of(sha, WHOLE)))

    expected = composite(sha, [checksum_of(sha, d) for d in (A, B, C)])
    assert expected.endswith("-3")
    version = complete(
        service, upload, parts, expected_checksum=(sha, expected),
        checksum_type=ChecksumType.COMPOSITE,
    )  # fmt: skip
    assert version.checksum is not None
    assert (version.checksum.value, version.checksum.type) == (expected, ChecksumType.COMPOSITE)
    assert service.head(CTX, "bk1", "big.bin").checksum == version.checksum


@pytest.mark.parametrize(
    "algorithm", [ChecksumAlgorithm.CRC32, ChecksumAlgorithm.CRC32C, ChecksumAlgorithm.CRC64NVME]
)
def test_a_full_object_checksum_is_combined_from_the_parts(
    service: ObjectService, algorithm: ChecksumAlgorithm
) -> None:
    upload = begin(service, checksum_algorithm=algorithm, checksum_type=ChecksumType.FULL_OBJECT)
    # A part may come without its checksum: it is computed as the bytes pass.
    parts = [part(service, upload, 1, A), part(service, upload, 2, B, checksum=crc(algorithm, B))]
    parts.append(part(service, upload, 3, C))
    whole = checksum_of(algorithm, WHOLE)
    with pytest.raises(BadDigest):
        complete(service, upload, parts, expected_checksum=(algorithm, checksum_of(algorithm, A)))
    version = complete(service, upload, parts, expected_checksum=(algorithm, whole))
    assert version.checksum is not None
    assert (version.checksum.value, version.checksum.type) == (whole, ChecksumType.FULL_OBJECT)


def test_an_upload_without_checksum_keeps_none(service: ObjectService) -> None:
    upload = begin(service)
    # A part's checksum is still checked when one is sent, but no part keeps it.
    with pytest.raises(BadDigest):
        part(service, upload, 1, A, checksum=crc(ChecksumAlgorithm.CRC32, B))
    parts = [part(service, upload, 1, A, checksum=crc(ChecksumAlgorithm.CRC32, A))]
    assert parts[0].checksum is None
    with pytest.raises(BadDigest):
        complete(service, upload, parts, checksum_type=ChecksumType.COMPOSITE)
    assert complete(service, upload, parts).checksum is None


# --- copies into parts -----------------------------------------------------------------


def test_a_part_copied_from_a_range(service: ObjectService) -> None:
    source = service.put(CTX, "bk1", "source", [WHOLE])
    upload = begin(service)
    copied = service.upload_part_copy(
        CTX, "bk1", upload.key, upload.id, 1, "bk1", "source", byte_range=(MIN - 5, 2 * MIN)
    )
    assert copied.blob_id != source.blob_id
    assert (copied.size, copied.etag) == (
        MIN + 5,
        hashlib.md5(WHOLE[MIN - 5 : 2 * MIN]).hexdigest(),
    )
    complete(service, upload, [copied])
    assert read(service, "big.bin") == WHOLE[MIN - 5 : 2 * MIN]
    for bad in [(0, len(WHOLE) + 1), (10, 10), (-1, 5)]:
        with pytest.raises(InvalidArgument):
            service.upload_part_copy(
                CTX, "bk1", "k2", begin(service, "k2").id, 1, "bk1", "source", byte_range=bad
            )


def test_a_whole_source_is_shared(service: ObjectService, blobs: MemoryBlobStore) -> None:
    source = service.put(CTX, "bk1", "source", [A])
    upload = begin(service)
    shared = service.upload_part_copy(CTX, "bk1", upload.key, upload.id, 1, "bk1", "source")
    assert (shared.blob_id, shared.etag) == (source.blob_id, source.etag)
    service.delete(CTX, "bk1", "source")  # the part keeps the blob alive
    assert stored(blobs) == {source.blob_id}
    tail = part(service, upload, 2, C)
    complete(service, upload, [shared, tail])
    assert read(service, "big.bin") == A + C
    service.delete(CTX, "bk1", "big.bin")
    assert list(blobs.list()) == []
    assert registered(service.catalog) == {}


def test_a_source_without_the_uploads_checksum_is_copied(service: ObjectService) -> None:
    source = service.put(CTX, "bk1", "source", [A])
    upload = begin(service, checksum_algorithm=ChecksumAlgorithm.SHA256)
    copied = service.upload_part_copy(CTX, "bk1", upload.key, upload.id, 1, "bk1", "source")
    assert copied.blob_id != source.blob_id
    assert copied.checksum == checksum_of(ChecksumAlgorithm.SHA256, A)
    sha = ChecksumAlgorithm.SHA256
    kept = service.put(CTX, "bk1", "summed", [B], checksum=crc(sha, B))
    shared = service.upload_part_copy(CTX, "bk1", upload.key, upload.id, 2, "bk1", "summed")
    assert (shared.blob_id, shared.checksum) == (kept.blob_id, checksum_of(sha, B))


def test_a_part_copied_from_a_multipart_object(service: ObjectService) -> None:
    upload, parts = uploaded(service, "first.bin")
    complete(service, upload, parts)
    second = begin(service, "second.bin")
    whole = service.upload_part_copy(CTX, "bk1", "second.bin", second.id, 1, "bk1", "first.bin")
    piece = service.upload_part_copy(
        CTX, "bk1", "second.bin", second.id, 2, "bk1", "first.bin", byte_range=(MIN - 1, MIN + 1)
    )
    complete(service, second, [whole, piece])
    assert read(service, "second.bin") == WHOLE + WHOLE[MIN - 1 : MIN + 1]


def test_copy_conditions_refuse_before_any_byte(
    service: ObjectService, blobs: MemoryBlobStore
) -> None:
    service.put(CTX, "bk1", "source", [A])
    upload = begin(service)
    before = stored(blobs)

    def refuse(version: ObjectVersion) -> None:
        raise PreconditionFailed()

    with pytest.raises(PreconditionFailed):
        service.upload_part_copy(
            CTX, "bk1", upload.key, upload.id, 1, "bk1", "source", source_check=refuse
        )
    assert stored(blobs) == before
    assert read_parts(service, upload) == []
    with pytest.raises(NoSuchKey):
        service.upload_part_copy(CTX, "bk1", upload.key, upload.id, 1, "bk1", "missing")


# --- permissions -----------------------------------------------------------------------


def _context(*grants: Grant) -> RequestContext:
    return RequestContext("someone", "10.0.0.1", permissions=Permissions.of(grants))


def test_uploads_need_write_and_listings_read(service: ObjectService) -> None:
    upload, parts = uploaded(service, "team/big.bin")
    reader = _context(Grant(frozenset({Access.READ}), ("bk1",), ("team/",)))
    writer = _context(Grant(frozenset({Access.WRITE}), ("bk1",), ("team/",)))
    listed = [(p.part_number, p.etag, None) for p in parts]
    denials: list[Callable[[], object]] = [
        lambda: service.create_multipart_upload(reader, "bk1", "team/x"),
        lambda: service.upload_part(reader, "bk1", upload.key, upload.id, 1, [A]),
        lambda: service.complete_multipart_upload(reader, "bk1", upload.key, upload.id, listed),
        lambda: service.abort_multipart_upload(reader, "bk1", upload.key, upload.id),
        lambda: service.create_multipart_upload(writer, "bk1", "elsewhere/x"),
        lambda: service.list_parts(writer, "bk1", upload.key, upload.id),
        lambda: service.list_multipart_uploads(writer, "bk1", prefix="team/"),
        lambda: service.list_multipart_uploads(reader, "bk1"),  # beyond its prefix
        lambda: service.upload_part_copy(writer, "bk1", upload.key, upload.id, 1, "bk1", "x"),
    ]
    for denied in denials:
        with pytest.raises(AccessDenied):
            denied()
    assert service.list_parts(reader, "bk1", upload.key, upload.id).parts == parts
    assert service.list_multipart_uploads(reader, "bk1", prefix="team/").uploads == [upload]
    assert service.upload_part(writer, "bk1", upload.key, upload.id, 4, [C]).size == len(C)


def test_a_public_bucket_shows_no_uploads(service: ObjectService) -> None:
    upload, _ = uploaded(service)
    service.buckets.catalog.run_write(
        lambda s: s.configure_bucket(service.buckets.get("bk1").id, public_read=True)
    )
    anonymous = RequestContext("anonymous", "10.0.0.2")
    with pytest.raises(AccessDenied):
        service.list_multipart_uploads(anonymous, "bk1")
    with pytest.raises(AccessDenied):
        service.list_parts(anonymous, "bk1", upload.key, upload.id)
