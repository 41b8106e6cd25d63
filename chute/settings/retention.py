"""The shape of ``[retention]`` in chute.toml: how long history is kept."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DAY = 86400.0


class RetentionSettings(BaseModel):
    """How long the catalog keeps what is only history (0: for ever).

    Run history is what no object's status needs any more: ended runs of versions that
    were overwritten or deleted, and runs followed by a newer run of the same pipeline on
    the same version (a reprocess), with their jobs, attempts and lineage. The status of
    every live version, and the dead letters of live versions, are always kept. Function
    logs are each invocation's log (``chute logs NAME``)."""

    model_config = ConfigDict(extra="forbid")

    #: Seconds after it ended that a run that is history is removed.
    runs_seconds: float = Field(default=7 * DAY, ge=0)
    #: Seconds an event stays in the event log (``/events``, ``chute events``).
    events_seconds: float = Field(default=30 * DAY, ge=0)
    #: Seconds a function invocation's log is kept after the invocation started.
    function_logs_seconds: float = Field(default=7 * DAY, ge=0)
    #: How often history is pruned (by one process at a time, whichever gets to it).
    interval_seconds: float = Field(default=600.0, gt=0)
