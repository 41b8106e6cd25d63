"""The shape of ``[worker]`` in chute.toml: the pool of processes that run steps."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WorkerSettings(BaseModel):
    """``[worker]``: the pool of processes that run steps."""

    model_config = ConfigDict(extra="forbid")

    #: Worker processes; 0 means one per CPU core.
    processes: int = Field(default=0, ge=0, le=256)
    #: Seconds a claimed job stays leased without a heartbeat; a dead worker's jobs are
    #: claimable again this long after its last heartbeat.
    lease_seconds: float = Field(default=30.0, gt=0)
    #: Jobs of quick steps claimed ahead per process (at least), so a process never waits
    #: on the database. Other steps get about 0.25 s of work per process buffered; slow
    #: ones and those not run yet are claimed only for idle processes.
    prefetch: int = Field(default=4, ge=1, le=1000)
    #: Longest wait for new jobs when no wake-up arrives (another process on SQLite).
    poll_seconds: float = Field(default=1.0, gt=0)
    #: On SIGTERM, how long running jobs may take to finish before they are released.
    drain_seconds: float = Field(default=30.0, ge=0)
    #: Python modules imported in every worker process to register processors.
    modules: list[str] = Field(default_factory=list)
