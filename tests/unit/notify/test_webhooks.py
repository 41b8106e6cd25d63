"""Signed webhooks against a real HTTP receiver on loopback, each request checked with the
reference ``standardwebhooks`` library rather than with our own signer."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from chute.errors import Reject, Retry
from chute.events import format_time
from chute.notify.webhooks import (
    USER_AGENT,
    Outcome,
    WebhookSigner,
    build_request,
    deliver,
    generate_secret,
    pipeline_payload,
    send,
)
from tests.receiver import Receiver, Request

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = generate_secret()
PAYLOAD = {"type": "object.created", "timestamp": "2024-05-01T12:00:00.000Z", "data": {"k": "é"}}


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def verify(secret: str, request: Request) -> Any:
    """The payload, if the reference library accepts the request's signature."""
    return Webhook(secret).verify(request.body, request.headers)


# --- signing -------------------------------------------------------------------------


def test_delivered_request_verifies_with_the_reference_library(receiver: Receiver) -> None:
    delivery = deliver(receiver.url + "/hook", PAYLOAD, SECRET, "msg_1")

    assert delivery.outcome is Outcome.DELIVERED
    assert (delivery.status_code, delivery.response_excerpt, delivery.error) == (200, "ok", None)
    [request] = receiver.requests
    assert verify(SECRET, request) == PAYLOAD
    assert request.headers["webhook-id"] == "msg_1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.body == json.dumps(PAYLOAD, separators=(",", ":"), ensure_ascii=False).encode()


def test_two_secrets_sign_for_either(receiver: Receiver) -> None:
    deliver(receiver.url, PAYLOAD, [SECRET, OTHER_SECRET], "msg_rotate")

    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verify(SECRET, request) == PAYLOAD
    assert verify(OTHER_SECRET, request) == PAYLOAD
    with pytest.raises(WebhookVerificationError):
        verify(generate_secret(), request)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda r: Request(r.path, r.headers, r.body.replace(b"12:00", b"13:00")), id="body"
        ),
        pytest.param(
            lambda r: Request(r.path, {**r.headers, "webhook-id": "msg_x"}, r.body), id="id"
        ),
    ],
)
def test_tampered_request_fails_verification(receiver: Receiver, tamper: Any) -> None:
    deliver(receiver.url, PAYLOAD, SECRET, "msg_1")

    [request] = receiver.requests
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, tamper(request))


def test_signature_matches_the_reference_for_a_given_time() -> None:
    headers, body = build_request(PAYLOAD, SECRET, "msg_t", 1_700_000_000)

    moment = datetime.fromtimestamp(1_700_000_000, UTC)
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"] == Webhook(SECRET).sign("msg_t", moment, body.decode())


def test_generated_secret_is_accepted_by_both_sides(receiver: Receiver) -> None:
    secret = generate_secret()
    deliver(receiver.url, PAYLOAD, WebhookSigner(secret), "msg_g")

    assert secret.startswith("whsec_")
    assert verify(secret, receiver.requests[0]) == PAYLOAD
    with pytest.raises(ValueError, match="24 to 64 bytes"):
        generate_secret(16)


BAD_SECRETS = [
    pytest.param("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with", id="no-prefix"),
    pytest.param("whsec_not*base64!", "not valid base64", id="not-base64"),
    pytest.param("whsec_c2hvcnQ=", "5-byte key", id="too-short"),
    pytest.param("whsec_" + "QUFB" * 30, "90-byte key", id="too-long"),
    pytest.param([], "at least one", id="none"),
    pytest.param([SECRET, "whsec_"], "secret 2 of 2", id="one-of-several"),
]


@pytest.mark.parametrize(("secret", "message"), BAD_SECRETS)
def test_bad_secret_is_refused_by_the_signer(secret: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebhookSigner(secret)


# --- outcomes ------------------------------------------------------------------------


def test_server_error_asks_for_a_retry_with_the_step_backoff(receiver: Receiver) -> None:
    receiver.status = 500

    with pytest.raises(Retry) as caught:
        deliver(receiver.url + "/hook", PAYLOAD, SECRET, "msg_1")

    assert caught.value.delay is None
    assert "HTTP 500" in caught.value.message
    assert verify(SECRET, receiver.requests[0]) == PAYLOAD


def test_rate_limit_retries_after_the_asked_delay(receiver: Receiver) -> None:
    receiver.status, receiver.headers = 429, {"Retry-After": "3"}

    with pytest.raises(Retry) as caught:
        deliver(receiver.url, PAYLOAD, SECRET, "msg_1")

    assert caught.value.delay == 3


def test_retry_after_as_a_date_counts_from_the_clock(receiver: Receiver) -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()
    receiver.status = 503
    receiver.headers = {
        "Retry-After": format_datetime(datetime(2024, 5, 1, 12, 2, tzinfo=UTC), True)
    }

    delivery = send(receiver.url, PAYLOAD, SECRET, "msg_1", clock=lambda: now)

    assert (delivery.outcome, delivery.retry_after) == (Outcome.RETRY, 120)
    assert receiver.requests[0].headers["webhook-timestamp"] == str(int(now))


@pytest.mark.parametrize(("header", "delay"), [("soon", None), ("999999", 3600)])
def test_unreasonable_retry_after_is_ignored_or_capped(
    receiver: Receiver, header: str, delay: float | None
) -> None:
    receiver.status, receiver.headers = 503, {"Retry-After": header}

    assert send(receiver.url, PAYLOAD, SECRET, "msg_1").retry_after == delay


def test_not_found_is_rejected(receiver: Receiver) -> None:
    receiver.status = 404

    with pytest.raises(Reject) as caught:
        deliver(receiver.url + "/hook?token=hush", PAYLOAD, SECRET, "msg_1")

    assert f"{receiver.url}/hook answered HTTP 404" in caught.value.message
    assert "hush" not in caught.value.message


def test_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.status, receiver.headers = 302, {"Location": receiver.url + "/elsewhere"}

    with pytest.raises(Reject, match="HTTP 302"):
        deliver(receiver.url, PAYLOAD, SECRET, "msg_1")

    assert len(receiver.requests) == 1


def test_refused_connection_asks_for_a_retry(closed_port_url: str) -> None:
    delivery = send(closed_port_url, PAYLOAD, SECRET, "msg_1")

    assert (delivery.outcome, delivery.status_code) == (Outcome.RETRY, None)
    assert delivery.error is not None
    assert "unreachable" in delivery.error
    with pytest.raises(Retry):
        delivery.raise_for_outcome()


def test_timeout_asks_for_a_retry(receiver: Receiver) -> None:
    receiver.hold = True

    with pytest.raises(Retry, match=r"did not answer within 0\.2s"):
        deliver(receiver.url, PAYLOAD, SECRET, "msg_1", timeout=0.2)

    assert len(receiver.wait_for_requests(1)) == 1


# --- payloads ------------------------------------------------------------------------


def test_pipeline_payload_shape() -> None:
    source = {"bucket": "in", "key": "a.jpg", "version_id": "v1", "size": 3, "etag": "e"}
    output = {"bucket": "out", "key": "a/thumb.jpg", "version_id": "v9", "size": 1}
    moment = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)

    payload = pipeline_payload(
        "pipeline.succeeded", "thumbs", source, "succeeded", [output], None, moment
    )

    assert payload == {
        "type": "pipeline.succeeded",
        "timestamp": "2024-05-01T12:00:00.250Z",
        "data": {
            "pipeline": "thumbs",
            "status": "succeeded",
            "object": source,
            "outputs": [output],
            "error": None,
        },
    }
    assert format_time(moment.timestamp()) == payload["timestamp"]
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2024, 5, 1))
