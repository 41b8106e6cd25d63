"""The contract between the broker and the worker pool: what an attempt is given, what
it gives back, and the few calls the pool makes.

A :class:`Task` carries everything one attempt needs (so a worker process never queries
the catalog); a :class:`Result` carries everything the broker must record (outputs are
staged in the blob store, not yet in the catalog). The pool sees the queue only through
:class:`Broker`, which the pipelines package implements, as dramatiq's ``Worker`` sees
only its ``Broker``. All of these are plain picklable records: they cross process
boundaries for every job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, Protocol

from chute.catalog.records import NewFunctionLog
from chute.queue.states import Outcome
from chute.wire import compact


@compact
@dataclass(frozen=True, slots=True)
class SourceObject:
    """The object version a job processes."""

    bucket: str
    key: str
    version_id: str
    size: int
    etag: str
    sha256: str
    content_type: str
    user_metadata: dict[str, str] = field(default_factory=dict)
    #: The MD5 of the bytes; the ETag is the same only for objects stored in one piece.
    md5: str = ""

    def template_vars(self) -> dict[str, str]:
        """Variables every output key template may use.

        For ``photos/2024/cat.jpg``: ``key`` the whole key, ``dir`` ``photos/2024``,
        ``name`` ``cat.jpg``, ``stem`` ``photos/2024/cat``, ``base`` ``cat``, ``ext``
        ``jpg``, plus ``bucket`` and ``version``."""
        path = PurePosixPath(self.key)
        suffix = path.suffix if path.name not in ("", path.suffix) else ""
        stem = self.key[: len(self.key) - len(suffix)] if suffix else self.key
        directory = self.key.rpartition("/")[0]
        return {
            "bucket": self.bucket,
            "key": self.key,
            "dir": directory,
            "name": path.name,
            "stem": stem,
            "base": path.name[: len(path.name) - len(suffix)] if suffix else path.name,
            "ext": suffix[1:],
            "version": self.version_id,
        }


@compact
@dataclass(frozen=True, slots=True)
class SourceSegment:
    """One segment of a source stored in segments (a completed multipart upload): ``size``
    bytes of blob ``blob_id``, at ``location`` in the blob store or inline."""

    blob_id: str
    size: int
    location: str | None
    inline: bytes | None = None


@compact
@dataclass(frozen=True, slots=True)
class StagedOutput:
    """An output written during an attempt, not yet in the catalog."""

    key: str
    content_type: str
    size: int
    md5: str
    sha256: str
    #: Where the bytes are: a blob in the blob store (its id), or (small outputs) inline.
    blob_id: str | None = None
    data: bytes | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@compact
@dataclass(frozen=True, slots=True)
class TaskItem:
    """One of the items a step joining a Map gets: what it is, and where its bytes are
    (a location in the blob store, or inline)."""

    key: str
    size: int
    content_type: str
    location: str | None
    inline: bytes | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    #: The step whose result it is (a step joining two Maps tells theirs apart).
    step: str = ""


@compact
@dataclass(frozen=True, slots=True)
class Task:
    """One attempt of one job."""

    job_id: int
    attempt: int
    kind: str
    pipeline: str
    step: str
    processor: str
    options: dict[str, Any]
    output_template: str
    timeout_seconds: float
    memory_mb: int
    source: SourceObject
    #: The S3 event record that started the run, as JSON text.
    event_json: str
    #: Where the source bytes are: a location in the blob store, or inline (small
    #: objects; then ``location`` is ``None``), or (both ``None``) in ``segments``.
    location: str | None
    inline: bytes | None = None
    #: What the job was queued with (a notification: the message and where it goes).
    payload: dict[str, Any] = field(default_factory=dict)
    #: Which claim of the job this attempt runs under: its outputs are staged under
    #: ``staging_prefix(job_id, claim)``.
    claim: int = 0
    #: A source stored in segments: each of them, in order (read one after the other).
    segments: tuple[SourceSegment, ...] = ()
    #: A step joining a Map: the Map's results, in order.
    items: tuple[TaskItem, ...] = ()
    #: Its outputs are items the run keeps (staged in the blob store, never inline, so
    #: that a join's task names them without carrying their bytes).
    keeps_items: bool = False


@compact
@dataclass(frozen=True, slots=True)
class Result:
    """How one attempt ended."""

    job_id: int
    attempt: int
    outcome: Outcome
    started_at: datetime
    ended_at: datetime
    error: str | None = None
    traceback: str | None = None
    #: A processor's ``Retry(delay)``.
    retry_delay: float | None = None
    outputs: list[StagedOutput] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    #: The logs of the function invocations the attempt made (``function.invoke``).
    function_logs: list[NewFunctionLog] = field(default_factory=list)


def staging_prefix(job_id: int, claim: int) -> str:
    """The blob id prefix of the outputs staged under one claim of a job: if its attempt
    never answers, the sweep finds what it left under this prefix (see
    :mod:`chute.objects.sweep`). A claim, not an attempt: a released claim hands its
    attempt number back to the next one, never its claim number."""
    digest = hashlib.blake2b(f"{job_id}.{claim}".encode(), digest_size=8)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Claimed:
    """Tasks to run, and results settled at the claim without an attempt: a job whose
    step no longer exists fails, a step whose ``when`` condition is false is skipped."""

    tasks: list[Task]
    settled: list[Result]
    #: Jobs claimed and handed to an SQS queue's consumers (queue steps).
    handed: int = 0


@dataclass(frozen=True, slots=True)
class BatchLimit:
    """A batch step's limits: attempts of up to ``size`` tasks, or fewer once the oldest
    has waited ``wait_seconds``."""

    size: int
    wait_seconds: float


class Broker(Protocol):
    """What the worker pool needs of the job queue."""

    def claim(self, worker: str, limit: int, lease: float) -> Claimed:
        """Lease up to ``limit`` ready jobs to ``worker`` for ``lease`` seconds."""
        ...

    def record(self, results: list[Result], worker: str) -> None:
        """Commit how attempts ended (dropping results of leases ``worker`` lost)."""
        ...

    def release(self, tasks: list[Task], worker: str) -> None:
        """Give back claimed tasks that never ran to an end: their attempts do not count."""
        ...

    def extend(
        self, worker: str, job_ids: list[int], lease: float, started: Sequence[int] = ()
    ) -> None:
        """Renew the leases of jobs ``worker`` holds, and note that the ``started`` ones
        (a subset, or other held jobs) have been handed to a worker process."""
        ...

    def reap(self) -> int:
        """Deal with jobs whose worker stopped renewing its lease: the attempt of a
        started one fails as lost; one never started goes back to the queue with its
        attempt uncounted, but only once (a job that kills its worker before the start
        is noted must not come back forever)."""
        ...

    def seconds_until_due(self) -> float | None:
        """How long until the earliest waiting job is ready (``None``: none waits)."""
        ...

    def batch_limits(self) -> dict[tuple[str, str], BatchLimit]:
        """The batch steps by (pipeline, step), with their limits."""
        ...
