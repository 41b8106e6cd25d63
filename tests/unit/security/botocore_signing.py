"""Requests signed by botocore's own signers, as the server receives them: the ground
truth the verifiers are checked against."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from chute.security.sigv4 import SignedRequest
from tests.unit.security.vectors import ACCESS_KEY, SECRET_KEY

ENDPOINT = "http://127.0.0.1:9000"
CREDENTIALS = Credentials(ACCESS_KEY, SECRET_KEY)


def on_the_wire(aws_request: AWSRequest) -> SignedRequest:
    """What the server receives of a botocore request: the URL as sent, its headers and
    the Host header the HTTP client adds."""
    prepared = aws_request.prepare()
    url = urlsplit(prepared.url)
    headers = [(name.lower(), str(value)) for name, value in prepared.headers.items()]
    if "host" not in {name for name, _ in headers}:
        headers.append(("host", url.netloc))
    return SignedRequest(prepared.method, url.path.encode(), url.query.encode(), headers)


def sign_v2_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Make botocore's Version 2 signers sign at ``moment`` (they read ``time.time``)."""
    monkeypatch.setattr("botocore.auth.time.time", moment.timestamp)
    date = format_datetime(moment, usegmt=True)
    monkeypatch.setattr(HmacV1Auth, "_get_date", lambda self: date, raising=True)


def v2_header_signed(method: str, url: str, headers: dict[str, str] | None = None) -> SignedRequest:
    """``method url`` signed with ``Authorization: AWS KEY:SIGNATURE``."""
    aws_request = AWSRequest(method, url, headers=headers or {})
    HmacV1Auth(CREDENTIALS).add_auth(aws_request)
    return on_the_wire(aws_request)


def v2_presigned(method: str, url: str, expires: int = 3600) -> SignedRequest:
    """A Version 2 presigned URL of ``method url``."""
    aws_request = AWSRequest(method, url)
    HmacV1QueryAuth(CREDENTIALS, expires=expires).add_auth(aws_request)
    return on_the_wire(aws_request)
