"""The errors SQS answers with.

Each has two names: ``code``, the shape name of SQS's JSON protocol (``__type``), which
botocore turns into the modeled exception class (``QueueDoesNotExist``), and
``query_code``, the code of the query protocol, which the JSON protocol also sends in
``x-amzn-query-error`` and which clients show as the error code
(``AWS.SimpleQueueService.NonExistentQueue``).
"""

from __future__ import annotations

from chute.errors import ChuteError


class SqsError(ChuteError):
    """One or more parameters are invalid."""

    code = "InvalidParameterValue"
    status = 400
    #: The query protocol's code, when it is not ``code``.
    query_code: str | None = None

    @property
    def wire_code(self) -> str:
        return self.query_code or self.code


class InvalidParameterValue(SqsError):
    """One or more parameters are invalid."""


class MissingParameter(SqsError):
    """A required parameter is missing."""

    code = "MissingParameter"

    def __init__(self, name: str) -> None:
        super().__init__(f"The request must contain the parameter {name}.")


class InvalidAddress(SqsError):
    """The queue URL is not valid."""

    code = "InvalidAddress"

    def __init__(self, url: str) -> None:
        super().__init__(f"The address {url} is not valid for this endpoint.")


class QueueDoesNotExist(SqsError):
    """The specified queue does not exist."""

    code = "QueueDoesNotExist"
    query_code = "AWS.SimpleQueueService.NonExistentQueue"


class QueueNameExists(SqsError):
    """A queue with this name already exists with different attributes."""

    code = "QueueNameExists"
    query_code = "QueueAlreadyExists"


class QueueDeletedRecently(SqsError):
    """You must wait 60 seconds after deleting a queue before you can create another
    queue with the same name."""

    code = "QueueDeletedRecently"
    query_code = "AWS.SimpleQueueService.QueueDeletedRecently"


class PurgeQueueInProgress(SqsError):
    """Only one PurgeQueue operation on a queue is allowed every 60 seconds."""

    code = "PurgeQueueInProgress"
    query_code = "AWS.SimpleQueueService.PurgeQueueInProgress"


class InvalidAttributeName(SqsError):
    """The specified attribute does not exist."""

    code = "InvalidAttributeName"


class InvalidAttributeValue(SqsError):
    """A queue attribute value is invalid."""

    code = "InvalidAttributeValue"


class InvalidMessageContents(SqsError):
    """The message contains characters outside the allowed set."""

    code = "InvalidMessageContents"


class ReceiptHandleIsInvalid(SqsError):
    """The input receipt handle is invalid."""

    code = "ReceiptHandleIsInvalid"


class MessageNotInflight(SqsError):
    """The message referred to isn't in flight."""

    code = "MessageNotInflight"
    query_code = "AWS.SimpleQueueService.MessageNotInflight"


class OverLimit(SqsError):
    """The action would exceed a limit."""

    code = "OverLimit"


class _BatchError(SqsError):
    @property
    def wire_code(self) -> str:
        return f"AWS.SimpleQueueService.{self.code}"


class EmptyBatchRequest(_BatchError):
    """The batch request doesn't contain any entries."""

    code = "EmptyBatchRequest"


class TooManyEntriesInBatchRequest(_BatchError):
    """The batch request contains more entries than permissible."""

    code = "TooManyEntriesInBatchRequest"


class BatchEntryIdsNotDistinct(_BatchError):
    """Two or more batch entries in the request have the same Id."""

    code = "BatchEntryIdsNotDistinct"


class BatchRequestTooLong(_BatchError):
    """The length of all the messages put together is more than the limit."""

    code = "BatchRequestTooLong"


class InvalidBatchEntryId(_BatchError):
    """A batch entry id can only contain alphanumeric characters, hyphens and
    underscores. It can be at most 80 letters long."""

    code = "InvalidBatchEntryId"


class UnsupportedOperation(_BatchError):
    """The operation is not supported."""

    code = "UnsupportedOperation"


class InvalidAction(SqsError):
    """The action or operation requested is invalid."""

    code = "InvalidAction"

    def __init__(self, action: str) -> None:
        super().__init__(f"The action {action} is not valid for this endpoint.")
