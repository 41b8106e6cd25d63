"""Access keys: made, listed, disabled and removed by admins; looked up by
authentication.

A key's secret is generated here, shown once (:class:`~chute.security.records.NewKey`)
and stored sealed under the master key (:mod:`chute.security.master_key`); nothing else
ever returns it. Only a principal with full admin rights manages keys.

Authentication looks keys up through :meth:`KeyService.credentials`, which keeps what it
read for ``cache_seconds``: a key disabled or removed in one process stops working there
at once, and in every other process sharing the catalog within ``cache_seconds``.
"""

from __future__ import annotations

import base64
import re
import secrets
import string
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Final

from chute.access import EVERYTHING, Grant, Permissions
from chute.catalog import Catalog, CatalogSession, StoredKey
from chute.clock import Clock, system_clock
from chute.context import RequestContext
from chute.errors import (
    AccessDenied,
    ConfigError,
    InvalidArgument,
    NoSuchAccessKey,
    SecretUnreadable,
)
from chute.names import check_bucket_name, check_prefix
from chute.security.master_key import MasterKey
from chute.security.records import Credentials, KeyInfo, NewKey, RootKey, RootOrigin

#: Generated key ids: this prefix and upper-case letters and digits, 20 in all (as AWS's).
KEY_ID_PREFIX: Final = "CK"
KEY_ID_LENGTH: Final = 20
#: Generated secrets: 30 random bytes in base64, 40 characters (as AWS's).
SECRET_BYTES: Final = 30
#: How long a looked-up key is trusted before it is read again, by default.
CACHE_SECONDS: Final = 5.0
ROOT_NAME: Final = "root"
MAX_NAME: Final = 255
_ID_ATTEMPTS: Final = 3
_KEY_ID_CHARS = string.ascii_uppercase + string.digits
#: Ids and secrets an operator may choose (the root key from the environment).
_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{3,128}")
_GIVEN_SECRET = re.compile(r"[!-~]{8,128}")


def new_key_id() -> str:
    """A random key id: ``CK`` and 18 upper-case letters or digits."""
    tail = KEY_ID_LENGTH - len(KEY_ID_PREFIX)
    return KEY_ID_PREFIX + "".join(secrets.choice(_KEY_ID_CHARS) for _ in range(tail))


def new_secret() -> str:
    """A random secret: 40 base64 characters (240 bits)."""
    return base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_given_credentials(key_id: str, secret: str) -> list[str]:
    """What is wrong with an id and secret an operator chose (empty: nothing)."""
    problems = []
    if not _GIVEN_ID.fullmatch(key_id):
        problems.append("an access key id is 3 to 128 letters, digits, '.', '_' or '-'")
    if not _GIVEN_SECRET.fullmatch(secret):
        problems.append("a secret key is 8 to 128 printable ASCII characters, no spaces")
    return problems


class KeyService:
    """Access keys in the catalog, secrets sealed under ``master``."""

    def __init__(
        self,
        catalog: Catalog,
        master: MasterKey,
        clock: Clock = system_clock,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.catalog = catalog
        self.master = master
        self.clock = clock
        self.cache_ttl = timedelta(seconds=cache_seconds)
        self._cache: dict[str, tuple[datetime, Credentials]] = {}
        self._lock = threading.Lock()

    # --- management (admins only) ----------------------------------------------------

    def create(
        self,
        context: RequestContext,
        name: str,
        grants: Sequence[Grant],
        expires_at: datetime | None = None,
    ) -> NewKey:
        """A new key with ``grants``; its secret is in the answer and nowhere else."""
        _require_admin(context)
        _check_new_key(name, grants, expires_at, self.clock())
        secret = new_secret()
        # 36**18 ids: a clash is a freak, but a clash must never overwrite a key.
        for _ in range(_ID_ATTEMPTS):
            key_id = new_key_id()
            key = StoredKey(
                id=key_id,
                secret=self.master.seal(key_id, secret),
                name=name,
                grants=Permissions.of(grants).to_json(),
                is_root=False,
                enabled=True,
                created_at=self.clock(),
                expires_at=expires_at,
            )
            if self.catalog.run_write(partial(_add, key)):
                return NewKey(_info(key), secret)
        raise RuntimeError("no free access key id found")

    def list(self, context: RequestContext) -> list[KeyInfo]:
        """Every key, oldest first."""
        _require_admin(context)
        with self.catalog.read() as session:
            return [_info(key) for key in session.keys.list()]

    def get(self, context: RequestContext, key_id: str) -> KeyInfo:
        _require_admin(context)
        with self.catalog.read() as session:
            return _info(_existing(session, key_id))

    def disable(self, context: RequestContext, key_id: str) -> KeyInfo:
        """Stop a key working (see the module's note on how soon); it can be enabled again."""
        return self._set_enabled(context, key_id, False)

    def enable(self, context: RequestContext, key_id: str) -> KeyInfo:
        return self._set_enabled(context, key_id, True)

    def remove(self, context: RequestContext, key_id: str) -> None:
        """Delete a key for good."""
        _require_admin(context)

        def work(session: CatalogSession) -> None:
            _not_root(_existing(session, key_id), "removed")
            session.keys.remove(key_id)

        self.catalog.run_write(work)
        self._forget(key_id)

    def _set_enabled(self, context: RequestContext, key_id: str, enabled: bool) -> KeyInfo:
        _require_admin(context)

        def work(session: CatalogSession) -> KeyInfo:
            key = _existing(session, key_id)
            _not_root(key, "disabled")
            session.keys.set_enabled(key_id, enabled)
            return _info(_existing(session, key_id))

        info = self.catalog.run_write(work)
        self._forget(key_id)
        return info

    # --- authentication ---------------------------------------------------------------

    def credentials(self, key_id: str) -> Credentials | None:
        """The secret and rights of ``key_id`` (``None``: no such key), read from the
        catalog at most once every ``cache_seconds``. Keys nobody has are not cached, so
        a key made in another process works at once."""
        now = self.clock()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self.cache_ttl:
            return cached[1]
        with self.catalog.read() as session:
            key = session.keys.get(key_id)
        if key is None:
            self._forget(key_id)
            return None
        found = Credentials(
            key.id,
            self.master.unseal(key.id, key.secret),
            _info(key).permissions,
            key.enabled,
            key.expires_at,
        )
        with self._lock:
            self._cache[key_id] = (now, found)
        return found

    def _forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)

    # --- the root key ---------------------------------------------------------------

    def ensure_root(self, given: tuple[str, str] | None = None) -> RootKey:
        """The root key, made if there is none: from ``given`` (id and secret, from the
        environment) or at random. A stored root key that differs from ``given`` is
        replaced by it (rotation). Write transactions run one at a time across every
        process, so servers starting together make one root key between them."""
        if given is not None:
            problems = check_given_credentials(*given)
            if problems:
                raise ConfigError(
                    [f"CHUTE_ROOT_ACCESS_KEY / CHUTE_ROOT_SECRET_KEY: {p}" for p in problems]
                )
        root = self.catalog.run_write(lambda session: self._ensure_root(session, given))
        self._forget(root.key_id)
        return root

    def _ensure_root(self, session: CatalogSession, given: tuple[str, str] | None) -> RootKey:
        stored = session.keys.root()
        if given is None:
            if stored is not None:
                return RootKey(
                    stored.id, self.master.unseal(stored.id, stored.secret), RootOrigin.STORED
                )
            key_id, secret, origin = new_key_id(), new_secret(), RootOrigin.GENERATED
        else:
            key_id, secret = given
            if stored is not None and self._holds(stored, key_id, secret):
                return RootKey(key_id, secret, RootOrigin.STORED)
            origin = RootOrigin.ENVIRONMENT if stored is None else RootOrigin.ROTATED
        key = StoredKey(
            id=key_id,
            secret=self.master.seal(key_id, secret),
            name=ROOT_NAME,
            grants=EVERYTHING.to_json(),
            is_root=True,
            enabled=True,
            created_at=self.clock(),
        )
        if stored is not None:
            if key_id != stored.id and session.keys.get(key_id) is not None:
                raise _taken(key_id)
            session.keys.replace_secret(stored.id, key)
        elif not session.keys.add(key):
            raise _taken(key_id)
        return RootKey(key_id, secret, origin)

    def _holds(self, stored: StoredKey, key_id: str, secret: str) -> bool:
        """Whether ``stored`` is ``key_id`` with ``secret`` (a secret sealed under another
        key file counts as different: it is sealed again under this one)."""
        if stored.id != key_id or not stored.enabled:
            return False
        try:
            opened = self.master.unseal(stored.id, stored.secret)
            return secrets.compare_digest(opened.encode(), secret.encode())
        except SecretUnreadable:
            return False


def _require_admin(context: RequestContext) -> None:
    if not context.permissions.is_admin:
        raise AccessDenied("managing access keys needs admin rights on every bucket")


def _check_new_key(
    name: str, grants: Sequence[Grant], expires_at: datetime | None, now: datetime
) -> None:
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidArgument(f"a key's name is 1 to {MAX_NAME} printable characters")
    if not grants:
        raise InvalidArgument("a key needs at least one grant (read, write or admin)")
    for grant in grants:
        for bucket in grant.buckets:
            if bucket != "*":
                check_bucket_name(bucket)
        for prefix in grant.prefixes:
            check_prefix(prefix)
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
        raise InvalidArgument("expires_at must be a moment in the future, with a time zone")


def _existing(session: CatalogSession, key_id: str) -> StoredKey:
    key = session.keys.get(key_id)
    if key is None:
        raise NoSuchAccessKey(f"no access key {key_id!r}")
    return key


def _not_root(key: StoredKey, what: str) -> None:
    if key.is_root:
        raise InvalidArgument(
            f"the root key cannot be {what}; rotate it with CHUTE_ROOT_ACCESS_KEY and"
            " CHUTE_ROOT_SECRET_KEY"
        )


def _taken(key_id: str) -> ConfigError:
    return ConfigError([f"CHUTE_ROOT_ACCESS_KEY: {key_id} is the id of another access key"])


def _add(key: StoredKey, session: CatalogSession) -> bool:
    return session.keys.add(key)


def _info(key: StoredKey) -> KeyInfo:
    grants = Permissions.from_json(key.grants).grants
    return KeyInfo(
        key.id, key.name, grants, key.is_root, key.enabled, key.created_at, key.expires_at
    )
