"""The NotificationConfiguration XML: what S3 and its SDKs send, parsed into rules, and
the document GetBucketNotificationConfiguration answers."""

from __future__ import annotations

import pytest

from chute.api.s3.notifications import parse_configuration, render_configuration
from chute.api.s3.xml import parse, render
from chute.errors import InvalidArgument, MalformedXML
from chute.pipelines.bucket_rules import BucketNotifications, DestinationKind

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:thumbnails"


def _parse(inner: str, root: str = "NotificationConfiguration") -> BucketNotifications:
    return parse_configuration(parse(f"<{root} {NS}>{inner}</{root}>".encode()))


def test_what_botocore_sends_for_each_kind() -> None:
    config = parse_configuration(
        parse(
            f"""<NotificationConfiguration {NS}>
              <TopicConfiguration><Id>t</Id><Topic>arn:chute:topic:orders</Topic>
                <Event>s3:ObjectRemoved:*</Event></TopicConfiguration>
              <QueueConfiguration><Queue>arn:chute:queue:jobs</Queue>
                <Event>s3:ObjectCreated:Copy</Event></QueueConfiguration>
              <CloudFunctionConfiguration><Id>f</Id><CloudFunction>{LAMBDA}</CloudFunction>
                <Event>s3:ObjectCreated:Put</Event><Event>s3:ObjectCreated:Post</Event>
                <Filter><S3Key>
                  <FilterRule><Name>PREFIX</Name><Value>in/</Value></FilterRule>
                  <FilterRule><Name>suffix</Name><Value>.jpg</Value></FilterRule>
                </S3Key></Filter>
              </CloudFunctionConfiguration>
              <EventBridgeConfiguration></EventBridgeConfiguration>
            </NotificationConfiguration>""".encode()
        )
    )
    topic, queue, function = config.rules
    assert (topic.kind, topic.name, topic.events) == (
        DestinationKind.TOPIC,
        "orders",
        ("s3:ObjectRemoved:*",),
    )
    assert (queue.kind, queue.name) == (DestinationKind.QUEUE, "jobs")
    assert queue.id  # generated
    assert function.events == ("s3:ObjectCreated:Put", "s3:ObjectCreated:Post")
    assert function.filter == (("Prefix", "in/"), ("Suffix", ".jpg"))
    assert config.event_bridge
    config.validate()


def test_legacy_and_sdk_spellings_are_accepted() -> None:
    config = _parse(
        f"<LambdaFunctionConfiguration><Id></Id><LambdaFunctionArn>{LAMBDA}</LambdaFunctionArn>"
        "<Event>s3:ObjectCreated:*</Event></LambdaFunctionConfiguration>"
        "<CloudFunctionConfiguration><CloudFunction>arn:chute:function:b</CloudFunction>"
        "<InvocationRole>arn:aws:iam::1:role/x</InvocationRole>"
        "<Event>s3:ObjectRemoved:*</Event></CloudFunctionConfiguration>"
    )
    first, second = config.rules
    assert (first.name, second.name) == ("thumbnails", "b")
    assert first.id  # an empty Id is no Id


@pytest.mark.parametrize(
    "inner",
    [
        "<TopicConfiguration><Event>s3:ObjectCreated:*</Event></TopicConfiguration>",
        "<TopicConfiguration><Topic>arn:chute:topic:t</Topic></TopicConfiguration>",
        "<TopicConfiguration><Topic>arn:chute:topic:t</Topic><Event>s3:ObjectCreated:*</Event>"
        "<Colour>red</Colour></TopicConfiguration>",
        "<TopicConfiguration><Topic>arn:chute:topic:t</Topic><Event>s3:ObjectCreated:*</Event>"
        "<Filter><Key/></Filter></TopicConfiguration>",
        "<TopicConfiguration><Topic>arn:chute:topic:t</Topic><Event>s3:ObjectCreated:*</Event>"
        "<InvocationRole>r</InvocationRole></TopicConfiguration>",
        "<Something/>",
    ],
)
def test_shapes_s3_does_not_accept_are_malformed(inner: str) -> None:
    with pytest.raises(MalformedXML):
        _parse(inner)


def test_another_document_is_malformed() -> None:
    with pytest.raises(MalformedXML):
        _parse("", root="CORSConfiguration")


def test_an_unknown_filter_rule_name_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="either prefix or suffix"):
        _parse(
            "<TopicConfiguration><Topic>arn:chute:topic:t</Topic>"
            "<Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>middle</Name>"
            "<Value>x</Value></FilterRule></S3Key></Filter></TopicConfiguration>"
        )


def test_the_answer_lists_topics_queues_then_functions_and_parses_back() -> None:
    config = _parse(
        f"<CloudFunctionConfiguration><Id>f</Id><CloudFunction>{LAMBDA}</CloudFunction>"
        "<Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>suffix</Name>"
        "<Value>.jpg</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration>"
        "<TopicConfiguration><Id>t</Id><Topic>arn:chute:topic:t</Topic>"
        "<Event>s3:ObjectRemoved:*</Event></TopicConfiguration>"
    )
    document = render(render_configuration(config)).decode()
    assert document.index("<TopicConfiguration>") < document.index("<CloudFunctionConfiguration>")
    assert "<Name>Suffix</Name>" in document  # as S3 answers it
    again = parse_configuration(parse(document.encode()))
    assert sorted(again.rules, key=lambda r: r.id) == sorted(config.rules, key=lambda r: r.id)
    assert "EventBridgeConfiguration" not in document
