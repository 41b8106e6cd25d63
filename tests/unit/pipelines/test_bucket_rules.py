"""Bucket notification rules: ARNs to Chute names, S3's validation (events, filters,
ids, overlap), matching of Chute's events, the stored JSON and the router's cache."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from chute.catalog import Bucket, Versioning
from chute.errors import InvalidArgument, OverlappingNotifications
from chute.pipelines.bucket_rules import (
    BucketNotifications,
    DestinationKind,
    NotificationRule,
    RuleCache,
    destination_name,
    event_covers,
    new_rule_id,
)

FUNCTION = DestinationKind.FUNCTION
TOPIC = DestinationKind.TOPIC
QUEUE = DestinationKind.QUEUE
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:thumbnails"
SNS = "arn:aws:sns:eu-west-1:123456789012:orders"


def rule(
    events: tuple[str, ...] = ("s3:ObjectCreated:*",),
    prefix: str | None = None,
    suffix: str | None = None,
    *,
    id: str = "r",
    kind: DestinationKind = FUNCTION,
    arn: str = LAMBDA,
) -> NotificationRule:
    rules = []
    if prefix is not None:
        rules.append(("Prefix", prefix))
    if suffix is not None:
        rules.append(("Suffix", suffix))
    return NotificationRule(id, kind, arn, events, tuple(rules))


def config(*rules: NotificationRule) -> BucketNotifications:
    return BucketNotifications(rules)


# --- ARNs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "arn", "name"),
    [
        (FUNCTION, LAMBDA, "thumbnails"),
        (FUNCTION, LAMBDA + ":prod", "thumbnails"),  # an alias or version is ignored
        (FUNCTION, "arn:aws:lambda:eu-west-1:111122223333:function:a-b_c:$LATEST", "a-b_c"),
        (FUNCTION, "arn:chute:function:images.v2", "images.v2"),
        (FUNCTION, "arn:aws-cn:lambda:cn-north-1:123456789012:function:x", "x"),
        (TOPIC, SNS, "orders"),
        (TOPIC, "arn:chute:topic:orders", "orders"),
        (QUEUE, "arn:aws:sqs:us-east-1:123456789012:jobs", "jobs"),
        (QUEUE, "arn:chute:queue:jobs", "jobs"),
    ],
)
def test_an_arn_names_a_chute_destination(kind: DestinationKind, arn: str, name: str) -> None:
    assert destination_name(kind, arn) == name


@pytest.mark.parametrize(
    ("kind", "arn"),
    [
        (FUNCTION, SNS),  # a topic where a function goes
        (TOPIC, LAMBDA),
        (QUEUE, "arn:chute:topic:orders"),
        (FUNCTION, "thumbnails"),
        (FUNCTION, "arn:aws:lambda:us-east-1:123456789012:thumbnails"),
        (TOPIC, "arn:chute:topic:"),
        (TOPIC, "arn:chute:topic:a/b"),
    ],
)
def test_an_arn_of_another_kind_or_shape_is_refused(kind: DestinationKind, arn: str) -> None:
    with pytest.raises(InvalidArgument, match="The ARN is not well formed") as caught:
        destination_name(kind, arn)
    assert caught.value.details["ArgumentValue"] == arn


def test_generated_ids_look_like_s3s() -> None:
    generated = new_rule_id()
    assert uuid.UUID(base64.b64decode(generated).decode())
    assert generated != new_rule_id()


# --- validation ----------------------------------------------------------------------


def test_a_valid_configuration_passes() -> None:
    config(
        rule(suffix=".jpg", id="a"),
        rule(("s3:ObjectRemoved:*",), suffix=".jpg", id="b", kind=TOPIC, arn=SNS),
        rule(prefix="logs/", suffix=".png", id="c"),
    ).validate()


def test_an_unknown_event_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="not supported") as caught:
        config(rule(("s3:ObjectCreated:Upload",))).validate()
    assert caught.value.details == {
        "ArgumentName": "Event",
        "ArgumentValue": "s3:ObjectCreated:Upload",
    }


def test_every_kind_of_event_s3_has_is_accepted() -> None:
    events = (
        "s3:ObjectRestore:*",
        "s3:LifecycleExpiration:*",
        "s3:ObjectTagging:Put",
        "s3:ReducedRedundancyLostObject",
        "s3:Replication:OperationFailedReplication",
        "s3:IntelligentTiering",
    )
    config(rule(events)).validate()


def test_one_prefix_and_one_suffix_at_most() -> None:
    twice = NotificationRule("r", FUNCTION, LAMBDA, ("s3:ObjectCreated:*",), (("Prefix", "a"),) * 2)
    with pytest.raises(InvalidArgument, match="more than one prefix rule"):
        config(twice).validate()
    both = NotificationRule(
        "r", FUNCTION, LAMBDA, ("s3:ObjectCreated:*",), (("Suffix", "a"), ("Suffix", "b"))
    )
    with pytest.raises(InvalidArgument, match="more than one suffix rule"):
        config(both).validate()


def test_a_filter_value_over_1024_bytes_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="1024 bytes"):
        config(rule(prefix="é" * 513)).validate()
    config(rule(prefix="é" * 512)).validate()


def test_ids_must_be_unique_and_at_most_255_characters() -> None:
    with pytest.raises(InvalidArgument, match="Same ID used"):
        config(rule(prefix="a/", id="x"), rule(prefix="b/", id="x")).validate()
    with pytest.raises(InvalidArgument, match="ID length"):
        config(rule(id="x" * 256)).validate()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (rule(), rule(id="2")),  # no filters, same events
        (rule(("s3:ObjectCreated:*",)), rule(("s3:ObjectCreated:Put",), id="2")),
        (rule(prefix="images/"), rule(prefix="images/2024/", id="2")),
        (rule(prefix="images/"), rule(suffix=".jpg", id="2")),  # images/x.jpg fires both
        (rule(suffix=".jpg"), rule(suffix="thumb.jpg", id="2")),
        (rule(prefix="a", suffix=".jpg"), rule(prefix="ab", suffix="x.jpg", id="2")),
        (rule(), rule(kind=TOPIC, arn=SNS, id="2")),  # whatever the destinations
    ],
)
def test_rules_one_event_could_both_fire_overlap(
    first: NotificationRule, second: NotificationRule
) -> None:
    with pytest.raises(OverlappingNotifications) as caught:
        config(first, second).validate()
    assert caught.value.code == "InvalidArgument"
    assert caught.value.status == 400
    if not first.filter and not second.filter:
        assert caught.value.message == (
            "Configurations overlap. Configurations on the same bucket cannot share a common "
            "event type."
        )
    else:
        assert "Cannot have overlapping suffixes" in caught.value.message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (rule(("s3:ObjectCreated:*",)), rule(("s3:ObjectRemoved:*",), id="2")),
        (rule(("s3:ObjectCreated:Put",)), rule(("s3:ObjectCreated:Copy",), id="2")),
        (rule(prefix="images/"), rule(prefix="logs/", id="2")),
        (rule(suffix=".jpg"), rule(suffix=".png", id="2")),
        (rule(prefix="images/", suffix=".jpg"), rule(prefix="images/", suffix=".png", id="2")),
        (rule(prefix="a/", suffix=".jpg"), rule(prefix="b/", id="2")),
    ],
)
def test_rules_no_event_could_both_fire_pass(
    first: NotificationRule, second: NotificationRule
) -> None:
    config(first, second).validate()
    assert not first.overlaps(second)
    assert not second.overlaps(first)


def test_event_patterns() -> None:
    assert event_covers("s3:ObjectCreated:*", "s3:ObjectCreated:Put")
    assert event_covers("s3:ObjectCreated:*", "s3:ObjectCreated:*")
    assert not event_covers("s3:ObjectCreated:Put", "s3:ObjectCreated:*")
    assert not event_covers("s3:ObjectCreated:*", "s3:ObjectRemoved:Delete")
    assert not event_covers("s3:ObjectCreated:Put", "s3:ObjectCreated:Post")


# --- matching ------------------------------------------------------------------------


def test_a_rule_matches_chute_events_by_pattern_prefix_and_suffix() -> None:
    images = rule(("s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"), "in/", ".jpg")
    assert images.matches("ObjectCreated:Put", "in/x.jpg")
    assert images.matches("ObjectCreated:Copy", "in/a/b.jpg")
    assert images.matches("ObjectRemoved:Delete", "in/x.jpg")
    assert not images.matches("ObjectRemoved:DeleteMarkerCreated", "in/x.jpg")
    assert not images.matches("ObjectCreated:Put", "in/x.JPG")  # S3 compares exactly
    assert not images.matches("ObjectCreated:Put", "out/x.jpg")
    assert not images.matches("ObjectCreated:Put", "in/x.txt")


def test_filter_values_are_url_encoded_as_s3_wants() -> None:
    spaced = rule(prefix="my+photos/", suffix="%C3%A9.jpg")
    assert spaced.prefix == "my photos/"
    assert spaced.matches("ObjectCreated:Put", "my photos/café.jpg")
    assert not spaced.matches("ObjectCreated:Put", "my+photos/café.jpg")


# --- stored JSON and the cache -------------------------------------------------------


def test_the_stored_json_round_trips() -> None:
    original = BucketNotifications(
        (rule(prefix="a/", suffix=".jpg"), rule(id="t", kind=TOPIC, arn=SNS, prefix="b/")), True
    )
    stored = original.to_json()
    assert BucketNotifications.from_json(stored) == original
    assert stored["rules"][0] == {
        "id": "r",
        "kind": "function",
        "arn": LAMBDA,
        "events": ["s3:ObjectCreated:*"],
        "filter": [["Prefix", "a/"], ["Suffix", ".jpg"]],
        "trusted": True,
    }
    untrusted = BucketNotifications.from_json(original.saved_by(False).to_json())
    assert [found.trusted for found in untrusted.rules] == [False, False]
    assert BucketNotifications.from_json(None).is_empty


def _bucket(notifications: dict[str, Any] | None, id: int = 1) -> Bucket:
    T0 = datetime(2026, 1, 1, tzinfo=UTC)
    return Bucket(id, f"b{id}", Versioning.UNVERSIONED, T0, notifications=notifications)


def test_the_cache_compiles_a_configuration_once_and_sees_changes() -> None:
    cache = RuleCache()
    stored = config(rule(suffix=".jpg")).to_json()
    first = cache.rules_of(_bucket(stored))
    again = cache.rules_of(_bucket(dict(stored)))  # an equal configuration read again
    assert again is first
    changed = config(rule(suffix=".png")).to_json()
    assert cache.rules_of(_bucket(changed))[0].suffix == ".png"
    assert cache.rules_of(_bucket(None)) == ()
    assert [r.id for r in cache.matching(_bucket(changed), "ObjectCreated:Put", "x.png")] == ["r"]
    assert cache.matching(_bucket(changed), "ObjectCreated:Put", "x.jpg") == []


def test_the_cache_is_bounded_and_skips_rules_it_cannot_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = RuleCache(size=2)
    stored = config(rule()).to_json()
    for bucket_id in range(5):
        cache.rules_of(_bucket(stored, bucket_id))
    assert len(cache._compiled) <= 2
    broken = {"rules": [{"id": "x", "kind": "carrier-pigeon"}, *stored["rules"]]}
    assert [r.id for r in cache.rules_of(_bucket(broken, 9))] == ["r"]
    assert "cannot read" in caplog.text
