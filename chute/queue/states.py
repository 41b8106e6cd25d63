"""The states a job, a run and an object's processing go through."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Where a job is in its life.

    ``blocked``: waits for the steps it ``needs`` to succeed.
    ``available``: ready to be claimed (``run_at`` has passed).
    ``running``: claimed by a worker holding a lease until ``lease_expires_at``
    (``started_at`` is set once the worker reports the attempt handed to a process). If
    the lease runs out (the worker died), the reaper fails a started attempt as
    ``lost``, making the job retryable or dead; an attempt never started does not count
    and the job is available again, but only once (``unstarted_losses``): the next
    such loss counts as lost.
    ``retryable``: an attempt failed; claimable again from ``run_at`` (the backoff).
    ``succeeded``: done; its outputs and metadata are recorded.
    ``skipped``: its step's ``when`` condition was false when it was claimed, so it did
    not run: done like a success for the steps that need it and for its run's end, but
    with no outputs or metadata. Its attempt records the reason.
    ``dead``: the dead-letter state: the last attempt failed or the processor rejected
    the input. The last error and traceback are kept; a redrive makes it available.
    ``superseded``: its run's object version was overwritten or deleted before the job
    could run: there is nothing left to process. Not a dead letter; never redriven.
    """

    BLOCKED = "blocked"
    AVAILABLE = "available"
    RUNNING = "running"
    RETRYABLE = "retryable"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    DEAD = "dead"
    SUPERSEDED = "superseded"


#: States a worker may claim from.
READY_STATES = (JobState.AVAILABLE, JobState.RETRYABLE)
#: States a job does not leave by itself (a redrive takes a dead one back).
ENDED_STATES = (JobState.SUCCEEDED, JobState.SKIPPED, JobState.DEAD, JobState.SUPERSEDED)
#: States of step jobs that are done: the steps needing them may start, and a run
#: whose step jobs are all done has succeeded.
DONE_STATES = (JobState.SUCCEEDED, JobState.SKIPPED)
#: States of jobs that have not run to an end and are not running.
WAITING_STATES = (JobState.BLOCKED, JobState.AVAILABLE, JobState.RETRYABLE)


class JobKind(StrEnum):
    """What a job runs.

    ``step``: a step of the pipeline's graph; the run succeeds when all of them have
    (or were skipped).
    ``notify``: a notification about a run that ended (one of ``[[pipelines.X.notify]]``,
    compiled into a step of its own); it takes no part in the run's outcome.
    """

    STEP = "step"
    NOTIFY = "notify"


class RunState(StrEnum):
    """A run (one pipeline on one object version): ``active`` until every step has
    succeeded or been skipped (``succeeded``) or one is dead (``dead``; a redrive
    reactivates it, and its steps that wait on the dead one stay ``blocked`` until
    then). ``superseded``: its object version was overwritten or deleted before it
    finished; its jobs that had not run are superseded too, so none waits forever."""

    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    SUPERSEDED = "superseded"


class ObjectStatus(StrEnum):
    """An object version's processing status, over all the runs it triggered.

    ``none``: no pipeline matched it. ``pending``: its jobs wait for a worker.
    ``processing``: some step has started. ``failed``: an attempt failed and a retry is
    scheduled. ``succeeded``: every run succeeded. ``dead``: some job is dead.
    ``superseded``: the version was replaced or deleted before its runs finished.
    """

    NONE = "none"
    PENDING = "pending"
    PROCESSING = "processing"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    SUPERSEDED = "superseded"


class Outcome(StrEnum):
    """How one attempt ended (a step run's ``outcome``)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"
    OUT_OF_MEMORY = "out_of_memory"
    CRASHED = "crashed"
    LOST = "lost"
    RETRY = "retry"
    #: Not run: the step's ``when`` condition was false (the step run's error says so).
    SKIPPED = "skipped"
