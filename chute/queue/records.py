"""Plain records the queue returns; callers never see rows or SQL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chute.blobs.records import BlobKind
from chute.queue.states import JobKind, JobState, Outcome, RunState


@dataclass(frozen=True, slots=True)
class NewJob:
    """One job to create with a run: a pipeline step (or a notification)."""

    step: str
    max_attempts: int
    needs: list[str] = field(default_factory=list)
    kind: str = JobKind.STEP
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunSource:
    """The object version a run processes, and the event record that triggered it."""

    bucket: str
    key: str
    version_id: str
    source_row: int | None
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Run:
    """One pipeline applied to one object version."""

    id: int
    pipeline: str
    bucket: str
    key: str
    version_id: str
    source_row: int | None
    event: dict[str, Any]
    state: RunState
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Job:
    """A job row: one step of one run (or one notification about it)."""

    id: int
    run_id: int
    kind: str
    pipeline: str
    step: str
    bucket: str
    key: str
    needs: list[str]
    payload: dict[str, Any]
    state: JobState
    attempt: int
    max_attempts: int
    run_at: datetime
    worker: str | None
    lease_expires_at: datetime | None
    started_at: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    last_error: str | None
    last_traceback: str | None
    #: Leases that ran out before the attempt was reported started.
    unstarted_losses: int = 0
    #: Times the job was claimed, released claims included: it names each claim (the
    #: attempt number does not, as a released claim hands its number back).
    claims: int = 0


@dataclass(frozen=True, slots=True)
class JobRef:
    """What the hot path needs of a job a worker holds: which step of which run, and at
    which attempt (the fencing token its result must carry)."""

    id: int
    run_id: int
    kind: str
    pipeline: str
    step: str
    attempt: int
    payload: dict[str, Any]
    #: Which claim of the job this is (see :attr:`Job.claims`).
    claim: int = 0


@dataclass(frozen=True, slots=True)
class ClaimSource:
    """What a claimed run processes: its source object version (``None`` fields if the
    version is gone) and the event that started it, as JSON text (worker processes
    decode it only if a processor reads it)."""

    run_id: int
    bucket: str
    key: str
    version_id: str
    event_json: str
    blob_id: str | None
    size: int | None
    etag: str | None
    sha256: str | None
    content_type: str | None
    user_metadata: dict[str, str] | None
    #: Where the bytes are: the blob's kind, its store location, its bytes if inline.
    blob_kind: BlobKind | None
    location: str | None
    md5: str | None
    inline: bytes | None

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.event_json)
        return event


@dataclass(frozen=True, slots=True)
class StepRun:
    """One attempt of a job."""

    id: int
    job_id: int
    attempt: int
    worker: str | None
    outcome: Outcome
    started_at: datetime | None
    ended_at: datetime
    error: str | None
    report: dict[str, Any]

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds() * 1000


@dataclass(frozen=True, slots=True)
class LineageRecord:
    """An output version and the run, job and attempt that wrote it."""

    run_id: int
    job_id: int
    step_run_id: int
    step: str
    bucket: str
    key: str
    version_id: str


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs a listing or a redrive covers; ``None`` fields match everything."""

    states: tuple[JobState, ...] | None = None
    pipeline: str | None = None
    bucket: str | None = None
    key_prefix: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    job_ids: tuple[int, ...] | None = None

    def matches(self, job: Job) -> bool:
        """Whether ``job`` is one of those covered (``since`` and ``until`` bound its
        creation time, ``until`` excluded)."""
        return (
            (self.states is None or job.state in self.states)
            and self.pipeline in (None, job.pipeline)
            and self.bucket in (None, job.bucket)
            and (not self.key_prefix or job.key.startswith(self.key_prefix))
            and (self.since is None or job.created_at >= self.since)
            and (self.until is None or job.created_at < self.until)
            and (self.job_ids is None or job.id in self.job_ids)
        )


@dataclass(frozen=True, slots=True)
class NewItem:
    """A file one job of a run keeps for the run's other steps (see ``run_items``):
    ``item`` and ``part`` give its place, ``blob_id`` its registered blob."""

    item: int
    part: int
    key: str
    blob_id: str
    size: int
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as a job gets it: what it is, and where its bytes are (a location in the
    blob store, or inline bytes)."""

    step: str
    item: int
    part: int
    key: str
    size: int
    content_type: str
    metadata: dict[str, str]
    blob_id: str
    md5: str
    sha256: str
    location: str | None
    inline: bytes | None
