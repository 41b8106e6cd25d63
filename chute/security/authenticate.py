"""Who sent a request: an access key's SigV4 signature (header or presigned URL), its
Signature Version 2 (:mod:`chute.security.sigv2`, which clients still make for presigned
URLs by default), its secret as a bearer token, or nobody.

Both API front ends call :meth:`Authenticator.authenticate` with the request's ASGI
scope before anything else; it answers with an :class:`Identity` or raises the S3 error
a client should see (``InvalidAccessKeyId``, ``SignatureDoesNotMatch``,
``RequestTimeTooSkewed``, ``ExpiredToken``, ...). It never reads the body: the identity
says how the body is covered (:attr:`Identity.payload`), and the front end checks it as it
reads (the SHA-256 the client signed, or the chunk signatures of an aws-chunked body from
:attr:`Identity.signing_key`).

The bearer form, ``Authorization: Bearer KEY_ID:SECRET``, is for scripts and ``curl``
against the JSON API; it sends the secret itself, so use it over HTTPS only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from chute.access import NOTHING, Permissions
from chute.clock import Clock, system_clock
from chute.context import ANONYMOUS, RequestContext, new_request_id
from chute.errors import (
    AuthorizationHeaderMalformed,
    ChuteError,
    ExpiredToken,
    InvalidAccessKeyId,
    SecretUnreadable,
    SignatureDoesNotMatch,
)
from chute.names import bucket_of_host
from chute.security import sigv2
from chute.security.records import Credentials
from chute.security.sessions import SessionIssuer
from chute.security.sigv4 import (
    Authorization,
    PayloadKind,
    SignedRequest,
    SigningKey,
    parse,
    verify,
)

log = logging.getLogger(__name__)

#: The scheme of the bearer form of the ``Authorization`` header.
BEARER = "Bearer"
#: The service SigV4 credentials are scoped to, for both front ends: one signer (an S3
#: SDK's, ``chute``'s) works for the S3 API and the JSON API alike.
SERVICE = "s3"


class AuthMethod(StrEnum):
    """How a request proved who sent it."""

    #: It did not: no credentials at all.
    ANONYMOUS = "anonymous"
    #: A SigV4 ``Authorization`` header.
    SIGNED = "signed"
    #: A presigned URL: SigV4 in the query string.
    PRESIGNED = "presigned"
    #: Signature Version 2: ``Authorization: AWS KEY:SIGNATURE``.
    SIGNED_V2 = "signed-v2"
    #: A Signature Version 2 presigned URL (``AWSAccessKeyId``, ``Expires``, ``Signature``).
    PRESIGNED_V2 = "presigned-v2"
    #: ``Authorization: Bearer KEY_ID:SECRET``.
    BEARER = "bearer"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent a request, what they may do, and how the body is to be checked."""

    #: The key id, or ``anonymous``.
    principal: str
    permissions: Permissions
    method: AuthMethod
    #: The access key the request was authenticated with (``None``: anonymous).
    access_key: str | None = None
    #: How the body is covered: ``UNSIGNED`` unless a SigV4 signature covers it.
    payload: PayloadKind = PayloadKind.UNSIGNED
    #: The body's SHA-256 (lower-case hex) the signature covers, when ``payload`` is
    #: ``SIGNED_HEX``: compare it with the body's once read.
    content_sha256: str | None = None
    #: The signing key and seed signature of a SigV4 request, from which the signatures
    #: of an aws-chunked body's chunks and trailer are checked.
    signing_key: SigningKey | None = None
    #: The SigV4 credentials as parsed (``None`` for anonymous and bearer requests).
    authorization: Authorization | None = None

    @property
    def anonymous(self) -> bool:
        return self.method is AuthMethod.ANONYMOUS

    def context(self, source_ip: str, request_id: str | None = None) -> RequestContext:
        """The request context service calls made for this request carry."""
        return RequestContext(
            self.principal,
            source_ip,
            request_id or new_request_id(),
            self.permissions,
            self.access_key,
        )


#: The identity of a request without credentials: it may do nothing (public-read buckets
#: aside, which the object service allows itself).
NOBODY = Identity(ANONYMOUS, NOTHING, AuthMethod.ANONYMOUS)


class CredentialSource(Protocol):
    """Where the authenticator finds keys (:class:`chute.security.keys.KeyService`)."""

    def credentials(self, key_id: str) -> Credentials | None: ...


class Authenticator:
    """Checks the credentials requests carry against the keys ``keys`` knows."""

    def __init__(
        self,
        keys: CredentialSource,
        region: str,
        clock: Clock = system_clock,
        *,
        domain: str | None = None,
        sessions: SessionIssuer | None = None,
    ) -> None:
        self.keys = keys
        self.region = region
        self.clock = clock
        #: ``s3.domain``: a Version 2 signature of a virtual-host style request signs
        #: the bucket its Host header names.
        self.domain = domain
        #: Opens session tokens (``X-Amz-Security-Token``); ``None``: no sessions.
        self.sessions = sessions

    def authenticate(
        self,
        scope: Mapping[str, Any],
        service: str = SERVICE,
        body: bytes | None = None,
    ) -> Identity:
        """The identity of the ASGI HTTP request ``scope`` (its method, raw path, query
        string and headers) signed for ``service`` (``s3``, ``lambda``, ``sqs``); raises
        the error to answer if its credentials do not hold. Services other than S3 sign
        the hash of the ``body`` without sending it: theirs front ends read it first.

        Blocking (a key not looked up in the last few seconds is read from the catalog):
        front ends call it in a worker thread."""
        return self.authenticate_request(SignedRequest.from_scope(scope), service, body)

    def authenticate_request(
        self, request: SignedRequest, service: str = SERVICE, body: bytes | None = None
    ) -> Identity:
        """As :meth:`authenticate`, for a request already in SigV4's terms."""
        header = request.header("authorization")
        if header is not None and header.strip().partition(" ")[0].lower() == "bearer":
            return self._bearer(header)
        now = self.clock()
        if sigv2.carries(request):
            return self._version_2(request, now)
        auth = parse(request, now)
        if auth is None:
            return NOBODY
        credentials = self._signer(auth)
        body_sha256 = hashlib.sha256(body).hexdigest() if body is not None else None
        signing_key = verify(
            request,
            auth,
            credentials.secret,
            region=self.region,
            service=service,
            body_sha256=body_sha256,
        )
        self._check_usable(credentials)
        payload = auth.payload or PayloadKind.UNSIGNED
        sha256 = None
        if payload is PayloadKind.SIGNED_HEX and auth.payload_hash is not None:
            sha256 = auth.payload_hash.lower()
        return Identity(
            principal=credentials.key_id,
            permissions=credentials.permissions,
            method=AuthMethod.PRESIGNED if auth.presigned else AuthMethod.SIGNED,
            access_key=credentials.key_id,
            payload=payload,
            content_sha256=sha256,
            signing_key=signing_key,
            authorization=auth,
        )

    def _version_2(self, request: SignedRequest, now: datetime) -> Identity:
        auth = sigv2.parse(request, now)
        credentials = self._lookup(auth.access_key)
        bucket = bucket_of_host(request.header("host") or "", self.domain)
        sigv2.verify(request, auth, credentials.secret, bucket=bucket)
        self._check_usable(credentials)
        return Identity(
            principal=credentials.key_id,
            permissions=credentials.permissions,
            method=AuthMethod.PRESIGNED_V2 if auth.presigned else AuthMethod.SIGNED_V2,
            access_key=credentials.key_id,
        )

    def _bearer(self, header: str) -> Identity:
        _, _, token = header.strip().partition(" ")
        key_id, colon, secret = token.strip().partition(":")
        if not (key_id and colon and secret):
            raise AuthorizationHeaderMalformed(
                f"The authorization header is malformed; expecting '{BEARER} KEY_ID:SECRET'."
            )
        credentials = self._lookup(key_id)
        if not hmac.compare_digest(credentials.secret.encode(), secret.encode()):
            raise SignatureDoesNotMatch(
                "The secret key you provided does not match the access key's."
            )
        self._check_usable(credentials)
        return Identity(
            principal=credentials.key_id,
            permissions=credentials.permissions,
            method=AuthMethod.BEARER,
            access_key=credentials.key_id,
        )

    def _signer(self, auth: Authorization) -> Credentials:
        """The credentials of the key that signed: a session's when the request carries
        a session token (the token says what it may do), else a stored key's. A session
        key without its token is no stored key: unknown."""
        if auth.security_token and self.sessions is not None:
            return self.sessions.credentials(auth.access_key, auth.security_token)
        return self._lookup(auth.access_key)

    def _lookup(self, key_id: str) -> Credentials:
        try:
            credentials = self.keys.credentials(key_id)
        except SecretUnreadable as exc:
            # The operator's problem (a wrong key file), not the client's to read about.
            log.error("%s", exc.message)
            raise ChuteError("the server cannot check this access key; see its log") from None
        if credentials is None:
            raise InvalidAccessKeyId()
        return credentials

    def _check_usable(self, credentials: Credentials) -> None:
        # Told only to who proved they hold the secret: nobody else learns a key's state.
        if not credentials.enabled:
            raise InvalidAccessKeyId("The access key you provided is disabled.")
        if credentials.expired(self.clock()):
            raise ExpiredToken()
