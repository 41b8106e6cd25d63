"""What the pool sends a worker process, and what comes back.

Both are plain picklable records: a :class:`Task` carries everything an attempt needs
(so a worker process never queries the catalog), and a :class:`Result` carries everything
the pool must record (outputs are staged in the blob store, not yet in the catalog).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chute.processors.base import SourceObject, StagedOutput
from chute.queue.states import Outcome
from chute.wire import compact


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
    #: Where the source bytes are: a blob in the store, or inline (small objects).
    blob_id: str | None
    inline: bytes | None = None
    #: Notification jobs: what to deliver, where, signed with which secrets.
    payload: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


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
