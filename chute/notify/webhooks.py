"""Signed webhook deliveries, as the Standard Webhooks spec (https://www.standardwebhooks.com/)
describes them.

Every request carries three headers: ``webhook-id`` (the message id: the same on every
retry of one notification, so receivers can drop duplicates), ``webhook-timestamp`` (unix
seconds of this attempt) and ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of
``{id}.{timestamp}.{body}``. A secret is ``whsec_`` and the base64 of a 24 to 64 byte key;
signing with several secrets gives several space-separated signatures, so an endpoint's
secret can be rotated without a window in which its receiver rejects messages.

:func:`send` makes one attempt and describes it as a :class:`Delivery`; :func:`deliver`
does the same and turns a failure into the processor verbs ``Retry`` or ``Reject``.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import secrets as random_source
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import httpx

from chute.errors import Reject, Retry
from chute.events import format_time

SECRET_PREFIX = "whsec_"
#: Key sizes the spec allows for symmetric secrets, in bytes.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
USER_AGENT = "Chute-Webhooks/1.0"
#: How much of a response body a :class:`Delivery` keeps, in bytes.
EXCERPT_BYTES = 1024
#: The longest ``Retry-After`` honoured, in seconds; a longer one is cut to this.
MAX_RETRY_AFTER = 3600.0
#: 4xx answers that say "not now" rather than "never" (timeout, conflict, too early,
#: rate limited): retried like 5xx.
RETRYABLE_CLIENT_STATUSES = frozenset({408, 409, 425, 429})


class WebhookSigner:
    """Signs messages with one or several secrets (several while a secret is rotated).

    The secrets are checked here, so building a signer is how configuration validates
    them: a broken one raises ``ValueError`` naming which one and why, never its value."""

    def __init__(self, secrets: str | Sequence[str]) -> None:
        texts = [secrets] if isinstance(secrets, str) else list(secrets)
        if not texts:
            raise ValueError("at least one webhook secret is needed")
        self._keys = [_decode_secret(text, index, len(texts)) for index, text in enumerate(texts)]

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``webhook-signature`` header value: one ``v1,<base64>`` entry per secret."""
        content = f"{msg_id}.{timestamp}.".encode() + body
        digests = (hmac.new(key, content, hashlib.sha256).digest() for key in self._keys)
        return " ".join("v1," + base64.b64encode(digest).decode() for digest in digests)


#: What names the secrets to sign with: one ``whsec_`` string, several, or a signer.
Secrets: TypeAlias = WebhookSigner | str | Sequence[str]


def generate_secret(key_bytes: int = 32) -> str:
    """A new random secret in the spec's form (``whsec_`` and base64 of the key)."""
    if not MIN_KEY_BYTES <= key_bytes <= MAX_KEY_BYTES:
        raise ValueError(f"a key has {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {key_bytes}")
    return SECRET_PREFIX + base64.b64encode(random_source.token_bytes(key_bytes)).decode()


def _decode_secret(text: str, index: int, count: int) -> bytes:
    which = "the webhook secret" if count == 1 else f"webhook secret {index + 1} of {count}"
    if not text.startswith(SECRET_PREFIX):
        raise ValueError(f"{which} must start with {SECRET_PREFIX!r} (see generate_secret)")
    encoded = text[len(SECRET_PREFIX) :]
    try:  # padding is optional, as in the reference libraries
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{which} is not valid base64 after {SECRET_PREFIX!r}") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"{which} holds a {len(key)}-byte key; the spec wants {MIN_KEY_BYTES} to "
            f"{MAX_KEY_BYTES} bytes (see generate_secret)"
        )
    return key


def _signer(secrets: Secrets) -> WebhookSigner:
    return secrets if isinstance(secrets, WebhookSigner) else WebhookSigner(secrets)


# --- payloads ------------------------------------------------------------------------


def pipeline_payload(
    type: str,  # the spec's field name
    pipeline: str,
    source: Mapping[str, Any],
    status: str,
    outputs: Sequence[Mapping[str, Any]],
    error: str | None,
    timestamp: datetime | float,
) -> dict[str, Any]:
    """The body of a pipeline notification, in the spec's recommended shape::

        {"type": "pipeline.succeeded",          # or "pipeline.failed", "object.processed"
         "timestamp": "2024-05-01T12:00:00.000Z",   # when it happened, not when sent
         "data": {"pipeline": "thumbs", "status": "succeeded",
                  "object": {"bucket", "key", "version_id", "size", "etag", "content_type"},
                  "outputs": [{"bucket", "key", "version_id", "size", "content_type"}],
                  "error": None}}

    ``source`` and ``outputs`` are copied as given."""
    data = {
        "pipeline": pipeline,
        "status": status,
        "object": dict(source),
        "outputs": [dict(output) for output in outputs],
        "error": error,
    }
    return {"type": type, "timestamp": format_time(timestamp), "data": data}


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def build_request(
    payload: Mapping[str, Any],
    secrets: Secrets,
    msg_id: str,
    timestamp: int,
) -> tuple[dict[str, str], bytes]:
    """The headers and body of one signed attempt."""
    body = encode_body(payload)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": _signer(secrets).sign(msg_id, timestamp, body),
    }
    return headers, body


# --- delivery ------------------------------------------------------------------------


class Outcome(StrEnum):
    """What one delivery attempt came to."""

    #: The receiver answered 2xx.
    DELIVERED = "delivered"
    #: Worth another attempt: 408/409/425/429, 5xx, a network error or a timeout.
    RETRY = "retry"
    #: Will not succeed by trying again: any other 3xx or 4xx, or an unusable URL.
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt at delivering a message to one URL."""

    url: str
    msg_id: str
    outcome: Outcome
    #: Unix seconds when the attempt started (also its ``webhook-timestamp``).
    attempted_at: float
    duration_ms: float
    #: ``None`` when no answer came (connection refused, timeout).
    status_code: int | None = None
    #: The start of the response body (up to :data:`EXCERPT_BYTES`), decoded leniently.
    response_excerpt: str = ""
    error: str | None = None
    #: Seconds the receiver asked to wait (``Retry-After``), for a retryable answer.
    retry_after: float | None = None

    def report(self) -> dict[str, Any]:
        """The summary a step keeps in its report (the URL without credentials or query)."""
        return {
            "url": redact_url(self.url),
            "status_code": self.status_code,
            "duration_ms": self.duration_ms,
            "error": self.error,
        }

    def raise_for_outcome(self) -> Delivery:
        """Itself if delivered; else ``Retry`` (with the asked-for delay) or ``Reject``."""
        if self.outcome is Outcome.RETRY:
            raise Retry(delay=self.retry_after, reason=self.error)
        if self.outcome is Outcome.REJECTED:
            raise Reject(self.error or f"webhook {redact_url(self.url)} rejected the message")
        return self


def redact_url(url: str) -> str:
    """The URL without user info and query string, which may hold credentials, for
    messages and logs."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def deliver(
    url: str,
    payload: Mapping[str, Any],
    secrets: Secrets,
    msg_id: str,
    *,
    timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
    client: httpx.Client | None = None,
) -> Delivery:
    """POST one signed message; returns the delivery when the receiver answered 2xx and
    raises ``Retry`` or ``Reject`` otherwise (see :class:`Outcome`).

    Keep ``msg_id`` the same on every retry of a notification: receivers dedupe on it."""
    attempt = send(url, payload, secrets, msg_id, timeout=timeout, clock=clock, client=client)
    return attempt.raise_for_outcome()


def send(
    url: str,
    payload: Mapping[str, Any],
    secrets: Secrets,
    msg_id: str,
    *,
    timeout: float = 10.0,
    clock: Callable[[], float] = time.time,
    client: httpx.Client | None = None,
) -> Delivery:
    """Like :func:`deliver` but never raises for the receiver's answer or the network:
    the :class:`Delivery` says what happened. Redirects are not followed."""
    attempted_at = clock()
    headers, body = build_request(payload, secrets, msg_id, int(attempted_at))
    started = time.perf_counter()
    try:
        answer = _post(client, url, headers, body, timeout, attempted_at)
    except (httpx.InvalidURL, httpx.TransportError) as exc:
        answer = _Answer(None, "", None, *_failure(exc, url, timeout))
    return Delivery(
        url=url,
        msg_id=msg_id,
        outcome=answer.outcome,
        attempted_at=attempted_at,
        duration_ms=_ms_since(started),
        status_code=answer.status,
        response_excerpt=answer.excerpt,
        error=answer.error,
        retry_after=answer.retry_after,
    )


class _Answer(NamedTuple):
    status: int | None
    excerpt: str
    retry_after: float | None
    outcome: Outcome
    error: str | None


def _post(
    client: httpx.Client | None,
    url: str,
    headers: dict[str, str],
    body: bytes,
    timeout: float,
    now: float,
) -> _Answer:
    if client is None:
        with httpx.Client(follow_redirects=False, timeout=timeout) as own:
            return _post(own, url, headers, body, timeout, now)
    request = client.build_request("POST", url, headers=headers, content=body, timeout=timeout)
    response = client.send(request, stream=True, follow_redirects=False)
    try:
        outcome, error = _classify(response.status_code, url)
        wait = _retry_after(response.headers.get("retry-after"), now)
        retry_after = wait if outcome is Outcome.RETRY else None
        return _Answer(response.status_code, _excerpt(response), retry_after, outcome, error)
    finally:
        response.close()


def _failure(exc: Exception, url: str, timeout: float) -> tuple[Outcome, str]:
    where = redact_url(url)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return Outcome.REJECTED, f"webhook URL {where} is not usable: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return Outcome.RETRY, f"webhook {where} did not answer within {timeout}s"
    return Outcome.RETRY, f"webhook {where} unreachable: {str(exc) or type(exc).__name__}"


def _classify(status: int, url: str) -> tuple[Outcome, str | None]:
    if 200 <= status < 300:
        return Outcome.DELIVERED, None
    error = f"webhook {redact_url(url)} answered HTTP {status}"
    if status >= 500 or status in RETRYABLE_CLIENT_STATUSES:
        return Outcome.RETRY, error
    return Outcome.REJECTED, error


def _excerpt(response: httpx.Response) -> str:
    """The start of the body, without reading the rest of a large one."""
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= EXCERPT_BYTES:
                break
    except httpx.HTTPError:  # the status is what counts; a broken body only loses the excerpt
        pass
    return data[:EXCERPT_BYTES].decode("utf-8", errors="replace")


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), clamped to
    0..MAX_RETRY_AFTER; ``None`` when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.replace(tzinfo=when.tzinfo or UTC).timestamp() - now
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
