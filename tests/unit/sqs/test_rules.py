"""SQS's rules as :mod:`chute.sqs` applies them: message checks and digests, receipt
handles, queue attributes, and the query protocol's flattened parameters."""

from __future__ import annotations

import base64

import pytest
from moto.sqs.models import Message

from chute.api.sqs.query import params_of
from chute.sqs import attributes, handles
from chute.sqs.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidMessageContents,
    InvalidParameterValue,
    ReceiptHandleIsInvalid,
)
from chute.sqs.messages import check_attributes, check_body, md5_of_attributes, size_of

ATTRIBUTES = {
    "colour": {"DataType": "String", "StringValue": "bl\u00fce"},
    "count": {"DataType": "Number", "StringValue": "-12.5e3"},
    "raw": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"\x00\xff").decode()},
    "custom": {"DataType": "String.json", "StringValue": "{}"},
}


def test_the_attributes_digest_is_the_one_sqs_computes() -> None:
    # moto's server computes SQS's documented digest too: the two must agree.
    peer = Message("id", "body")
    peer.message_attributes = {
        name: (
            {"DataType": value["DataType"], "BinaryValue": base64.b64decode(value["BinaryValue"])}
            if "BinaryValue" in value
            else dict(value)
        )
        for name, value in ATTRIBUTES.items()
    }
    assert md5_of_attributes(check_attributes(ATTRIBUTES)) == peer.attribute_md5


def test_size_counts_names_types_and_values() -> None:
    body = "x" * 10
    expected = (
        10
        + sum(
            len(name) + len(value["DataType"].encode()) + len(value.get("StringValue", "").encode())
            for name, value in ATTRIBUTES.items()
            if "StringValue" in value
        )
        + len("raw")
        + len("Binary")
        + 2
    )
    assert size_of(body, check_attributes(ATTRIBUTES)) == expected


@pytest.mark.parametrize(
    "body", ["bell \x07", "nul \x00", "lone \ud800 surrogate", "\ufffe", "\x1f"]
)
def test_bodies_with_characters_sqs_refuses(body: str) -> None:
    with pytest.raises(InvalidMessageContents):
        check_body(body)


def test_bodies_sqs_takes() -> None:
    assert check_body("tab\tnew\nline\r \ud7ff \ue000 \U0001f600") is not None


@pytest.mark.parametrize(
    "given",
    [
        {f"a{n}": {"DataType": "String", "StringValue": "v"} for n in range(11)},
        {"AWS.thing": {"DataType": "String", "StringValue": "v"}},
        {"amazon.thing": {"DataType": "String", "StringValue": "v"}},
        {"a..b": {"DataType": "String", "StringValue": "v"}},
        {"spaced name": {"DataType": "String", "StringValue": "v"}},
        {"empty": {"DataType": "String", "StringValue": ""}},
        {"typeless": {"StringValue": "v"}},
        {"odd": {"DataType": "Float", "StringValue": "1"}},
        {"number": {"DataType": "Number", "StringValue": "one"}},
        {"huge": {"DataType": "Number", "StringValue": "1e500"}},
        {"binary": {"DataType": "Binary", "BinaryValue": "not base64!"}},
        {"binary": {"DataType": "Binary", "StringValue": "text"}},
    ],
)
def test_message_attributes_sqs_refuses(given: dict[str, dict[str, str]]) -> None:
    with pytest.raises(InvalidParameterValue):
        check_attributes(given)


def test_a_receipt_handle_verifies_only_for_its_queue_and_secret() -> None:
    secret = handles.new_secret()
    receipt = handles.Receipt(7, 42, handles.new_token())
    handle = handles.issue(secret, receipt)
    assert handles.read(handle, secret, 7) == receipt
    with pytest.raises(ReceiptHandleIsInvalid):
        handles.read(handle, secret, 8)  # another queue
    with pytest.raises(ReceiptHandleIsInvalid):
        handles.read(handle, handles.new_secret(), 7)  # another queue's secret
    flipped = handle[:10] + ("A" if handle[10] != "A" else "B") + handle[11:]
    for bad in (flipped, handle[:-1], handle + "AA", "", "é" * 64, "%%%%"):
        with pytest.raises(ReceiptHandleIsInvalid):
            handles.read(bad, secret, 7)


def test_queue_names_and_attributes() -> None:
    assert attributes.creating("jobs", {}) == (False, {})
    assert attributes.creating("jobs.fifo", {"FifoQueue": "true"})[0] is True
    for name, given in [
        ("jobs.fifo", {"FifoQueue": "false"}),
        ("jobs", {"FifoQueue": "true"}),
        ("x" * 81, {}),
        ("", {}),
    ]:
        with pytest.raises(InvalidParameterValue):
            attributes.creating(name, given)
    with pytest.raises(InvalidAttributeName):
        attributes.creating("jobs", {"ContentBasedDeduplication": "true"})  # FIFO only
    for name, value in [
        ("VisibilityTimeout", "-1"),
        ("DelaySeconds", "901"),
        ("MessageRetentionPeriod", "59"),
        ("MaximumMessageSize", "1023"),
        ("ReceiveMessageWaitTimeSeconds", "2.5"),
    ]:
        with pytest.raises(InvalidAttributeValue):
            attributes.checked({name: value}, fifo=False)
    for policy in [
        '{"maxReceiveCount": 3}',
        '{"deadLetterTargetArn": "a", "maxReceiveCount": 0}',
        "[]",
    ]:
        with pytest.raises(InvalidParameterValue):
            attributes.redrive_policy(policy)


def test_query_parameters_take_the_json_protocols_shapes() -> None:
    action, params = params_of(
        [
            ("Action", "SendMessageBatch"),
            ("Version", "2012-11-05"),
            ("QueueUrl", "http://h/000000000000/q"),
            ("SendMessageBatchRequestEntry.2.Id", "b"),
            ("SendMessageBatchRequestEntry.2.MessageBody", "two"),
            ("SendMessageBatchRequestEntry.1.Id", "a"),
            ("SendMessageBatchRequestEntry.1.MessageBody", "one"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Name", "k"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType", "String"),
            ("SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue", "v"),
        ]
    )
    assert action == "SendMessageBatch"
    assert params == {
        "QueueUrl": "http://h/000000000000/q",
        "Entries": [
            {
                "Id": "a",
                "MessageBody": "one",
                "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}},
            },
            {"Id": "b", "MessageBody": "two"},
        ],
    }
    _, created = params_of(
        [("Action", "CreateQueue"), ("QueueName", "q"), ("Attribute.1.Name", "DelaySeconds"),
         ("Attribute.1.Value", "5"), ("Tag.1.Key", "team"), ("Tag.1.Value", "a")]
    )  # fmt: skip
    assert created == {"QueueName": "q", "Attributes": {"DelaySeconds": "5"}, "tags": {"team": "a"}}
    with pytest.raises(InvalidParameterValue):
        params_of([("Action", "SendMessage"), ("Mystery.1", "x")])
    with pytest.raises(InvalidParameterValue):
        params_of([("A", "x"), ("A.B", "y")])
