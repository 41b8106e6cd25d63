"""Reading an SQS request's parameters and answering batches, as SQS checks them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from chute.sqs.errors import (
    BatchEntryIdsNotDistinct,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidParameterValue,
    MissingParameter,
    SqsError,
    TooManyEntriesInBatchRequest,
)
from chute.sqs.messages import Attributes

#: Most entries in one batch request.
MAX_BATCH = 10
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def batch_entries(params: Mapping[str, Any], action: str) -> list[Mapping[str, Any]]:
    entries = params.get("Entries")
    if entries is None or entries == []:
        raise EmptyBatchRequest(
            f"There should be at least one {action}MessageBatchRequestEntry in the request."
        )
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise InvalidParameterValue("Entries must be a list of batch entries.")
    if len(entries) > MAX_BATCH:
        raise TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(entries)}."
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id")
        if not isinstance(entry_id, str) or not _BATCH_ID.match(entry_id):
            raise InvalidBatchEntryId(
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long."
            )
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return entries


def batch_answer(
    entries: Sequence[Mapping[str, Any]], outcomes: Sequence[object]
) -> dict[str, Any]:
    successful, failed = [], []
    for entry, outcome in zip(entries, outcomes, strict=True):
        if isinstance(outcome, SqsError):
            failed.append(failure(entry["Id"], outcome))
        else:
            successful.append({"Id": entry["Id"]})
    return {"Successful": successful, "Failed": failed}


def failure(entry_id: str, error: SqsError) -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": True, "Code": error.wire_code, "Message": error.message}


def loose_attributes(entry: Mapping[str, Any]) -> Attributes:
    """An entry's attributes for the batch's size, before they are checked."""
    given = entry.get("MessageAttributes")
    if not isinstance(given, Mapping):
        return {}
    found: Attributes = {}
    for name, value in given.items():
        if (
            isinstance(value, Mapping)
            and isinstance(value.get("DataType"), str)
            and isinstance(value.get("StringValue"), str)
        ):
            found[str(name)] = {
                "DataType": value["DataType"],
                "StringValue": value["StringValue"],
            }
    return found


def text(params: Mapping[str, Any], name: str, *, required: bool = False) -> Any:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise MissingParameter(name)
        return None
    if not isinstance(value, str):
        raise InvalidParameterValue(f"Value {value} for parameter {name} is invalid.")
    return value


def integer(
    params: Mapping[str, Any], name: str, low: int, high: int, *, reason: str = ""
) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high:
        raise InvalidParameterValue(
            f"Value {value} for parameter {name} is invalid. Reason: "
            + (reason or f"Must be between {low} and {high}.")
        )
    return number


def names(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidParameterValue(f"{name} must be a list of strings.")
    return value


def string_map(params: Mapping[str, Any], name: str) -> dict[str, str]:
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidParameterValue(f"{name} must be a map.")
    return {str(key): str(item) for key, item in value.items()}
