"""Queue attributes: which exist, their defaults and limits, as SQS documents them.

A queue keeps the attributes it was given, as strings (SQS's form); what it was not
given reads as the default. The attributes SQS computes (counts, timestamps, the ARN)
are :mod:`.service`'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from chute.names import ACCOUNT
from chute.sqs.errors import InvalidAttributeName, InvalidAttributeValue, InvalidParameterValue

#: Integer attributes: (lowest, highest, default).
NUMBERS: dict[str, tuple[int, int, int]] = {
    "DelaySeconds": (0, 900, 0),
    "MaximumMessageSize": (1024, 1_048_576, 262_144),
    "MessageRetentionPeriod": (60, 1_209_600, 345_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20, 0),
    "VisibilityTimeout": (0, 43_200, 30),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400, 300),
}
#: Attributes of one of a few values: (choices, default).
CHOICES: dict[str, tuple[tuple[str, ...], str]] = {
    "SqsManagedSseEnabled": (("true", "false"), "false"),
    "ContentBasedDeduplication": (("true", "false"), "false"),
    "DeduplicationScope": (("messageGroup", "queue"), "queue"),
    "FifoThroughputLimit": (("perQueue", "perMessageGroupId"), "perQueue"),
}
#: Attributes of JSON documents or free text, kept as given (``RedrivePolicy`` is
#: checked against the queue it names by the service).
TEXTS = ("Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId")
#: Only FIFO queues have these.
FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
#: What SQS computes.
COMPUTED = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)
SETTABLE = (*NUMBERS, *CHOICES, *TEXTS)
#: Every name GetQueueAttributes knows (``All`` names them all).
READABLE = (*SETTABLE, "FifoQueue", *COMPUTED)

MAX_NAME = 80
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIFO_SUFFIX = ".fifo"


def check_name(name: str, fifo: bool) -> str:
    """``name`` if it is a valid queue name (FIFO queues' end in ``.fifo``)."""
    if fifo:
        stem = name[: -len(_FIFO_SUFFIX)] if name.endswith(_FIFO_SUFFIX) else None
        if stem is None or not _NAME.match(stem) or len(name) > MAX_NAME:
            raise InvalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                "or underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        return name
    if not _NAME.match(name):
        raise InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
    return name


def creating(name: str, given: Mapping[str, str]) -> tuple[bool, dict[str, str]]:
    """Whether a queue made with attributes ``given`` is FIFO, and the attributes it
    keeps."""
    fifo_value = given.get("FifoQueue")
    if fifo_value is not None and fifo_value not in ("true", "false"):
        raise InvalidAttributeValue("Invalid value for the parameter FifoQueue.")
    fifo = fifo_value == "true" or (fifo_value is None and name.endswith(_FIFO_SUFFIX))
    if fifo_value == "false" and name.endswith(_FIFO_SUFFIX):
        check_name(name, fifo=False)  # a standard queue's name cannot hold the dot
    check_name(name, fifo)
    kept = checked({k: v for k, v in given.items() if k != "FifoQueue"}, fifo)
    return fifo, kept


def checked(given: Mapping[str, str], fifo: bool) -> dict[str, str]:
    """``given`` if every attribute exists, may be set on this kind of queue and has a
    valid value; raises ``InvalidAttributeName`` or ``InvalidAttributeValue``."""
    kept: dict[str, str] = {}
    for name, value in given.items():
        if name == "FifoQueue":
            raise InvalidAttributeValue("Invalid value for the parameter FifoQueue.")
        if name not in SETTABLE:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name in FIFO_ONLY and not fifo:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        kept[name] = _value(name, str(value))
    return kept


def _value(name: str, value: str) -> str:
    if name in NUMBERS:
        low, high, _ = NUMBERS[name]
        if not re.fullmatch(r"[0-9]+", value) or not low <= int(value) <= high:
            raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
        return str(int(value))
    if name in CHOICES and value not in CHOICES[name][0]:
        raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
    if name in ("Policy", "RedriveAllowPolicy") and value:
        document = _json_map(name, value)
        if name == "RedriveAllowPolicy":
            _check_allow_policy(value, document)
    if name == "RedrivePolicy" and value:
        redrive_policy(value)
    return value


def effective(kept: Mapping[str, str], fifo: bool) -> dict[str, str]:
    """Every settable attribute's value: ``kept``, and the defaults for the rest."""
    values = {name: str(default) for name, (_, _, default) in NUMBERS.items()}
    values.update({name: default for name, (_, default) in CHOICES.items()})
    if not fifo:
        for name in FIFO_ONLY:
            values.pop(name, None)
    values.update(kept)
    return values


def number(kept: Mapping[str, str], name: str) -> int:
    """An integer attribute's value (its default when not set)."""
    found = kept.get(name)
    return int(found) if found is not None else NUMBERS[name][2]


def redrive_policy(value: str) -> tuple[str, int]:
    """The dead-letter queue's ARN and ``maxReceiveCount`` of a ``RedrivePolicy``."""
    document = _json_map("RedrivePolicy", value)
    target = document.get("deadLetterTargetArn")
    count = document.get("maxReceiveCount")
    if not isinstance(target, str) or count is None:
        raise _invalid(
            "RedrivePolicy",
            value,
            "Redrive policy does not contain mandatory attribute: "
            + ("deadLetterTargetArn." if not isinstance(target, str) else "maxReceiveCount."),
        )
    try:
        receives = int(count)
    except (TypeError, ValueError):
        receives = 0
    if isinstance(count, bool) or not 1 <= receives <= 1000:
        raise _invalid(
            "RedrivePolicy",
            value,
            "Invalid value for maxReceiveCount: "
            f"{count}, valid values are from 1 to 1000 both inclusive.",
        )
    return target, receives


def allows_source(value: str | None, source_arn: str) -> bool:
    """Whether a dead-letter queue's ``RedriveAllowPolicy`` lets ``source_arn`` use it."""
    if not value:
        return True
    document = json.loads(value)
    permission = document.get("redrivePermission", "allowAll")
    if permission == "denyAll":
        return False
    if permission == "byQueue":
        return source_arn in document.get("sourceQueueArns", [])
    return True


def _check_allow_policy(value: str, document: dict[str, Any]) -> None:
    permission = document.get("redrivePermission")
    if permission not in ("allowAll", "denyAll", "byQueue"):
        raise _invalid("RedriveAllowPolicy", value, "Invalid value for redrivePermission.")
    sources = document.get("sourceQueueArns")
    if permission == "byQueue":
        if not isinstance(sources, list) or not 1 <= len(sources) <= 10:
            raise _invalid(
                "RedriveAllowPolicy", value, "sourceQueueArns must list 1 to 10 queue ARNs."
            )
    elif sources is not None:
        raise _invalid("RedriveAllowPolicy", value, "sourceQueueArns is allowed only with byQueue.")


def _json_map(name: str, value: str) -> dict[str, Any]:
    try:
        document = json.loads(value)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise _invalid(name, value, f"{_label(name)} is not a valid JSON map.")
    return document


def _label(name: str) -> str:
    return {"RedrivePolicy": "Redrive policy", "RedriveAllowPolicy": "Redrive allow policy"}.get(
        name, name
    )


def _invalid(name: str, value: str, reason: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Value {value} for parameter {name} is invalid. Reason: {reason}")


def queue_arn(region: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"


def name_of_arn(arn: str) -> str | None:
    """The queue name in an SQS ARN (``None``: not an SQS queue's ARN of this account)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"] or parts[4] != ACCOUNT:
        return None
    return parts[5] or None
