"""Short-lived session credentials, as AWS STS hands out: an access key id, a secret
and a session token, with a few grants and an expiry.

Chute gives them to what it runs on someone's behalf (a function's execution
environment), so code calling ``boto3.client("s3")`` with them reaches exactly what the
function may reach, and nothing once they expire. Nothing is stored: the session token
is the key id, secret, grants and expiry sealed with the key file's master key
(AES-GCM, bound to this purpose), so every process holding the key file can check them,
and no one without it can make or alter one. Clients send the token in
``X-Amz-Security-Token``, which SigV4 signs.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chute.access import Grant, Permissions
from chute.clock import Clock
from chute.errors import ChuteError, SecretUnreadable
from chute.security.master_key import MasterKey
from chute.security.records import Credentials

#: Session key ids start so, for people reading logs. What makes credentials a
#: session's is the token the request carries, never the id (a stored key may start so).
SESSION_PREFIX = "CKS"
#: What the master key binds session tokens to, so no sealed secret passes for one.
_PURPOSE = "chute-session-token"
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ID_LENGTH = 20


class InvalidToken(ChuteError):
    """The provided token is malformed or otherwise invalid."""

    code = "InvalidToken"
    status = 400


@dataclass(frozen=True, slots=True)
class SessionCredentials:
    """What a session holder is given (``AWS_ACCESS_KEY_ID`` and so on)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires_at: datetime

    def environment(self) -> dict[str, str]:
        """The variables the AWS SDKs read these credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


class SessionIssuer:
    """Issues session credentials, and opens their tokens to check a request."""

    def __init__(self, master: MasterKey, clock: Clock) -> None:
        self._master = master
        self.clock = clock

    def issue(self, grants: Sequence[Grant], lifetime: timedelta, label: str) -> SessionCredentials:
        """Credentials allowing ``grants`` (nothing if none) until ``lifetime`` from now;
        ``label`` names their holder (a function) as the request's principal."""
        key_id = SESSION_PREFIX + "".join(
            secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH - len(SESSION_PREFIX))
        )
        secret = secrets.token_urlsafe(30)
        expires_at = self.clock() + lifetime
        claims = {
            "k": key_id,
            "s": secret,
            "g": Permissions.of(grants).to_json(),
            "e": expires_at.timestamp(),
            "l": label,
        }
        sealed = self._master.seal(_PURPOSE, json.dumps(claims, separators=(",", ":")))
        token = base64.urlsafe_b64encode(sealed).decode()
        return SessionCredentials(key_id, secret, token, expires_at)

    def credentials(self, key_id: str, token: str) -> Credentials:
        """What a request signed with session key ``key_id`` and ``token`` may do;
        ``InvalidToken`` if the token was not issued here, was altered, or belongs to
        another key. Expiry is the caller's check (:meth:`Credentials.expired`)."""
        try:
            sealed = base64.urlsafe_b64decode(token.encode())
            claims = json.loads(self._master.unseal(_PURPOSE, sealed))
            if claims["k"] != key_id:
                raise ValueError("the token belongs to another key")
            permissions = Permissions.from_json(claims["g"])
            expires_at = datetime.fromtimestamp(float(claims["e"]), UTC)
            secret = str(claims["s"])
        except (SecretUnreadable, binascii.Error, ValueError, KeyError, TypeError):
            raise InvalidToken() from None
        return Credentials(key_id, secret, permissions, True, expires_at)
