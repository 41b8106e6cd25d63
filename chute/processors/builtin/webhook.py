"""``notify.webhook``: tell other systems about an object with signed webhooks.

Each URL gets a POST in the Standard Webhooks form (see :mod:`chute.notify.webhooks`)::

    {"type": "object.created",                     # from the S3 event name
     "timestamp": "2024-05-01T12:00:00.000Z",       # the event's time
     "data": {"event": {...the S3 event record...},
              "object": {"bucket", "key", "version_id", "size", "etag", "sha256",
                         "content_type"}}}

The ``webhook-id`` is derived from (source version, pipeline, step, URL), so every attempt
of the step sends a given receiver the same id. When any URL fails in a way worth
retrying, the step retries after trying them all, and the next attempt posts to every
URL again, including those that already accepted: receivers drop the repeat by its id,
as the spec asks them to.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chute.errors import Reject, Retry
from chute.events import format_time
from chute.notify.webhooks import Delivery, Outcome, WebhookSigner, send
from chute.processors.base import Context
from chute.processors.registry import processor

#: The payload type when the job has no S3 event (a local run).
DEFAULT_TYPE = "object.created"


class DeliverOptions(BaseModel):
    """Options of a pipeline notification's step (compiled from ``[[pipelines.X.notify]]``),
    and what a ``notify.webhook`` step has besides its URLs: how to sign, how long to wait."""

    # the secret never shows in a validation message or a repr
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    #: ``whsec_...``; several while rotating: every request is signed with each.
    secret: str | list[str] = Field(repr=False)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, secret: str | list[str]) -> str | list[str]:
        WebhookSigner(secret)
        return secret

    def signer(self) -> WebhookSigner:
        """A signer holding every configured secret."""
        return WebhookSigner(self.secret)


class WebhookOptions(DeliverOptions):
    """Options of a ``notify.webhook`` step."""

    #: Where to POST, http or https, each at most once.
    urls: list[str] = Field(min_length=1)

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an http or https URL")
        twice = sorted({url for url in urls if urls.count(url) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return urls


@processor("notify.deliver", options=DeliverOptions)
def deliver_notification(ctx: Context) -> None:
    """Deliver one pipeline notification: the message the job was queued with (``url``,
    ``body``, ``msg_id``: the same id on every retry), signed with the block's secrets.
    The attempt's delivery (status code, timing) is kept in its report either way."""
    options: DeliverOptions = ctx.options
    message = ctx.payload
    delivery = send(
        message["url"],
        message["body"],
        options.signer(),
        message["msg_id"],
        timeout=options.timeout_seconds,
    )
    ctx.report.update(delivery.report())
    delivery.raise_for_outcome()


@processor("notify.webhook", options=WebhookOptions)
def notify_webhook(ctx: Context) -> None:
    """POST a signed notification about the source object to every configured URL."""
    options: WebhookOptions = ctx.options
    signer = options.signer()
    payload = object_payload(ctx)
    deliveries: list[Delivery] = []
    for url in options.urls:
        delivery = send(url, payload, signer, message_id(ctx, url), timeout=options.timeout_seconds)
        ctx.log.info("webhook %s: %s", delivery.report()["url"], delivery.error or "delivered")
        deliveries.append(delivery)
    ctx.report["deliveries"] = [delivery.report() for delivery in deliveries]
    _raise_for_failures(deliveries)


def object_payload(ctx: Context) -> dict[str, Any]:
    """The body posted for the context's object and event."""
    source = ctx.source
    event_time = ctx.event.get("eventTime")
    return {
        "type": event_type(ctx.event),
        "timestamp": event_time if isinstance(event_time, str) else format_time(time.time()),
        "data": {
            "event": ctx.event,
            "object": {
                "bucket": source.bucket,
                "key": source.key,
                "version_id": source.version_id,
                "size": source.size,
                "etag": source.etag,
                "sha256": source.sha256,
                "content_type": source.content_type,
            },
        },
    }


def event_type(event: dict[str, Any]) -> str:
    """The payload type for an S3 event record: ``ObjectCreated:Put`` becomes
    ``object.created``, ``ObjectRemoved:Delete`` ``object.removed``."""
    name = str(event.get("eventName") or "").partition(":")[0]
    if not name:
        return DEFAULT_TYPE
    return re.sub(r"(?<!^)(?=[A-Z])", ".", name).lower()


def message_id(ctx: Context, url: str) -> str:
    """The ``webhook-id`` for this URL: the same on every attempt of the step for one
    source version, different for another version, step or URL."""
    source = ctx.source
    identity = f"{source.bucket}/{source.key}/{source.version_id}/{ctx.pipeline}/{ctx.step}/{url}"
    return "msg_" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def _raise_for_failures(deliveries: list[Delivery]) -> None:
    """Retry while any URL may still accept (waiting the longest ``Retry-After`` asked
    for); reject only when every failure is permanent."""
    failed = [delivery for delivery in deliveries if delivery.outcome is not Outcome.DELIVERED]
    if not failed:
        return
    reason = "; ".join(delivery.error or "" for delivery in failed)
    retryable = [delivery for delivery in failed if delivery.outcome is Outcome.RETRY]
    if not retryable:
        raise Reject(reason)
    delays = [delivery.retry_after for delivery in retryable if delivery.retry_after is not None]
    raise Retry(delay=max(delays) if delays else None, reason=reason)
