"""Bucket notifications: PutBucketNotificationConfiguration and
GetBucketNotificationConfiguration (the legacy GetBucketNotification is the same
request, and gets the same document).

The XML is S3's (botocore writes ``LambdaFunctionConfigurations`` as
``CloudFunctionConfiguration`` elements holding a ``CloudFunction`` ARN); what the rules
mean for Chute, and how they are checked, is :mod:`chute.pipelines.bucket_rules`. On
save, as S3 does, every destination must exist (unless ``x-amz-skip-destination-
validation: true``), and each webhook target named as a topic is sent an
``s3:TestEvent``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import anyio.to_thread
from starlette.responses import Response

from chute.api.s3.body import read_xml
from chute.api.s3.errors import HOST_ID
from chute.api.s3.operations import route
from chute.api.s3.request import S3Request
from chute.api.s3.services import services_of
from chute.api.s3.xml import element, leaf, xml_response
from chute.errors import InvalidNotificationConfiguration, MalformedXML, UnverifiedDestinations
from chute.pipelines.bucket_rules import (
    ARN_ELEMENTS,
    PREFIX,
    SUFFIX,
    BucketNotifications,
    DestinationKind,
    NotificationRule,
    new_rule_id,
)

#: The element of each kind of configuration, as S3 writes it.
ELEMENTS = {
    DestinationKind.TOPIC: "TopicConfiguration",
    DestinationKind.QUEUE: "QueueConfiguration",
    DestinationKind.FUNCTION: "CloudFunctionConfiguration",
}
#: What a request may call them: S3's names, and the SDK's for Lambda (accepted too).
_KINDS = {tag: kind for kind, tag in ELEMENTS.items()} | {
    "LambdaFunctionConfiguration": DestinationKind.FUNCTION
}
_ARN_TAGS = {
    DestinationKind.TOPIC: ("Topic", "TopicArn"),
    DestinationKind.QUEUE: ("Queue", "QueueArn"),
    DestinationKind.FUNCTION: ("CloudFunction", "LambdaFunctionArn"),
}
_FILTER_NAMES = {"prefix": PREFIX, "suffix": SUFFIX}
SKIP_VALIDATION = "x-amz-skip-destination-validation"


@route("GET", "bucket", "notification")
async def get_bucket_notification_configuration(request: S3Request) -> Response:
    service = services_of(request).objects
    stored = await anyio.to_thread.run_sync(service.notifications, request.context, request.bucket)
    return xml_response(render_configuration(BucketNotifications.from_json(stored)))


@route("PUT", "bucket", "notification")
async def put_bucket_notification_configuration(request: S3Request) -> Response:
    services = services_of(request)
    # The bucket exists and the caller may configure it, before anything is said about
    # the destinations this server has.
    await anyio.to_thread.run_sync(services.objects.notifications, request.context, request.bucket)
    config = parse_configuration(await read_xml(request))
    config.validate()
    destinations = services.destinations
    check = request.headers.get(SKIP_VALIDATION, "").strip().lower() != "true"
    if check:
        refusals = (
            destinations.refusals(config, request.context, request.bucket)
            if destinations is not None
            else [(rule.arn, "this server has no destinations") for rule in config.rules]
        )
    elif destinations is not None:
        # Skipping validation skips whether destinations exist, never who may use them.
        refusals = destinations.refusals(
            config, request.context, request.bucket, permissions_only=True
        )
    else:
        refusals = []
    if refusals:
        raise UnverifiedDestinations(refusals)
    trusted = request.context.permissions.is_admin
    stored = None if config.is_empty else config.saved_by(trusted).to_json()
    await anyio.to_thread.run_sync(
        services.objects.set_notifications, request.context, request.bucket, stored
    )
    if check and destinations is not None:
        await anyio.to_thread.run_sync(
            destinations.send_test_events,
            request.bucket,
            config,
            request.context.request_id,
            HOST_ID,
        )
    return Response()


# --- the XML -------------------------------------------------------------------------


def parse_configuration(root: ET.Element) -> BucketNotifications:
    """A ``NotificationConfiguration`` document as rules, in document order; rules
    without an ``Id`` get one. ``MalformedXML`` for a shape S3 does not accept."""
    if root.tag != "NotificationConfiguration":
        raise MalformedXML()
    rules = []
    event_bridge = False
    for node in root:
        if node.tag == "EventBridgeConfiguration":
            event_bridge = True
            continue
        kind = _KINDS.get(str(node.tag))
        if kind is None:
            raise MalformedXML()
        rules.append(_rule(node, kind))
    return BucketNotifications(tuple(rules), event_bridge)


def _rule(node: ET.Element, kind: DestinationKind) -> NotificationRule:
    rule_id: str | None = None
    arn: str | None = None
    events: list[str] = []
    rules: tuple[tuple[str, str], ...] = ()
    for child in node:
        text = (child.text or "").strip()
        if child.tag == "Id":
            rule_id = text or None
        elif child.tag in _ARN_TAGS[kind] and arn is None:
            arn = text
        elif child.tag == "Event":
            events.append(text)
        elif child.tag == "Filter":
            rules = _filter(child)
        elif child.tag != "InvocationRole" or kind is not DestinationKind.FUNCTION:
            raise MalformedXML()  # (a legacy Lambda configuration's role is not needed)
    if not arn or not events:
        raise MalformedXML()
    return NotificationRule(rule_id or new_rule_id(), kind, arn, tuple(events), rules)


def _filter(node: ET.Element) -> tuple[tuple[str, str], ...]:
    """``Filter/S3Key/FilterRule`` as ``(Prefix | Suffix, value)`` pairs."""
    rules = []
    for key in node:
        if key.tag != "S3Key":
            raise MalformedXML()
        for rule in key:
            if rule.tag != "FilterRule":
                raise MalformedXML()
            name = (rule.findtext("Name") or "").strip()
            canonical = _FILTER_NAMES.get(name.lower())
            if canonical is None:
                raise InvalidNotificationConfiguration(
                    "filter rule name must be either prefix or suffix", ("FilterRule", name)
                )
            rules.append((canonical, rule.findtext("Value") or ""))
    return tuple(rules)


def render_configuration(config: BucketNotifications) -> ET.Element:
    """The document GetBucketNotificationConfiguration answers: topics, queues, then
    functions, as S3 lists them."""
    nodes = []
    for kind, tag in ELEMENTS.items():
        for rule in config.of_kind(kind):
            events = [leaf("Event", event) for event in rule.events]
            nodes.append(
                element(
                    tag,
                    leaf("Id", rule.id),
                    leaf(ARN_ELEMENTS[kind], rule.arn),
                    *events,
                    _filter_element(rule),
                )
            )
    if config.event_bridge:
        nodes.append(element("EventBridgeConfiguration"))
    return element("NotificationConfiguration", *nodes)


def _filter_element(rule: NotificationRule) -> ET.Element | None:
    if not rule.filter:
        return None
    entries = [
        element("FilterRule", leaf("Name", name), leaf("Value", value))
        for name, value in rule.filter
    ]
    return element("Filter", element("S3Key", *entries))
