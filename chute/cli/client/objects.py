"""Object endpoints of the client: upload, download, describe, delete and copy.

Uploads and downloads stream in chunks of :data:`CHUNK` bytes, so memory stays flat
whatever the object size, and a full download is checked against the SHA-256 the server
sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

import httpx
from pydantic import BaseModel

from chute.api.rest.headers import DELETE_MARKER, METADATA_PREFIX, SHA256, VERSION_ID
from chute.api.rest.models.objects import CopyRequest, ObjectDetailView, ObjectRef, VersionView
from chute.cli.client.transport import (
    ChuteClientError,
    Transport,
    object_path,
    present,
    request_body,
    translate_transport_errors,
)

#: Bytes per read and write when streaming bodies.
CHUNK = 1024 * 1024

#: Called with the number of bytes just transferred.
ProgressCallback = Callable[[int], None]


class ObjectInfo(BaseModel):
    """An object version as the headers of a GET or HEAD describe it."""

    version_id: str | None
    size: int
    etag: str
    sha256: str | None
    content_type: str | None
    #: As HTTP writes it (``Wed, 01 May 2024 12:00:00 GMT``).
    last_modified: str | None
    metadata: dict[str, str]


class Deletion(BaseModel):
    """What a delete did: the version it removed or the delete marker it added."""

    version_id: str | None
    delete_marker: bool


class Download:
    """An object's bytes on their way from the server: headers now, the body in chunks.

    A full download (not a byte range) is checked against the SHA-256 the server sent, so
    a file that arrives is the file that was stored.
    """

    def __init__(self, response: httpx.Response, base_url: str) -> None:
        self._response = response
        self._base_url = base_url

    @property
    def size(self) -> int:
        """Body length in bytes."""
        return int(self._response.headers["content-length"])

    @property
    def info(self) -> ObjectInfo:
        """The object version, as :meth:`ObjectEndpoints.head_object` describes it."""
        return _head_view(self._response.headers)

    def chunks(self, progress: ProgressCallback | None = None) -> Iterator[bytes]:
        """The body in chunks of up to :data:`CHUNK` bytes; raises on a corrupt body."""
        digest = hashlib.sha256()
        with translate_transport_errors(self._base_url):
            for chunk in self._response.iter_bytes(CHUNK):
                digest.update(chunk)
                if progress is not None:
                    progress(len(chunk))
                yield chunk
        self._verify(digest.hexdigest())

    def write_to(self, out: BinaryIO, progress: ProgressCallback | None = None) -> int:
        """Write the whole body to ``out``; returns the number of bytes written."""
        written = 0
        for chunk in self.chunks(progress):
            out.write(chunk)
            written += len(chunk)
        return written

    def _verify(self, sha256: str) -> None:
        expected = self._response.headers.get(SHA256)
        if self._response.status_code == 200 and expected and expected != sha256:
            raise ChuteClientError(
                200, "BadDigest", f"received bytes have SHA-256 {sha256}, expected {expected}"
            )


class ObjectEndpoints(Transport):
    """The object endpoints: one object, or one version of it, at a time."""

    def put_object(
        self,
        bucket: str,
        key: str,
        source: BinaryIO,
        *,
        size: int | None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        content_md5: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> VersionView:
        """Upload ``size`` bytes read from ``source`` in chunks; returns the new version.

        ``size`` is sent as Content-Length, and no more is read, so a file that grows
        while it is uploaded stores a consistent prefix. ``None`` (a pipe) sends a
        chunked body instead.
        """
        headers = _upload_headers(size, content_type, metadata, content_md5)
        body = _read_chunks(source, size, progress)
        path = object_path(bucket, key)
        return self._json(VersionView, "PUT", path, content=body, headers=headers)

    @contextmanager
    def open_object(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> Iterator[Download]:
        """Start a download; errors (``NoSuchKey``...) are raised before anything is yielded,
        so callers create their output only for an object that exists."""
        params = present(version_id=version_id)
        with self._stream("GET", object_path(bucket, key), params=params) as response:
            yield Download(response, self.base_url)

    def head_object(self, bucket: str, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """An object version's description, from the headers of a HEAD request."""
        params = present(version_id=version_id)
        response = self._request("HEAD", object_path(bucket, key), params=params)
        return _head_view(response.headers)

    def delete_object(self, bucket: str, key: str, *, version_id: str | None = None) -> Deletion:
        """Delete an object, or one version of it; says whether a delete marker was added."""
        params = present(version_id=version_id)
        response = self._request("DELETE", object_path(bucket, key), params=params)
        return Deletion(
            version_id=response.headers.get(VERSION_ID),
            delete_marker=response.headers.get(DELETE_MARKER) == "true",
        )

    def copy_object(
        self,
        source: tuple[str, str],
        destination: tuple[str, str],
        *,
        source_version_id: str | None = None,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> VersionView:
        """Copy ``(bucket, key)`` to ``(bucket, key)`` on the server; returns the new version."""
        body = CopyRequest(
            source=ObjectRef(bucket=source[0], key=source[1], version_id=source_version_id),
            destination=ObjectRef(bucket=destination[0], key=destination[1]),
            content_type=content_type,
            metadata=metadata,
        )
        return self._json(VersionView, "POST", "/copy", json=request_body(body))

    def object_detail(self, bucket: str, key: str) -> ObjectDetailView:
        """Every version of an object and every event that touched it."""
        return self._json(ObjectDetailView, "GET", object_path(bucket, key, kind="detail"))


def _head_view(headers: httpx.Headers) -> ObjectInfo:
    """An object version as described by GET or HEAD response headers."""
    return ObjectInfo(
        version_id=headers.get(VERSION_ID),
        size=int(headers["content-length"]),
        etag=headers.get("etag", "").strip('"'),
        sha256=headers.get(SHA256),
        content_type=headers.get("content-type"),
        last_modified=headers.get("last-modified"),
        metadata={
            name.lower().removeprefix(METADATA_PREFIX): value
            for name, value in headers.items()
            if name.lower().startswith(METADATA_PREFIX)
        },
    )


def _upload_headers(
    size: int | None,
    content_type: str | None,
    metadata: dict[str, str] | None,
    content_md5: str | None,
) -> dict[str, str]:
    """Request headers of an upload. An explicit Content-Length stops httpx from sending
    the body chunked."""
    headers = {METADATA_PREFIX + name: value for name, value in (metadata or {}).items()}
    if size is not None:
        headers["content-length"] = str(size)
    if content_type:
        headers["content-type"] = content_type
    if content_md5:
        headers["content-md5"] = content_md5
    return headers


def _read_chunks(
    source: BinaryIO, size: int | None, progress: ProgressCallback | None
) -> Iterator[bytes]:
    """``source`` in chunks of up to :data:`CHUNK` bytes, stopping after ``size`` bytes."""
    remaining = size
    while remaining is None or remaining > 0:
        chunk = source.read(CHUNK if remaining is None else min(CHUNK, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        if progress is not None:
            progress(len(chunk))
        yield chunk
