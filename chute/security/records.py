"""What the key service hands out: descriptions of access keys (never their secrets),
a new key's secret (once), and what authentication needs to check a signature."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chute.access import Grant, Permissions


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An access key as listed: what it may do, whether it works. No secret."""

    id: str
    name: str
    grants: tuple[Grant, ...]
    #: The key Chute made for itself (full rights; it cannot be disabled or removed).
    is_root: bool
    enabled: bool
    created_at: datetime
    #: Temporary credentials stop working at this moment (``None``: never).
    expires_at: datetime | None = None

    @property
    def permissions(self) -> Permissions:
        return Permissions(self.grants)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created, with its secret: the only time the secret is shown."""

    info: KeyInfo
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What checking a request signed with a key needs: its secret, its rights, and
    whether it may be used at all."""

    key_id: str
    secret: str = field(repr=False)
    permissions: Permissions
    enabled: bool
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class RootOrigin(StrEnum):
    """Where the root key in use came from, as :meth:`KeyService.ensure_root` found it.

    ``stored``: made earlier, unchanged. ``generated``: made now, with a random secret
    (to be shown once). ``environment``: made now from ``CHUTE_ROOT_ACCESS_KEY`` and
    ``CHUTE_ROOT_SECRET_KEY``. ``rotated``: the stored root key replaced by those.
    """

    STORED = "stored"
    GENERATED = "generated"
    ENVIRONMENT = "environment"
    ROTATED = "rotated"


@dataclass(frozen=True, slots=True)
class RootKey:
    """The root key's credentials and where they came from."""

    key_id: str
    secret: str = field(repr=False)
    origin: RootOrigin
