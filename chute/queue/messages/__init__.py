"""Message queues (the SQS API's, :mod:`chute.sqs`): their tables and queries.

Messages live in the catalog database beside the jobs, so an S3 event is put on a queue
in the transaction that records it, and a message is taken with the same row claims the
job queue uses. The rules of SQS (attributes, limits, FIFO order, dead letters) are
:mod:`chute.sqs`'s; this package stores what it decides.
"""

from chute.queue.messages.records import Counts, MessageRow, NewMessage, QueueRow
from chute.queue.messages.store import MessageStore

__all__ = ["Counts", "MessageRow", "MessageStore", "NewMessage", "QueueRow"]
