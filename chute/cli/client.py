"""A small client for Chute's JSON API (``/_/api/v1``), used by the ``chute`` command.

Answers are parsed into the models the server builds them with
(:mod:`chute.api.rest.models`). Uploads and downloads stream in fixed-size chunks, so
memory stays flat whatever the object size. Every failure surfaces as
:class:`ChuteClientError` carrying the server's ``code`` and ``message``, or as
:class:`ChuteUnreachable` when no answer came back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from chute.api.rest.headers import DELETE_MARKER, ERROR_CODE, METADATA_PREFIX, SHA256, VERSION_ID
from chute.api.rest.models.buckets import (
    BucketList,
    BucketView,
    CreateBucket,
    VersioningState,
    VersioningStatus,
)
from chute.api.rest.models.errors import ErrorBody
from chute.api.rest.models.events import EventPage
from chute.api.rest.models.health import Health
from chute.api.rest.models.jobs import JobDetail, JobPage, Redriven
from chute.api.rest.models.objects import (
    CopyRequest,
    ObjectDetailView,
    ObjectList,
    ObjectRef,
    VersionList,
    VersionView,
)
from chute.api.rest.models.pipelines import PipelineList, Reprocessed
from chute.api.rest.models.status import FoundPage, ProcessingStatus
from chute.errors import ChuteError

API_PREFIX = "/_/api/v1"
#: Bytes per read and write when streaming bodies.
CHUNK = 1024 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)

#: Called with the number of bytes just transferred.
ProgressCallback = Callable[[int], None]
Answer = TypeVar("Answer", bound=BaseModel)


class ChuteClientError(ChuteError):
    """The Chute server refused a request: ``status`` and ``code`` are the server's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ChuteUnreachable(ChuteClientError):
    """No answer from the Chute server (``status`` is 0): it is down, or the URL is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "Unreachable", message)


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
        """The object version, as :meth:`ChuteClient.head_object` describes it."""
        return _head_view(self._response.headers)

    def chunks(self, progress: ProgressCallback | None = None) -> Iterator[bytes]:
        """The body in chunks of up to :data:`CHUNK` bytes; raises on a corrupt body."""
        digest = hashlib.sha256()
        with _translate_transport_errors(self._base_url):
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


class ChuteClient:
    """A connection pool to one Chute server, with one method per JSON API endpoint.

    Use it as a context manager, or call :meth:`close`, to release its connections.
    """

    def __init__(self, base_url: str, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + API_PREFIX, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    # --- service and buckets --------------------------------------------------------

    def health(self) -> Health:
        """The server's liveness answer, with its version."""
        return self._json(Health, "GET", "/health")

    def list_buckets(self) -> list[BucketView]:
        """Every bucket."""
        return self._json(BucketList, "GET", "/buckets").buckets

    def create_bucket(self, bucket: str, *, versioning: bool = False) -> BucketView:
        """Create a bucket, versioned from the start if asked; returns its description."""
        body = _body(CreateBucket(versioning="enabled")) if versioning else None
        return self._json(BucketView, "PUT", _bucket_path(bucket), json=body)

    def get_bucket(self, bucket: str) -> BucketView:
        """A bucket's description (``NoSuchBucket`` if it does not exist)."""
        return self._json(BucketView, "GET", _bucket_path(bucket))

    def delete_bucket(self, bucket: str) -> None:
        """Delete an empty bucket (``BucketNotEmpty`` otherwise)."""
        self._request("DELETE", _bucket_path(bucket))

    def get_versioning(self, bucket: str) -> VersioningStatus:
        """``unversioned``, ``enabled`` or ``suspended``."""
        return self._json(VersioningState, "GET", _bucket_path(bucket) + "/versioning").status

    def set_versioning(self, bucket: str, status: VersioningStatus) -> VersioningStatus:
        """Set versioning to ``enabled`` or ``suspended``; returns the new state."""
        body = _body(VersioningState(status=status))
        path = _bucket_path(bucket) + "/versioning"
        return self._json(VersioningState, "PUT", path, json=body).status

    # --- objects --------------------------------------------------------------------

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
        path = _object_path(bucket, key)
        return self._json(VersionView, "PUT", path, content=body, headers=headers)

    @contextmanager
    def open_object(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> Iterator[Download]:
        """Start a download; errors (``NoSuchKey``...) are raised before anything is yielded,
        so callers create their output only for an object that exists."""
        params = _query(version_id=version_id)
        request = self._http.build_request("GET", _object_path(bucket, key), params=params)
        with _translate_transport_errors(self.base_url):
            response = self._http.send(request, stream=True)
        try:
            if not response.is_success:
                with _translate_transport_errors(self.base_url):
                    response.read()
                raise _error_from(response)
            yield Download(response, self.base_url)
        finally:
            response.close()

    def head_object(self, bucket: str, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """An object version's description, from the headers of a HEAD request."""
        params = _query(version_id=version_id)
        response = self._request("HEAD", _object_path(bucket, key), params=params)
        return _head_view(response.headers)

    def delete_object(self, bucket: str, key: str, *, version_id: str | None = None) -> Deletion:
        """Delete an object, or one version of it; says whether a delete marker was added."""
        params = _query(version_id=version_id)
        response = self._request("DELETE", _object_path(bucket, key), params=params)
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
        return self._json(VersionView, "POST", "/copy", json=_body(body))

    def object_detail(self, bucket: str, key: str) -> ObjectDetailView:
        """Every version of an object and every event that touched it."""
        return self._json(ObjectDetailView, "GET", _object_path(bucket, key, kind="detail"))

    # --- processing -----------------------------------------------------------------

    def object_status(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> ProcessingStatus:
        """An object's processing status, steps, outputs and extracted metadata."""
        params = _query(version_id=version_id)
        path = _object_path(bucket, key, kind="status")
        return self._json(ProcessingStatus, "GET", path, params=params)

    def list_jobs(self, *, dead: bool = False, **filters: Any) -> JobPage:
        """A page of jobs (``dead``: dead letters); filters as the API names them."""
        params = {name: value for name, value in filters.items() if value not in (None, [])}
        return self._json(JobPage, "GET", "/dead" if dead else "/jobs", params=params)

    def get_job(self, job_id: int) -> JobDetail:
        """One job and every attempt it had."""
        return self._json(JobDetail, "GET", f"/jobs/{job_id}")

    def redrive(self, **selection: Any) -> Redriven:
        """Redrive dead jobs: ``job_ids``, filters, or ``all=True``."""
        body = {name: value for name, value in selection.items() if value is not None}
        return self._json(Redriven, "POST", "/dead/redrive", json=body)

    def reprocess(
        self, pipeline: str, bucket: str, *, key: str | None = None, prefix: str | None = None
    ) -> Reprocessed:
        """Run ``pipeline`` again on one object (``key``) or every object under ``prefix``."""
        body = {"bucket": bucket, "key": key, "prefix": prefix}
        path = f"/pipelines/{quote(pipeline, safe='')}/reprocess"
        return self._json(Reprocessed, "POST", path, json=body)

    def find(
        self,
        bucket: str,
        where: list[str],
        *,
        prefix: str = "",
        after: str | None = None,
        limit: int = 100,
    ) -> FoundPage:
        """Objects whose extracted metadata matches every ``FIELD=VALUE``."""
        params = {"where": where, "prefix": prefix, "after": after, "limit": limit}
        params = {k: v for k, v in params.items() if v is not None}
        return self._json(FoundPage, "GET", f"{_bucket_path(bucket)}/metadata", params=params)

    def pipelines(self) -> PipelineList:
        """The server's configured pipelines."""
        return self._json(PipelineList, "GET", "/pipelines")

    # --- listings -------------------------------------------------------------------

    def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        start_after: str | None = None,
        continuation_token: str | None = None,
        max_keys: int | None = None,
    ) -> ObjectList:
        """One page of latest versions; see :meth:`walk_objects` for all of them."""
        params = _query(
            prefix=prefix,
            delimiter=delimiter,
            start_after=start_after,
            continuation_token=continuation_token,
            max_keys=max_keys,
        )
        return self._json(ObjectList, "GET", _bucket_path(bucket) + "/objects", params=params)

    def walk_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str | None = None,
        max_keys: int | None = None,
    ) -> Iterator[ObjectList]:
        """Every page of a listing, following continuation tokens to the end."""
        token: str | None = None
        while True:
            page = self.list_objects(
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                continuation_token=token,
                max_keys=max_keys,
            )
            yield page
            token = page.next_continuation_token
            if not page.is_truncated or not token:
                return

    def list_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        key_marker: str | None = None,
        version_id_marker: str | None = None,
        max_keys: int | None = None,
    ) -> VersionList:
        """One page of versions and delete markers; see :meth:`walk_versions`."""
        params = _query(
            prefix=prefix,
            key_marker=key_marker,
            version_id_marker=version_id_marker,
            max_keys=max_keys,
        )
        return self._json(VersionList, "GET", _bucket_path(bucket) + "/versions", params=params)

    def walk_versions(
        self, bucket: str, *, prefix: str = "", max_keys: int | None = None
    ) -> Iterator[VersionList]:
        """Every page of a version listing, following the markers to the end."""
        key_marker: str | None = None
        version_marker: str | None = None
        while True:
            page = self.list_versions(
                bucket,
                prefix=prefix,
                key_marker=key_marker,
                version_id_marker=version_marker,
                max_keys=max_keys,
            )
            yield page
            key_marker = page.next_key_marker
            version_marker = page.next_version_id_marker
            if not page.is_truncated or not key_marker:
                return

    def events(
        self,
        *,
        after: int = 0,
        limit: int | None = None,
        bucket: str | None = None,
        key: str | None = None,
    ) -> EventPage:
        """Events after the cursor ``after``, oldest first, with the ``next_cursor``."""
        params = _query(after=after, limit=limit, bucket=bucket, key=key)
        return self._json(EventPage, "GET", "/events", params=params)

    # --- transport ------------------------------------------------------------------

    def _json(self, answer: type[Answer], method: str, path: str, **kwargs: Any) -> Answer:
        """The answer to a request, parsed as ``answer``."""
        response = self._request(method, path, **kwargs)
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            raise ChuteClientError(
                response.status_code,
                "UnexpectedAnswer",
                f"{method} {response.url.path}: the answer is not a {answer.__name__} "
                f"({exc.error_count()} problems); is the server another Chute version?",
            ) from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with _translate_transport_errors(self.base_url):
            response = self._http.request(method, path, **kwargs)
        if not response.is_success:
            raise _error_from(response)
        return response


@contextmanager
def _translate_transport_errors(base_url: str) -> Iterator[None]:
    """Turn httpx's network failures into :class:`ChuteUnreachable`."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise ChuteUnreachable(f"cannot reach Chute at {base_url}: {_describe(exc)}") from exc
    except httpx.TransportError as exc:
        raise ChuteUnreachable(f"request to Chute at {base_url} failed: {_describe(exc)}") from exc


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _error_from(response: httpx.Response) -> ChuteClientError:
    """The error a non-2xx answer carries: JSON ``{code, message}``, or for HEAD (which
    has no body) the ``x-chute-error-code`` header."""
    code = response.headers.get(ERROR_CODE) or f"HTTP{response.status_code}"
    message = f"{response.request.method} {response.url.path}: {response.reason_phrase}"
    try:
        body = ErrorBody.model_validate_json(response.content)
        code, message = body.code, body.message
    except ValidationError:
        pass
    return ChuteClientError(response.status_code, code, message)


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


def _body(request: BaseModel) -> dict[str, Any]:
    """A request model as the JSON the server reads."""
    return request.model_dump(mode="json", by_alias=True)


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


def _query(**params: str | int | None) -> dict[str, str | int]:
    """Query parameters without the unset ones."""
    return {name: value for name, value in params.items() if value is not None}


def _bucket_path(bucket: str) -> str:
    return "/buckets/" + quote(bucket, safe="")


def _object_path(bucket: str, key: str, *, kind: str = "objects") -> str:
    """The URL path of an object (``kind="detail"`` for its detail), key encoded per segment.

    ``.`` and ``..`` segments are escaped too: httpx would otherwise resolve them, and
    ``a/../b`` would silently address ``b`` instead of being refused by the server.
    """
    segments = [quote(part, safe="") for part in key.split("/")]
    segments = [s.replace(".", "%2E") if s in {".", ".."} else s for s in segments]
    return f"{_bucket_path(bucket)}/{kind}/{'/'.join(segments)}"
