"""What a principal may do: grants of read, write or admin access to buckets and prefixes.

An access key carries a list of :class:`Grant`; the request context of a request signed
with it carries them as :class:`Permissions`, and every service checks them before it
acts, so both front ends enforce the same rules. Deny by default: a context with no
grant may do nothing (anonymous requests only read buckets that are public-read).

This is the least-privilege basis; IAM-style policies later compile to the same checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chute.errors import AccessDenied, InvalidArgument

#: A grant's bucket pattern that matches every bucket.
ANY_BUCKET = "*"


class Access(StrEnum):
    """A kind of access.

    ``read``: get, head and list objects and their versions, see buckets.
    ``write``: put, copy onto, delete objects; multipart uploads.
    ``admin``: everything, on every bucket it covers: create and delete buckets, configure
    them (versioning, CORS, notifications, public read), manage access keys (when it
    covers every bucket), redrive and reprocess.
    """

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Grant:
    """Access to some buckets (names, or ``*``), and within them to keys under some
    prefixes (``""``: every key)."""

    access: frozenset[Access]
    buckets: tuple[str, ...] = (ANY_BUCKET,)
    prefixes: tuple[str, ...] = ("",)
    #: SQS queues (names, or ``*``) the access also applies to; none by default.
    queues: tuple[str, ...] = ()

    def covers(self, action: Access, bucket: str | None, key: str | None) -> bool:
        """Whether this grant allows ``action`` on ``bucket`` (``None``: every bucket)
        and ``key`` (``None``: the bucket itself, or every key when listing)."""
        if action not in self.access and Access.ADMIN not in self.access:
            return False
        if bucket is None:
            if ANY_BUCKET not in self.buckets:
                return False
        elif ANY_BUCKET not in self.buckets and bucket not in self.buckets:
            return False
        if key is None:
            return action is not Access.ADMIN or self.prefixes == ("",)
        return any(key.startswith(prefix) for prefix in self.prefixes)

    def sees(self, bucket: str) -> bool:
        """Whether this grant gives any access at all to ``bucket``."""
        return ANY_BUCKET in self.buckets or bucket in self.buckets

    def covers_queue(self, action: Access, queue: str | None) -> bool:
        """Whether this grant allows ``action`` on SQS queue ``queue`` (``None``:
        every queue)."""
        if action not in self.access and Access.ADMIN not in self.access:
            return False
        return ANY_BUCKET in self.queues or (queue is not None and queue in self.queues)

    def to_json(self) -> dict[str, Any]:
        found = {
            "access": sorted(a.value for a in self.access),
            "buckets": list(self.buckets),
            "prefixes": list(self.prefixes),
        }
        if self.queues:
            found["queues"] = list(self.queues)
        return found

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grant:
        try:
            access = frozenset(Access(a) for a in data["access"])
            # an empty list is a grant on queues only
            buckets = tuple(str(b) for b in data.get("buckets", [ANY_BUCKET]))
            prefixes = tuple(str(p) for p in data.get("prefixes") or [""])
            queues = tuple(str(q) for q in data.get("queues") or [])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a valid grant: {data!r} ({exc})") from None
        if not access:
            raise InvalidArgument("a grant needs at least one of read, write, admin")
        return cls(access, buckets, prefixes, queues)


@dataclass(frozen=True, slots=True)
class Permissions:
    """Everything a principal may do: the union of its grants."""

    grants: tuple[Grant, ...] = ()

    @classmethod
    def of(cls, grants: Iterable[Grant]) -> Permissions:
        return cls(tuple(grants))

    @property
    def is_admin(self) -> bool:
        """Whether these are full administrative rights (every bucket, every key)."""
        return self.allows(Access.ADMIN)

    def allows(self, action: Access, bucket: str | None = None, key: str | None = None) -> bool:
        return any(grant.covers(action, bucket, key) for grant in self.grants)

    def allows_listing(self, bucket: str, prefix: str) -> bool:
        """Whether a listing of ``bucket`` under ``prefix`` is allowed: every key it can
        show must be readable, so ``prefix`` must start with a granted prefix."""
        return self.allows(Access.READ, bucket, prefix)

    def sees(self, bucket: str) -> bool:
        """Whether any grant names ``bucket`` (ListBuckets shows only those)."""
        return any(grant.sees(bucket) for grant in self.grants)

    def allows_queue(self, action: Access, queue: str | None) -> bool:
        """Whether ``action`` is allowed on SQS queue ``queue`` (``None``: every queue,
        as listing all of them needs): full administrators may do anything."""
        return self.is_admin or any(grant.covers_queue(action, queue) for grant in self.grants)

    def require(self, action: Access, bucket: str | None = None, key: str | None = None) -> None:
        """Raise ``AccessDenied`` unless ``action`` is allowed."""
        if not self.allows(action, bucket, key):
            raise AccessDenied()

    def to_json(self) -> list[dict[str, Any]]:
        return [grant.to_json() for grant in self.grants]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> Permissions:
        return cls(tuple(Grant.from_json(item) for item in data))


#: Full rights: Chute's own work, the root key.
EVERYTHING = Permissions((Grant(frozenset({Access.ADMIN})),))
#: No rights at all: anonymous requests (public-read buckets aside).
NOTHING = Permissions()
