"""Bucket notification configurations, S3's way of starting processing, as Chute reads
them: rules naming a destination by ARN, the events that fire it and a key filter.

A rule's destination is a Chute pipeline (a Lambda function ARN), a webhook target (an
SNS topic ARN) or an SQS queue (an SQS queue ARN). The S3 API
parses the XML into a :class:`BucketNotifications`, which :meth:`~BucketNotifications.
validate` checks as S3 does (known events, one prefix and one suffix rule at most, no
two rules that one event on one key could both fire); the catalog keeps its JSON on the
bucket. The router compiles that JSON once per configuration (:class:`RuleCache`) and
matches each event of the bucket against the rules, in the write's transaction.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

from chute.catalog import Bucket
from chute.errors import InvalidNotificationConfiguration, OverlappingNotifications

log = logging.getLogger(__name__)

#: The event types S3 notifications accept (botocore's ``Event`` enum). Chute emits the
#: ``ObjectCreated`` and ``ObjectRemoved`` ones today; rules naming the others are kept
#: and fire once Chute records such events.
EVENTS = frozenset(
    {
        "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed",
        "s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject",
        "s3:Replication:*", "s3:Replication:OperationFailedReplication",
        "s3:Replication:OperationNotTracked", "s3:Replication:OperationMissedThreshold",
        "s3:Replication:OperationReplicatedAfterThreshold",
        "s3:LifecycleTransition", "s3:IntelligentTiering", "s3:ObjectAcl:Put",
        "s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete",
        "s3:LifecycleExpiration:DeleteMarkerCreated",
        "s3:ObjectTagging:*", "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete",
        "s3:ObjectAnnotation:*", "s3:ObjectAnnotation:Put", "s3:ObjectAnnotation:Delete",
        "s3:ObjectRetention:Put",
    }
)  # fmt: skip
EVENT_PREFIX = "s3:"
#: Filter rule names as S3 returns them (it accepts any case).
PREFIX, SUFFIX = "Prefix", "Suffix"
#: Longest filter value and configuration id S3 accepts.
MAX_FILTER_VALUE_BYTES = 1024
MAX_ID_LENGTH = 255
#: How many buckets' compiled rules the router keeps.
CACHE_SIZE = 1024


class DestinationKind(StrEnum):
    """What a rule sends events to: the element of the XML that holds it.

    ``function``: a Chute pipeline (``CloudFunctionConfiguration``, a Lambda ARN): the
    event starts a run of it. ``topic``: a webhook target (``TopicConfiguration``, an SNS
    ARN): the event is POSTed there. ``queue``: a queue (``QueueConfiguration``, an SQS
    ARN): the event's message is sent to it.
    """

    FUNCTION = "function"
    TOPIC = "topic"
    QUEUE = "queue"


#: ARNs naming each kind: AWS's own (any partition, region and account, since one Chute
#: is one namespace) and Chute's. A Lambda ARN may end in a version or alias, ignored.
_NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)"
_ARNS = {
    DestinationKind.FUNCTION: (
        rf"arn:aws[a-z-]*:lambda:[^:]+:[^:]+:function:{_NAME}(:[A-Za-z0-9$_-]+)?",
        rf"arn:chute:function:{_NAME}",
    ),
    DestinationKind.TOPIC: (
        rf"arn:aws[a-z-]*:sns:[^:]+:[^:]+:{_NAME}",
        rf"arn:chute:topic:{_NAME}",
    ),
    DestinationKind.QUEUE: (
        rf"arn:aws[a-z-]*:sqs:[^:]+:[^:]+:{_NAME}",
        rf"arn:chute:queue:{_NAME}",
    ),
}
_ARN_PATTERNS = {
    kind: tuple(re.compile(pattern) for pattern in patterns) for kind, patterns in _ARNS.items()
}
#: How AWS writes each kind's ARNs, for error messages.
_AWS_FORMS = {
    DestinationKind.FUNCTION: "arn:aws:lambda:REGION:ACCOUNT:function:NAME",
    DestinationKind.TOPIC: "arn:aws:sns:REGION:ACCOUNT:NAME",
    DestinationKind.QUEUE: "arn:aws:sqs:REGION:ACCOUNT:NAME",
}
#: The XML element holding each kind's ARN, for error answers.
ARN_ELEMENTS = {
    DestinationKind.FUNCTION: "CloudFunction",
    DestinationKind.TOPIC: "Topic",
    DestinationKind.QUEUE: "Queue",
}


def destination_name(kind: DestinationKind, arn: str) -> str:
    """The Chute name an ARN of ``kind`` gives (pipeline, webhook target or queue);
    ``InvalidArgument`` if it is not such an ARN."""
    for pattern in _ARN_PATTERNS[kind]:
        found = pattern.fullmatch(arn)
        if found is not None:
            return found["name"]
    raise InvalidNotificationConfiguration(
        f"The ARN is not well formed: a {kind.value} is {_AWS_FORMS[kind]} "
        f"or arn:chute:{kind.value}:NAME",
        (ARN_ELEMENTS[kind], arn),
    )


def destination_of(arn: str) -> tuple[DestinationKind, str] | None:
    """The kind and Chute name of whatever ``arn`` names (a function, topic or queue),
    or ``None`` if it names none of them."""
    for kind, patterns in _ARN_PATTERNS.items():
        for pattern in patterns:
            found = pattern.fullmatch(arn)
            if found is not None:
                return kind, found["name"]
    return None


def new_rule_id() -> str:
    """An id for a rule given none, in the form S3 generates (base64 of a UUID)."""
    return base64.b64encode(str(uuid.uuid4()).encode()).decode()


def event_covers(pattern: str, event: str) -> bool:
    """Whether the rule event ``pattern`` (``s3:ObjectCreated:*``) takes in ``event``
    (another rule event, or ``s3:`` and the name of one Chute recorded)."""
    if pattern == event:
        return True
    return pattern.endswith(":*") and event.startswith(pattern[:-1])


@dataclass(frozen=True, slots=True)
class NotificationRule:
    """One configuration of the XML: its id, destination, events and key filter."""

    id: str
    kind: DestinationKind
    arn: str
    events: tuple[str, ...]
    #: ``(Prefix | Suffix, value)`` pairs as given (values URL-encoded, as S3 wants).
    filter: tuple[tuple[str, str], ...] = ()
    #: Saved by a full administrator: the function it names is invoked whatever the
    #: function's policy says. Otherwise S3 invokes it only while the function's policy
    #: lets ``s3.amazonaws.com`` do so for the bucket, as on AWS.
    trusted: bool = field(default=True, compare=False)
    #: The pipeline, webhook target or queue the ARN names.
    name: str = field(init=False, compare=False)
    prefix: str = field(init=False, compare=False)
    suffix: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        values = dict(self.filter)
        # S3 wants a space written as "+" and other special characters percent-encoded.
        object.__setattr__(self, "prefix", unquote_plus(values.get(PREFIX, "")))
        object.__setattr__(self, "suffix", unquote_plus(values.get(SUFFIX, "")))
        object.__setattr__(self, "name", destination_name(self.kind, self.arn))

    def matches(self, event_name: str, key: str) -> bool:
        """Whether an event Chute recorded (``ObjectCreated:Put``) on ``key`` fires this
        rule."""
        if not (key.startswith(self.prefix) and key.endswith(self.suffix)):
            return False
        name = EVENT_PREFIX + event_name
        return any(event_covers(pattern, name) for pattern in self.events)

    def overlaps(self, other: NotificationRule) -> bool:
        """Whether one event on one key could fire both rules: a common event type, and
        prefixes and suffixes that can both hold (one prefix starts the other, one suffix
        ends the other; an absent one holds for every key)."""
        common = any(
            event_covers(mine, theirs) or event_covers(theirs, mine)
            for mine in self.events
            for theirs in other.events
        )
        prefixes = self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix)
        suffixes = self.suffix.endswith(other.suffix) or other.suffix.endswith(self.suffix)
        return common and prefixes and suffixes

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "arn": self.arn,
            "events": list(self.events),
            "filter": [[name, value] for name, value in self.filter],
            "trusted": self.trusted,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NotificationRule:
        return cls(
            str(data["id"]),
            DestinationKind(data["kind"]),
            str(data["arn"]),
            tuple(str(event) for event in data["events"]),
            tuple((str(name), str(value)) for name, value in data.get("filter", [])),
            # Saved before the flag was kept: by whoever could, then.
            bool(data.get("trusted", True)),
        )


@dataclass(frozen=True, slots=True)
class BucketNotifications:
    """A bucket's notification configuration: its rules, and whether EventBridge
    delivery is on (kept and shown; Chute's event log already holds every event)."""

    rules: tuple[NotificationRule, ...] = ()
    event_bridge: bool = False

    @property
    def is_empty(self) -> bool:
        """An empty configuration turns notifications off."""
        return not self.rules and not self.event_bridge

    def of_kind(self, kind: DestinationKind) -> list[NotificationRule]:
        return [rule for rule in self.rules if rule.kind is kind]

    def validate(self) -> None:
        """Check the configuration as S3 does; ``InvalidArgument`` names the first
        problem."""
        ids: set[str] = set()
        for index, rule in enumerate(self.rules):
            _check_rule(rule)
            if rule.id in ids:
                raise InvalidNotificationConfiguration(
                    "Same ID used for multiple configurations. IDs must be unique.",
                    ("Id", rule.id),
                )
            ids.add(rule.id)
            for earlier in self.rules[:index]:
                if rule.overlaps(earlier):
                    raise _overlap(rule, earlier)

    def saved_by(self, trusted: bool) -> BucketNotifications:
        """The configuration as saved by a full administrator (``trusted``) or not."""
        rules = tuple(dataclasses.replace(rule, trusted=trusted) for rule in self.rules)
        return dataclasses.replace(self, rules=rules)

    def to_json(self) -> dict[str, Any]:
        """What the catalog keeps on the bucket."""
        return {
            "rules": [rule.to_json() for rule in self.rules],
            "event_bridge": self.event_bridge,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> BucketNotifications:
        if not data:
            return cls()
        rules = tuple(NotificationRule.from_json(rule) for rule in data.get("rules", []))
        return cls(rules, bool(data.get("event_bridge", False)))


def _check_rule(rule: NotificationRule) -> None:
    if len(rule.id) > MAX_ID_LENGTH:
        raise InvalidNotificationConfiguration(
            f"ID length exceeded allowed limit of {MAX_ID_LENGTH}", ("Id", rule.id)
        )
    if not rule.events:
        raise InvalidNotificationConfiguration("A configuration needs at least one event")
    for event in rule.events:
        if event not in EVENTS:
            raise InvalidNotificationConfiguration(
                "The event is not supported for notifications", ("Event", event)
            )
    _check_filter(rule.filter)


def _check_filter(rules: Iterable[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for name, value in rules:
        if name not in (PREFIX, SUFFIX):
            raise InvalidNotificationConfiguration(
                "filter rule name must be either prefix or suffix", ("FilterRule", name)
            )
        if name in seen:
            raise InvalidNotificationConfiguration(
                f"Cannot specify more than one {name.lower()} rule in a filter.",
                ("FilterRule", name),
            )
        seen.add(name)
        if len(value.encode()) > MAX_FILTER_VALUE_BYTES:
            raise InvalidNotificationConfiguration(
                "Size of filter rule value cannot exceed 1024 bytes in UTF-8 representation",
                ("FilterRule", name),
            )


def _overlap(rule: NotificationRule, earlier: NotificationRule) -> OverlappingNotifications:
    if not rule.filter and not earlier.filter:
        return OverlappingNotifications(argument=("Event", ", ".join(rule.events)))
    return OverlappingNotifications(
        "Configuration is ambiguously defined. Cannot have overlapping suffixes in two "
        "rules if the prefixes are overlapping for the same event type.",
        ("Event", ", ".join(rule.events)),
    )


class RuleCache:
    """The rules of each bucket's configuration, compiled once per configuration.

    The router asks for a bucket's rules on every write; the bucket record the write
    loaded already holds the configuration, so this costs no query: a dictionary lookup
    and a comparison with the configuration the cached rules came from (nothing at all
    for a bucket without one). A configuration changed in any process is seen by the
    next write, since each write reads the bucket in its transaction."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._compiled: dict[int, tuple[dict[str, Any], tuple[NotificationRule, ...]]] = {}

    def rules_of(self, bucket: Bucket) -> tuple[NotificationRule, ...]:
        config = bucket.notifications
        if not config:
            return ()
        cached = self._compiled.get(bucket.id)
        if cached is not None and cached[0] == config:
            return cached[1]
        rules = _compile(bucket.name, config)
        if len(self._compiled) >= self.size:
            self._compiled.pop(next(iter(self._compiled)), None)
        self._compiled[bucket.id] = (config, rules)
        return rules

    def matching(self, bucket: Bucket, event_name: str, key: str) -> list[NotificationRule]:
        """The rules an event on ``key`` fires (S3's overlap rules keep it to one)."""
        return [rule for rule in self.rules_of(bucket) if rule.matches(event_name, key)]


def _compile(bucket: str, config: Mapping[str, Any]) -> tuple[NotificationRule, ...]:
    """The rules of a stored configuration; one the catalog holds in a shape this code
    cannot read (written by another version) is logged and left out."""
    rules = []
    for data in config.get("rules", []):
        try:
            rules.append(NotificationRule.from_json(data))
        except (KeyError, TypeError, ValueError, InvalidNotificationConfiguration):
            log.warning("bucket %r: ignoring a notification rule Chute cannot read", bucket)
    return tuple(rules)
