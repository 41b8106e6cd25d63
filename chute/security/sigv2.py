"""AWS Signature Version 2 for S3: the ``Authorization: AWS KEY:SIGNATURE`` header and
presigned URLs (``AWSAccessKeyId``, ``Expires``, ``Signature``).

S3 deprecated it, yet current clients still make it by default: boto3's
``generate_presigned_url`` and ``aws s3 presign`` (AWS CLI v1) sign URLs with it unless
told ``signature_version="s3v4"``, and older tools sign whole requests with it. A URL
someone was handed must open, so Chute verifies it, as S3 still does for its older
buckets. It signs no payload hash: a body is covered only by a signed ``Content-MD5``,
which the front end checks anyway.

The string to sign (AWS's "Signing and authenticating REST requests")::

    VERB \\n Content-MD5 \\n Content-Type \\n Date-or-Expires \\n
    x-amz-* headers (lower case, sorted, "name:value\\n" each) + /bucket/key?subresources

Standard library only, like :mod:`chute.security.sigv4`; checked against botocore's own
signers (``HmacV1Auth`` and ``HmacV1QueryAuth``) in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import unquote

from chute.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from chute.security.sigv4 import (
    MAX_EXPIRES,
    MAX_SKEW,
    SignedRequest,
    iso8601,
    parse_http_date,
    parse_timestamp,
)

#: The ``Authorization`` scheme of a Version 2 signature.
SCHEME: Final = "AWS"
_QUERY_AUTH: Final = ("AWSAccessKeyId", "Signature", "Expires")
#: Query parameters that are part of the signed resource (S3's subresources and
#: response overrides); any other parameter is not signed.
SUBRESOURCES: Final = frozenset(
    {
        "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete",
        "inventory", "legal-hold", "lifecycle", "location", "logging", "metrics",
        "notification", "object-lock", "partNumber", "policy", "replication",
        "requestPayment", "response-cache-control", "response-content-disposition",
        "response-content-encoding", "response-content-language", "response-content-type",
        "response-expires", "restore", "retention", "select", "select-type",
        "storageClass", "tagging", "torrent", "uploadId", "uploads", "versionId",
        "versioning", "versions", "website",
    }
)  # fmt: skip
_BASE64_SHA1 = re.compile(r"[A-Za-z0-9+/]{27}=")


@dataclass(frozen=True)
class V2Authorization:
    """The Version 2 credentials a request carries, checked for form and time."""

    access_key: str
    #: The signature as sent: base64 of an HMAC-SHA1.
    signature: str
    presigned: bool
    #: What takes the date's place in the string to sign: the ``Date`` header (empty when
    #: ``x-amz-date`` is sent, which is signed among the ``x-amz-*`` headers), or a
    #: presigned URL's ``Expires``.
    date_line: str


def carries(request: SignedRequest) -> bool:
    """Whether ``request`` is signed with Version 2 (header or query)."""
    header = request.header("authorization")
    if header is not None and header.strip().partition(" ")[0] == SCHEME:
        return True
    return any(name in _query(request) for name in _QUERY_AUTH[:2])


def parse(request: SignedRequest, now: datetime) -> V2Authorization:
    """The Version 2 credentials of ``request`` (:func:`carries` said it has some):
    their form, and the clock against ``now`` (aware) — 15 minutes' skew for a signed
    header, the expiry of a presigned URL (a week from now at most, as for Version 4)."""
    header = request.header("authorization")
    query = _query(request)
    names = {part.partition("=")[0] for part in request.query.decode("latin-1").split("&")}
    if header is not None and names & {*_QUERY_AUTH, "X-Amz-Credential", "X-Amz-Signature"}:
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter,"
            " Signature query string parameter or the Authorization header should be specified"
        )
    if header is not None:
        return _from_header(request, header, now)
    return _from_query(query, now)


def _from_header(request: SignedRequest, header: str, now: datetime) -> V2Authorization:
    _, _, credentials = header.strip().partition(" ")
    access_key, colon, signature = credentials.strip().rpartition(":")
    if not (access_key and colon and signature):
        raise AuthorizationHeaderMalformed(
            "The authorization header is malformed; expecting 'AWS ACCESS_KEY_ID:SIGNATURE'."
        )
    amz_date = request.header("x-amz-date")
    sent = amz_date if amz_date is not None else request.header("date")
    moment = _http_date(sent)
    if moment is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if abs(now - moment) > MAX_SKEW:
        error = RequestTimeTooSkewed()
        error.details = {
            "RequestTime": sent or "",
            "ServerTime": iso8601(now),
            "MaxAllowedSkewMilliseconds": str(MAX_SKEW // timedelta(milliseconds=1)),
        }
        raise error
    date_line = "" if amz_date is not None else (sent or "")
    return V2Authorization(access_key, signature, presigned=False, date_line=date_line)


def _from_query(parameters: dict[str, list[str]], now: datetime) -> V2Authorization:
    missing = [name for name in _QUERY_AUTH if name not in parameters]
    if missing:
        raise AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId"
            " parameters"
        )
    repeated = [name for name in _QUERY_AUTH if len(parameters[name]) > 1]
    if repeated:  # as for Version 4: which of two would count is nobody's guess
        raise AuthorizationQueryParametersError(f"{repeated[0]} must be given only once")
    query = {name: values[0] for name, values in parameters.items()}
    raw_expires = query["Expires"]
    # ASCII digits only: str.isdigit() takes "²", which int() refuses.
    if not (raw_expires.isascii() and raw_expires.isdigit()):
        raise AuthorizationQueryParametersError("Expires must be a number of seconds")
    seconds = int(raw_expires)
    # Checked before it becomes a datetime, which a far-off time would overflow.
    if seconds - now.timestamp() > MAX_EXPIRES + MAX_SKEW.total_seconds():
        raise AuthorizationQueryParametersError(
            "Expires must be less than a week (in seconds); that is, the given Expires must"
            " be less than 604800 seconds in the future"
        )
    expires = datetime.fromtimestamp(seconds, UTC)
    if now > expires:
        error = AccessDenied("Request has expired")
        error.details = {"Expires": iso8601(expires), "ServerTime": iso8601(now)}
        raise error
    return V2Authorization(
        query["AWSAccessKeyId"], query["Signature"], presigned=True, date_line=raw_expires
    )


def verify(
    request: SignedRequest, auth: V2Authorization, secret_key: str, *, bucket: str | None = None
) -> None:
    """Check ``auth``'s signature is the one ``secret_key`` gives ``request``.
    ``bucket`` is the bucket a virtual-host style request named in its Host header: the
    signed resource starts with it."""
    string_to_sign = string_to_sign_of(request, auth, bucket=bucket)
    digest = hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    expected = base64.b64encode(digest).decode()
    if not (
        _BASE64_SHA1.fullmatch(auth.signature)
        and hmac.compare_digest(expected.encode(), auth.signature.encode())
    ):
        raise SignatureDoesNotMatch(string_to_sign=string_to_sign)


def string_to_sign_of(
    request: SignedRequest, auth: V2Authorization, *, bucket: str | None = None
) -> str:
    """The string the client signed, as AWS documents it."""
    lines = [
        request.method.upper(),
        (request.header("content-md5") or "").strip(),
        (request.header("content-type") or "").strip(),
        auth.date_line,
    ]
    return "\n".join(lines) + "\n" + _amz_headers(request) + _resource(request, bucket)


def _amz_headers(request: SignedRequest) -> str:
    values: dict[str, list[str]] = {}
    for name, value in request.headers:
        if name.startswith("x-amz-"):
            values.setdefault(name, []).append(value.strip())
    return "".join(f"{name}:{','.join(values[name])}\n" for name in sorted(values))


def _resource(request: SignedRequest, bucket: str | None) -> str:
    path = request.raw_path.decode("latin-1")
    resource = f"/{bucket}{path}" if bucket else path
    signed = []
    for part in request.query.decode("latin-1").split("&"):
        raw_name, equals, value = part.partition("=")
        # Decoded as the router decodes them (chute.api.s3.request.query_of): a
        # subresource spelt "%76ersionId" is versionId there, so it is signed as one.
        name = _form_decoded(raw_name)
        if name in SUBRESOURCES:
            signed.append((name, f"{name}={_form_decoded(value)}" if equals else name))
    if signed:
        signed.sort(key=lambda pair: pair[0])
        resource += "?" + "&".join(text for _, text in signed)
    return resource


def _form_decoded(text: str) -> str:
    return unquote(text.replace("+", " "))


def _query(request: SignedRequest) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in request.query.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if name in _QUERY_AUTH:
            # Not form-decoded: a "+" in a base64 signature is a plus, not a space.
            found.setdefault(name, []).append(unquote(value))
    return found


def _http_date(value: str | None) -> datetime | None:
    """``Date`` or ``x-amz-date``: an HTTP date, or the ISO 8601 form some clients send."""
    if not value:
        return None
    return parse_http_date(value) or parse_timestamp(value)
