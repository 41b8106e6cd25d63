"""Access keys: their descriptions (never their secrets, but once, on creation), and the
body that creates one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from chute.access import ANY_BUCKET, Access, Grant
from chute.api.rest.models.time import Timestamp

if TYPE_CHECKING:
    from chute.security.records import KeyInfo, NewKey

AccessName = Literal["read", "write", "admin"]


class GrantView(BaseModel):
    """Access to some buckets, and within them to keys under some prefixes."""

    access: list[AccessName] = Field(
        min_length=1, description="read: get and list; write: put and delete; admin: all."
    )
    buckets: list[str] = Field(
        default_factory=lambda: [ANY_BUCKET],
        description="Names, or '*' (none: a grant on queues only).",
    )
    prefixes: list[str] = Field(
        default_factory=lambda: [""], min_length=1, description="Key prefixes ('': every key)."
    )
    queues: list[str] = Field(
        default_factory=list,
        description="SQS queues (names, or '*') the access also applies to: read receives "
        "and deletes, write sends, admin manages.",
    )

    @model_validator(mode="after")
    def _grants_something(self) -> GrantView:
        if not self.buckets and not self.queues:
            raise ValueError("a grant names at least one bucket or queue")
        return self

    @classmethod
    def of(cls, grant: Grant) -> GrantView:
        access: list[AccessName] = [a.value for a in sorted(grant.access)]
        return cls(
            access=access,
            buckets=list(grant.buckets),
            prefixes=list(grant.prefixes),
            queues=list(grant.queues),
        )

    def to_grant(self) -> Grant:
        access = frozenset(Access(name) for name in self.access)
        return Grant(access, tuple(self.buckets), tuple(self.prefixes), tuple(self.queues))


class CreateKey(BaseModel):
    """A key to make: its name, what it may do, and (for temporary credentials) when it
    stops working."""

    name: str = Field(min_length=1, max_length=255)
    grants: list[GrantView] = Field(min_length=1)
    expires_at: AwareDatetime | None = None


class KeyView(BaseModel):
    """An access key, without its secret."""

    id: str
    name: str
    grants: list[GrantView]
    is_root: bool
    enabled: bool
    created_at: Timestamp
    expires_at: Timestamp | None = None

    @classmethod
    def of(cls, info: KeyInfo) -> KeyView:
        return cls.model_validate(_fields(info))


class NewKeyView(KeyView):
    """A key just made, with its secret: store it now, it is never shown again."""

    secret: str

    @classmethod
    def of_new(cls, new: NewKey) -> NewKeyView:
        return cls.model_validate({**_fields(new.info), "secret": new.secret})


class KeyList(BaseModel):
    """Every access key, oldest first."""

    keys: list[KeyView]


def _fields(info: KeyInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "name": info.name,
        "grants": [GrantView.of(grant) for grant in info.grants],
        "is_root": info.is_root,
        "enabled": info.enabled,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
    }
