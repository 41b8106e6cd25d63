"""The durable job queue: runs, their jobs and the jobs' attempts (step runs), with
leases, retries and dead letters.

One :class:`~chute.queue.base.JobQueue` protocol, two backends: :mod:`chute.queue.sql`
(the queue in the catalog database) and :mod:`chute.queue.memory` (for unit tests).
The queue's tables (:mod:`~chute.queue.schema`) and the queries about what runs
produced (:mod:`~chute.queue.lineage`) and about pruning them
(:mod:`~chute.queue.history`) are here too: all of the queue's SQL is in this package.
"""
