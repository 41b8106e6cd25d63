"""Telling other systems what happened: signed webhooks (Standard Webhooks)."""

from chute.notify.webhooks import (
    Delivery,
    Outcome,
    WebhookSigner,
    build_request,
    deliver,
    generate_secret,
    pipeline_payload,
    send,
)

__all__ = [
    "Delivery",
    "Outcome",
    "WebhookSigner",
    "build_request",
    "deliver",
    "generate_secret",
    "pipeline_payload",
    "send",
]
