"""AWS Signature Version 4: reading a request's credentials and checking its signature.

Framework-neutral, standard library only. A front end turns its request into a
:class:`SignedRequest`; :func:`parse` finds the credentials (an ``Authorization`` header
or a presigned URL's query parameters) and checks their form and the clock; the caller
looks up the secret key of ``auth.access_key``; :func:`verify` rebuilds the canonical
request the client signed (:mod:`chute.security.canonical`) and compares signatures. The
:class:`SigningKey` it returns checks the chunks of a streamed body
(:mod:`chute.security.chunked`).

The body is not read here: when ``x-amz-content-sha256`` states the body's SHA-256, the
caller compares it with what it computed while storing the body
(:meth:`Authorization.check_content_sha256`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import quote

from chute.errors import (
    AccessDenied,
    AuthError,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    HeadersNotSigned,
    InvalidArgument,
    MissingContentSHA256,
    NotImplementedFeature,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
    UnsupportedAuthorization,
    XAmzContentSHA256Mismatch,
)
from chute.security.canonical import (
    canonical_headers,
    canonical_query,
    canonical_uri,
    query_parameters,
)
from chute.security.payload import (
    EMPTY_SHA256,
    HEX_SHA256,
    UNSIGNED_PAYLOAD,
    PayloadKind,
    payload_kind,
)

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "MAX_EXPIRES",
    "MAX_SKEW",
    "UNSIGNED_PAYLOAD",
    "Authorization",
    "PayloadKind",
    "SignedRequest",
    "SigningKey",
    "canonical_request",
    "derive_key",
    "iso8601",
    "parse",
    "parse_http_date",
    "parse_timestamp",
    "payload_kind",
    "verify",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
#: Signature Version 4A (asymmetric, multi-region): recognised, not implemented.
ECDSA_ALGORITHM: Final = "AWS4-ECDSA-P256-SHA256"
#: How far a request's date may be from the server's clock.
MAX_SKEW: Final = timedelta(minutes=15)
#: The longest a presigned URL may live: a week, in seconds.
MAX_EXPIRES: Final = 604800
_TERMINAL: Final = "aws4_request"
_TIMESTAMP: Final = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
_QUERY_AUTH: Final = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
_QUERY_REQUIRED: Final = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_QUERY_PARAMETERS: Final = (*_QUERY_REQUIRED, "X-Amz-Security-Token")
_CREDENTIAL_FORM: Final = (
    'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)


@dataclass(frozen=True)
class SignedRequest:
    """What SigV4 covers of an HTTP request, as it arrived.

    ``raw_path`` is the path as sent, still percent-encoded, without the query;
    ``query`` the raw query string; ``headers`` every header in order, names in lower
    case, repeated names kept.
    """

    method: str
    raw_path: bytes
    query: bytes
    headers: Sequence[tuple[str, str]]

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any]) -> SignedRequest:
        """The request of an ASGI HTTP scope (header bytes read as Latin-1)."""
        raw_path = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        headers = [
            (name.decode("latin-1").lower(), value.decode("latin-1"))
            for name, value in scope["headers"]
        ]
        return cls(scope["method"], raw_path, scope.get("query_string", b""), headers)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (lower case), repeated values joined with ``,``;
        ``None`` if absent."""
        values = [value for sent, value in self.headers if sent == name]
        return ",".join(values) if values else None


@dataclass(frozen=True)
class Authorization:
    """The credentials a request carries, checked for form and time but not yet for
    signature."""

    access_key: str
    #: The credential scope's date, ``YYYYMMDD``.
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    #: The request's time (``x-amz-date``, ``Date`` or ``X-Amz-Date``), aware UTC.
    amz_date: datetime
    #: ``x-amz-content-sha256`` (``UNSIGNED-PAYLOAD`` for a presigned URL without it);
    #: ``None`` only for a service other than S3 whose client did not send it.
    payload_hash: str | None
    presigned: bool
    security_token: str | None = None
    #: A presigned URL's lifetime in seconds.
    expires: int | None = None

    @property
    def scope(self) -> str:
        """The credential scope: ``date/region/service/aws4_request``."""
        return f"{self.date}/{self.region}/{self.service}/{_TERMINAL}"

    @property
    def timestamp(self) -> str:
        """The request's time as signed: ``YYYYMMDDTHHMMSSZ``."""
        return self.amz_date.strftime(_TIMESTAMP)

    @property
    def payload(self) -> PayloadKind | None:
        """What the payload hash says of the body."""
        return None if self.payload_hash is None else payload_kind(self.payload_hash)

    def check_content_sha256(self, computed: str) -> None:
        """Raise ``XAmzContentSHA256Mismatch`` if the request stated its body's SHA-256 and
        ``computed`` (hex, of the body as received) is another."""
        stated = self.payload_hash
        if stated is not None and HEX_SHA256.fullmatch(stated) and stated.lower() != computed:
            error = XAmzContentSHA256Mismatch()
            error.details = {
                "ClientComputedContentSHA256": stated,
                "S3ComputedContentSHA256": computed,
            }
            raise error


@dataclass(frozen=True)
class SigningKey:
    """The key a verified request was signed with, and its signature: the seed from
    which the signatures of an aws-chunked body's chunks and trailer are chained."""

    key: bytes = field(repr=False)
    #: The request's time as signed, ``YYYYMMDDTHHMMSSZ``.
    timestamp: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous: str, chunk_sha256: str) -> str:
        """The signature of a chunk whose data has SHA-256 ``chunk_sha256`` (hex), after
        the chunk (or request) signed ``previous``."""
        lines = ["AWS4-HMAC-SHA256-PAYLOAD", self.timestamp, self.scope, previous]
        return self._sign("\n".join([*lines, EMPTY_SHA256, chunk_sha256]))

    def trailer_signature(self, previous: str, trailer_sha256: str) -> str:
        """The signature of the trailing headers, whose ``name:value\\n`` lines have
        SHA-256 ``trailer_sha256`` (hex), after the final chunk signed ``previous``."""
        lines = ["AWS4-HMAC-SHA256-TRAILER", self.timestamp, self.scope, previous]
        return self._sign("\n".join([*lines, trailer_sha256]))

    def _sign(self, string_to_sign: str) -> str:
        return hmac.new(self.key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=1024)
def derive_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The signing key of a secret for one day, region and service (kept: a key signs
    every request of its day, and deriving it costs four HMACs)."""
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, service, _TERMINAL):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


# --- reading the credentials ---------------------------------------------------------


def parse(request: SignedRequest, now: datetime) -> Authorization | None:
    """The credentials of ``request``, or ``None`` if it carries none (anonymous).

    Checks their form, that ``host`` and every ``x-amz-*`` header sent are signed, the
    payload hash, and the time against ``now`` (aware): 15 minutes' skew at most, a
    presigned URL's expiry. The signature itself is :func:`verify`'s.
    """
    header = request.header("authorization")
    query = _auth_parameters(request.query)
    if header is not None and any(name in query for name in _QUERY_AUTH):
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter,"
            " Signature query string parameter or the Authorization header should be specified"
        )
    if header is not None:
        auth = _from_header(request, header, now)
    elif any(name in query for name in _QUERY_AUTH):
        auth = _from_query(request, query, now)
    elif "AWSAccessKeyId" in query or "Signature" in query:
        raise UnsupportedAuthorization()
    else:
        return None
    _check_signed_headers(request, auth)
    return auth


def _from_header(request: SignedRequest, header: str, now: datetime) -> Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm == "AWS":
        raise UnsupportedAuthorization()
    if algorithm == ECDSA_ALGORITHM:
        raise NotImplementedFeature(f"{ECDSA_ALGORITHM} (Signature Version 4A) is not implemented")
    if algorithm != ALGORITHM:
        raise InvalidArgument("Unsupported Authorization Type")
    fields = _header_fields(rest)
    access_key, date, region, service = _credential(fields["Credential"], presigned=False)
    amz_date = _header_date(request)
    _check_credential_date(date, amz_date, presigned=False)
    if abs(now - amz_date) > MAX_SKEW:
        error = RequestTimeTooSkewed()
        error.details = {
            "RequestTime": iso8601(amz_date),
            "ServerTime": iso8601(now),
            "MaxAllowedSkewMilliseconds": str(MAX_SKEW // timedelta(milliseconds=1)),
        }
        raise error
    return Authorization(
        access_key=access_key,
        date=date,
        region=region,
        service=service,
        signed_headers=_signed_headers(fields["SignedHeaders"], presigned=False),
        signature=_signature(fields["Signature"], presigned=False),
        amz_date=amz_date,
        payload_hash=_header_payload_hash(request, service),
        presigned=False,
        security_token=request.header("x-amz-security-token"),
    )


def _header_fields(rest: str) -> dict[str, str]:
    pairs = [part.strip().partition("=") for part in rest.split(",")]
    fields = {name: value for name, _, value in pairs if value}
    if len(pairs) != 3 or sorted(fields) != ["Credential", "Signature", "SignedHeaders"]:
        raise _malformed(
            "the authorization header requires three components: Credential, SignedHeaders,"
            " and Signature.",
            presigned=False,
        )
    return fields


def _header_date(request: SignedRequest) -> datetime:
    amz_date = request.header("x-amz-date")
    if amz_date is not None:
        parsed = parse_timestamp(amz_date)
    else:
        parsed = parse_http_date(request.header("date"))
    if parsed is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    return parsed


def _header_payload_hash(request: SignedRequest, service: str) -> str | None:
    value = request.header("x-amz-content-sha256")
    if value is None:
        # S3 requires it (every SDK sends it); other services sign the body's hash.
        if service.startswith("s3"):
            raise MissingContentSHA256()
        return None
    payload_kind(value)
    return value


def _from_query(
    request: SignedRequest, query: Mapping[str, list[str]], now: datetime
) -> Authorization:
    params = _single_parameters(query)
    algorithm = params["X-Amz-Algorithm"]
    if algorithm == ECDSA_ALGORITHM:
        raise NotImplementedFeature(f"{ECDSA_ALGORITHM} (Signature Version 4A) is not implemented")
    if algorithm != ALGORITHM:
        raise AuthorizationQueryParametersError(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    access_key, date, region, service = _credential(params["X-Amz-Credential"], presigned=True)
    amz_date = parse_timestamp(params["X-Amz-Date"])
    if amz_date is None:
        raise AuthorizationQueryParametersError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    _check_credential_date(date, amz_date, presigned=True)
    expires = _expires(params["X-Amz-Expires"])
    _check_lifetime(amz_date, expires, now)
    payload_hash = request.header("x-amz-content-sha256")
    if payload_hash is None:
        payload_hash = UNSIGNED_PAYLOAD
    payload_kind(payload_hash)
    return Authorization(
        access_key=access_key,
        date=date,
        region=region,
        service=service,
        signed_headers=_signed_headers(params["X-Amz-SignedHeaders"], presigned=True),
        signature=_signature(params["X-Amz-Signature"], presigned=True),
        amz_date=amz_date,
        payload_hash=payload_hash,
        presigned=True,
        security_token=params.get("X-Amz-Security-Token"),
        expires=expires,
    )


def _check_lifetime(amz_date: datetime, expires: int, now: datetime) -> None:
    """A presigned URL is valid from its date (give or take the skew) until it expires."""
    try:
        expiry: datetime | None = amz_date + timedelta(seconds=expires)
    except OverflowError:  # dated near year 9999: it expires after any now
        expiry = None
    if amz_date - now > MAX_SKEW:
        error = AccessDenied("Request is not yet valid")
    elif expiry is not None and now > expiry:
        error = AccessDenied("Request has expired")
        error.details["X-Amz-Expires"] = str(expires)
    else:
        return
    if expiry is not None:
        error.details["Expires"] = iso8601(expiry)
    error.details["ServerTime"] = iso8601(now)
    raise error


def _auth_parameters(query: bytes) -> dict[str, list[str]]:
    """The query's SigV4 (and Signature Version 2) parameters, by name: all values."""
    found: dict[str, list[str]] = {}
    for raw_name, raw_value in query_parameters(query):
        name = raw_name.decode("utf-8", "replace")
        if name in _QUERY_PARAMETERS or name in ("AWSAccessKeyId", "Signature"):
            found.setdefault(name, []).append(raw_value.decode("utf-8", "replace"))
    return found


def _single_parameters(query: Mapping[str, list[str]]) -> dict[str, str]:
    if any(name not in query for name in _QUERY_REQUIRED):
        raise AuthorizationQueryParametersError(
            "Query-string authentication version 4 requires the X-Amz-Algorithm,"
            " X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and"
            " X-Amz-Expires parameters."
        )
    repeated = sorted(name for name, values in query.items() if len(values) > 1)
    if repeated:
        raise AuthorizationQueryParametersError(f"{repeated[0]} must be given only once")
    return {name: values[0] for name, values in query.items()}


def _expires(value: str) -> int:
    if value.startswith("-") and value[1:].isdigit():
        raise AuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
    if not (value.isascii() and value.isdigit()):
        raise AuthorizationQueryParametersError("X-Amz-Expires should be a number")
    expires = int(value)
    if expires > MAX_EXPIRES:
        raise AuthorizationQueryParametersError(
            f"X-Amz-Expires must be less than a week (in seconds) that is; {MAX_EXPIRES}"
        )
    if expires < 1:
        raise AuthorizationQueryParametersError("X-Amz-Expires must be at least 1 second")
    return expires


def _credential(value: str, *, presigned: bool) -> tuple[str, str, str, str]:
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not parts[0] or not re.fullmatch(r"[0-9]{8}", parts[1]) or not parts[2]:
        raise _malformed(_CREDENTIAL_FORM, presigned=presigned, credential=True)
    access_key, date, region, service, terminal = parts
    if terminal != _TERMINAL:
        raise _malformed(
            f'incorrect terminal "{terminal}". This endpoint uses "{_TERMINAL}".',
            presigned=presigned,
            credential=True,
        )
    return access_key, date, region, service


def _check_credential_date(date: str, amz_date: datetime, *, presigned: bool) -> None:
    if date != amz_date.strftime("%Y%m%d"):
        raise _malformed(
            "Invalid credential date. Date is not the same as X-Amz-Date.",
            presigned=presigned,
            credential=True,
        )


def _signed_headers(value: str, *, presigned: bool) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if not all(_HEADER_NAME.fullmatch(name) for name in names) or len(set(names)) < len(names):
        raise _malformed(
            "SignedHeaders must be distinct lower-case header names separated by ';'.",
            presigned=presigned,
        )
    if "host" not in names:
        raise _malformed("SignedHeaders must include host.", presigned=presigned)
    return names


def _signature(value: str, *, presigned: bool) -> str:
    if not HEX_SHA256.fullmatch(value):
        raise _malformed("the Signature must be 64 hexadecimal characters.", presigned=presigned)
    return value.lower()


def _check_signed_headers(request: SignedRequest, auth: Authorization) -> None:
    # An unsigned x-amz-* header (x-amz-copy-source, x-amz-acl, ...) could be added by
    # anyone on the way; S3 refuses them, except the payload hash, which is signed anyway.
    unsigned = {
        name
        for name, _ in request.headers
        if name.startswith("x-amz-")
        and name != "x-amz-content-sha256"
        and name not in auth.signed_headers
    }
    if unsigned:
        raise HeadersNotSigned(sorted(unsigned))


def _malformed(detail: str, *, presigned: bool, credential: bool = False) -> AuthError:
    if not presigned:
        return AuthorizationHeaderMalformed(f"The authorization header is malformed; {detail}")
    prefix = "Error parsing the X-Amz-Credential parameter; " if credential else ""
    return AuthorizationQueryParametersError(prefix + detail)


def iso8601(moment: datetime) -> str:
    """``moment`` as S3 writes times in error details: ``2026-01-31T12:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> datetime | None:
    """An ``x-amz-date`` timestamp (``YYYYMMDDTHHMMSSZ``), aware UTC; ``None`` if it is
    not one."""
    if not _AMZ_DATE.fullmatch(value):
        return None
    try:  # by hand: strptime costs more than the rest of parsing a request
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (``Date``), aware UTC; ``None`` if absent or not one."""
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # an offset pushing it past year 1 or 9999
        return None


# --- checking the signature ----------------------------------------------------------


def verify(
    request: SignedRequest,
    auth: Authorization,
    secret_key: str,
    *,
    region: str,
    service: str = "s3",
    body_sha256: str | None = None,
    double_encode: bool | None = None,
) -> SigningKey:
    """Check that ``auth``'s signature is the one ``secret_key`` gives ``request``, for
    this server's ``region`` and ``service``; the signing key and seed signature if so.

    ``double_encode`` chooses the canonical URI: S3's (the default for an ``s3*``
    service) or other services'. ``body_sha256`` is needed only when the client sent no
    ``x-amz-content-sha256`` (a service other than S3).
    """
    _check_scope(auth, region=region, service=service)
    payload_hash = auth.payload_hash or body_sha256
    if payload_hash is None:
        raise ValueError("the request states no payload hash: pass body_sha256")
    if double_encode is None:
        double_encode = not service.startswith("s3")
    canonical = canonical_request(request, auth, payload_hash, double_encode=double_encode)
    string_to_sign = "\n".join(
        [ALGORITHM, auth.timestamp, auth.scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = derive_key(secret_key, auth.date, auth.region, auth.service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), auth.signature.encode()):
        raise SignatureDoesNotMatch(string_to_sign=string_to_sign, canonical_request=canonical)
    return SigningKey(key, auth.timestamp, auth.scope, expected)


def canonical_request(
    request: SignedRequest, auth: Authorization, payload_hash: str, *, double_encode: bool
) -> str:
    """The canonical request the client signed, as AWS documents it."""
    exclude = b"X-Amz-Signature" if auth.presigned else None
    return "\n".join(
        [
            request.method.upper(),
            canonical_uri(request.raw_path, double_encode=double_encode),
            canonical_query(request.query, exclude=exclude),
            canonical_headers(request.headers, auth.signed_headers),
            ";".join(auth.signed_headers),
            payload_hash,
        ]
    )


def _check_scope(auth: Authorization, *, region: str, service: str) -> None:
    if auth.region != region:
        error = _malformed(
            f"the region '{auth.region}' is wrong; expecting '{region}'",
            presigned=auth.presigned,
            credential=True,
        )
        if isinstance(error, AuthorizationHeaderMalformed):
            error.region = region
        raise error
    if auth.service != service:
        raise _malformed(
            f'incorrect service "{auth.service}". This endpoint belongs to "{service}".',
            presigned=auth.presigned,
            credential=True,
        )
