"""The ``notify.webhook`` processor: its options, and what it posts to a real HTTP
receiver on loopback (signatures checked with the reference ``standardwebhooks``
library)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from chute.errors import Reject, Retry
from chute.processors.base import Context, local_context
from chute.processors.builtin.webhook import WebhookOptions, event_type
from chute.processors.registry import get_processor
from tests.receiver import Receiver
from tests.unit.notify.test_webhooks import BAD_SECRETS, OTHER_SECRET, SECRET, verify


@pytest.mark.parametrize(("secret", "message"), BAD_SECRETS)
def test_bad_secret_fails_option_validation_without_showing_it(secret: Any, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message) as caught:
        get_processor("notify.webhook").parse_options({"urls": ["http://x/"], "secret": secret})

    assert "QUFB" not in str(caught.value)
    assert "MfKQ9r8" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ObjectCreated:Put", "object.created"),
        ("ObjectRemoved:DeleteMarkerCreated", "object.removed"),
        (None, "object.created"),
    ],
)
def test_event_type_follows_the_s3_event_name(name: str | None, expected: str) -> None:
    assert event_type({"eventName": name} if name else {}) == expected


def _context(urls: list[str], secret: Any = SECRET) -> Context:
    spec = get_processor("notify.webhook")
    options = spec.parse_options({"urls": urls, "secret": secret, "timeout_seconds": 2})
    ctx = local_context(b"hello", key="in/a.txt", content_type="text/plain", options=options)
    ctx.pipeline, ctx.step = "notify", "hook"
    return ctx


def _run(ctx: Context) -> None:
    get_processor("notify.webhook").func(ctx)


def test_processor_posts_the_object_and_reports_the_delivery(receiver: Receiver) -> None:
    ctx = _context([receiver.url + "/a"], [SECRET, OTHER_SECRET])
    ctx.event = {"eventName": "ObjectCreated:Put", "eventTime": "2024-05-01T12:00:00.000Z"}

    _run(ctx)

    [request] = receiver.requests
    payload = verify(OTHER_SECRET, request)
    assert payload["type"] == "object.created"
    assert payload["timestamp"] == "2024-05-01T12:00:00.000Z"
    assert payload["data"]["event"] == ctx.event
    assert payload["data"]["object"]["key"] == "in/a.txt"
    assert payload["data"]["object"]["size"] == 5
    [report] = ctx.report["deliveries"]
    assert (report["url"], report["status_code"], report["error"]) == (
        receiver.url + "/a",
        200,
        None,
    )
    assert report["duration_ms"] > 0


def test_processor_tries_every_url_then_retries(receiver: Receiver) -> None:
    receiver.statuses = {"/down": 503, "/gone": 410}
    ctx = _context([receiver.url + "/down", receiver.url + "/gone", receiver.url + "/up"])

    with pytest.raises(Retry, match=r"HTTP 503.*HTTP 410"):
        _run(ctx)

    assert [request.path for request in receiver.requests] == ["/down", "/gone", "/up"]
    assert [report["status_code"] for report in ctx.report["deliveries"]] == [503, 410, 200]


def test_processor_rejects_when_every_failure_is_permanent(receiver: Receiver) -> None:
    receiver.statuses = {"/gone": 410}

    with pytest.raises(Reject, match="HTTP 410"):
        _run(_context([receiver.url + "/gone", receiver.url + "/up"]))


def test_message_id_is_stable_across_runs_and_distinct_per_url(receiver: Receiver) -> None:
    urls = [receiver.url + "/a", receiver.url + "/b"]

    _run(_context(urls))
    _run(_context(urls))

    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert ids[:2] == ids[2:]
    assert ids[0] != ids[1]
    assert all(msg_id.startswith("msg_") and len(msg_id) == 36 for msg_id in ids)


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ([], "at least 1 item"),
        (["ftp://example.com/x"], "not an http or https URL"),
        (["https://a.example/", "https://a.example/"], "listed more than once"),
    ],
)
def test_processor_options_check_urls(urls: list[str], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        WebhookOptions.model_validate({"urls": urls, "secret": SECRET})


def test_options_repr_hides_the_secret() -> None:
    options = WebhookOptions.model_validate({"urls": ["https://a.example/"], "secret": SECRET})

    assert SECRET not in repr(options)
