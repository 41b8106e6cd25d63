"""Blobs as objects in an S3 bucket (AWS or any S3-compatible server).

Blob ``<id>`` is the object ``<prefix><id>``. A writer buffers one part in memory: a blob
that fits in it is sent with one ``PutObject``, a bigger one as a multipart upload, so
memory stays at about one part whatever the blob size. Until the upload completes, S3
shows nothing under the key; :meth:`S3BlobStore.sweep_partial` aborts uploads a dead
process left behind, which S3 would otherwise keep (and bill) forever.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import TYPE_CHECKING, cast

from chute.blobs.base import (
    READ_CHUNK,
    BlobReader,
    BlobStore,
    BlobWriter,
    StoredBlob,
    empty_reader,
    is_blob_id,
    new_blob_id,
)
from chute.errors import (
    BlobError,
    BlobNotFound,
    BlobStoreUnavailable,
    ChuteError,
    MissingDependency,
    StorageFull,
)

if TYPE_CHECKING:
    from botocore.exceptions import ClientError
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, MultipartUploadTypeDef

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: S3's smallest allowed part, except for the last one.
MIN_PART_SIZE = 5 * MiB

# Keys under the prefix that are not blob ids belong to someone else: never list, delete
# or abort them.
_NOT_FOUND = {"NoSuchKey", "NotFound", "404"}
#: Answers that say the store is busy or failing for a moment: a client should retry.
_UNAVAILABLE = {"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError", "503"}
#: Answers that say the store has no room (MinIO's, and the HTTP status).
_FULL = {"XMinioStorageFull", "507"}


class S3BlobStore(BlobStore):
    """Blobs in ``bucket`` under ``prefix``, through one thread-safe boto3 client."""

    name = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_size: int = 8 * MiB,
        max_attempts: int = 5,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        self._client = _connect(
            endpoint_url, region, access_key_id, secret_access_key, max_attempts
        )

    def open_write(self, prefix: str = "") -> S3BlobWriter:
        blob_id = new_blob_id(prefix)
        return S3BlobWriter(self._client, self.bucket, self._key(blob_id), blob_id, self.part_size)

    def open_read(self, blob_id: str, start: int = 0, end: int | None = None) -> BlobReader:
        key = self._key(blob_id)
        if end is not None and end <= start:
            self.size(blob_id)  # nothing to read, but a missing blob must still fail here
            return empty_reader()
        try:
            with _reaching():
                response = self._client.get_object(
                    Bucket=self.bucket, Key=key, Range=_range_header(start, end)
                )
        except self._client.exceptions.ClientError as exc:
            if _error_code(exc) == "InvalidRange":
                return empty_reader()
            raise _blob_error(exc, blob_id) from exc
        return _BodyChunks(response["Body"])

    def size(self, blob_id: str) -> int:
        try:
            with _reaching():
                head = self._client.head_object(Bucket=self.bucket, Key=self._key(blob_id))
        except self._client.exceptions.ClientError as exc:
            raise _blob_error(exc, blob_id) from exc
        return head["ContentLength"]

    def delete(self, blob_id: str) -> None:
        if not is_blob_id(blob_id):
            return
        try:
            with _reaching():
                self._client.delete_object(Bucket=self.bucket, Key=self._key(blob_id))
        except self._client.exceptions.ClientError as exc:
            raise _blob_error(exc, blob_id) from exc

    def list(self, prefix: str = "") -> Iterator[StoredBlob]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        with _reaching():
            for page in pages:
                for item in page.get("Contents", []):
                    blob_id = item["Key"].removeprefix(self.prefix)
                    if is_blob_id(blob_id):
                        yield StoredBlob(blob_id, item["LastModified"].astimezone(UTC))

    def partials(self, prefix: str = "") -> Iterator[StoredBlob]:
        for upload in self._uploads(prefix):
            blob_id = upload["Key"].removeprefix(self.prefix)
            yield StoredBlob(blob_id, upload["Initiated"].astimezone(UTC))

    def purge(self, blob_id: str) -> None:
        """Delete the blob and abort unfinished multipart uploads of it. The store's own
        record of when an upload began is never consulted: the registry decides."""
        self.delete(blob_id)
        if is_blob_id(blob_id):
            for upload in list(self._uploads(blob_id)):
                self._abort_upload(upload)

    def _uploads(self, prefix: str) -> Iterator[MultipartUploadTypeDef]:
        pages = self._client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        with _reaching():
            for page in pages:
                for upload in page.get("Uploads", []):
                    if is_blob_id(upload["Key"].removeprefix(self.prefix)):
                        yield upload

    def check(self) -> None:
        try:
            with _reaching():
                self._client.head_bucket(Bucket=self.bucket)
        except self._client.exceptions.ClientError as exc:
            error = _blob_error(exc, "")
            if isinstance(error, StorageFull | BlobStoreUnavailable):
                raise error from exc
            raise BlobError("the blob store's bucket cannot be used") from exc

    def close(self) -> None:
        self._client.close()

    def _key(self, blob_id: str) -> str:
        if not is_blob_id(blob_id):
            raise BlobNotFound(f"{blob_id!r} is not a blob id")
        return self.prefix + blob_id

    def _abort_upload(self, upload: MultipartUploadTypeDef) -> bool:
        """Abort one upload; one that another sweep aborted meanwhile is not counted."""
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        except self._client.exceptions.NoSuchUpload:
            return False
        return True


class S3BlobWriter(BlobWriter):
    """Buffers one part; sends it with ``PutObject`` or as parts of a multipart upload."""

    def __init__(
        self, client: S3Client, bucket: str, key: str, blob_id: str, part_size: int
    ) -> None:
        super().__init__(blob_id)
        self._client = client
        self._bucket = bucket
        self._key = key
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []

    @property
    def _part(self) -> bytes:
        # botocore sends a bytearray as it is (no copy of the part); its stubs say bytes.
        return cast(bytes, self._buffer)

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            # A full part is sent only once more bytes arrive: a blob of exactly one
            # part then still goes out as a single PutObject.
            if len(self._buffer) == self._part_size:
                self._send_part()
            room = self._part_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]

    def _commit(self) -> None:
        try:
            with _reaching():
                if self._upload_id is None:
                    self._client.put_object(Bucket=self._bucket, Key=self._key, Body=self._part)
                else:
                    self._upload_part(self._upload_id)
                    self._client.complete_multipart_upload(
                        Bucket=self._bucket,
                        Key=self._key,
                        UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts},
                    )
        except self._client.exceptions.ClientError as exc:
            raise _blob_error(exc, self.blob_id, "could not store") from exc
        self._buffer = bytearray()

    def _abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is None:
            return
        try:
            with _reaching():
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
                )
        except (self._client.exceptions.ClientError, BlobStoreUnavailable):
            log.warning("could not abort the upload of blob %s", self.blob_id, exc_info=True)

    def _send_part(self) -> None:
        """Send the full buffer as the next part; the first one starts the upload."""
        try:
            with _reaching():
                if self._upload_id is None:
                    upload = self._client.create_multipart_upload(
                        Bucket=self._bucket, Key=self._key
                    )
                    self._upload_id = upload["UploadId"]
                self._upload_part(self._upload_id)
        except self._client.exceptions.ClientError as exc:
            raise _blob_error(exc, self.blob_id, "could not store") from exc

    def _upload_part(self, upload_id: str) -> None:
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=upload_id,
            PartNumber=number,
            Body=self._part,
        )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})
        self._buffer.clear()


class _BodyChunks(Iterator[bytes]):
    """A response body in chunks of at most :data:`READ_CHUNK` bytes.

    An iterator rather than a generator so the connection is released even if iteration
    never starts: by :meth:`close`, at the end of the body, or when the iterator is
    collected.
    """

    def __init__(self, body: StreamingBody) -> None:
        self._body = body
        self._release = weakref.finalize(self, body.close)

    def __next__(self) -> bytes:
        chunk = self._body.read(READ_CHUNK) if self._release.alive else b""
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        """Release the connection; the iteration stops."""
        self._release()


def _connect(
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    max_attempts: int,
) -> S3Client:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise MissingDependency("boto3", "s3") from None
    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=32,
        # Other S3 servers (MinIO, Ceph) are usually reached by a name that has no
        # per-bucket subdomains, which virtual-hosted addressing needs.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    session = boto3.session.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def _range_header(start: int, end: int | None) -> str:
    return f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> str:
    return str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _blob_error(exc: ClientError, blob_id: str, doing: str = "S3 failed on") -> ChuteError:
    """What S3's answer means: the blob missing, the store busy or full, or a failure."""
    code = _error_code(exc)
    if code in _NOT_FOUND:
        return BlobNotFound(f"blob {blob_id} does not exist")
    if code in _FULL or _status(exc) in _FULL:
        return StorageFull("the blob store has no room left")
    if code in _UNAVAILABLE or _status(exc) in _UNAVAILABLE:
        return BlobStoreUnavailable()
    return BlobError(f"{doing} blob {blob_id}: {exc}")


@contextmanager
def _reaching() -> Iterator[None]:
    """A store that cannot be reached (refused, timed out, cut off) is unavailable; what
    botocore said is the error's cause, for the server's log, not the client."""
    from botocore.exceptions import ConnectionError, HTTPClientError

    try:
        yield
    except (ConnectionError, HTTPClientError) as exc:
        raise BlobStoreUnavailable() from exc
