"""Access keys in the catalog (``CatalogSession.keys``): their rows, secrets encrypted.

What a key may do and how its secret is sealed are the security layer's business
(:mod:`chute.security.keys`); this module only stores and finds rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from chute.catalog.records import StoredKey
from chute.catalog.schema import access_keys

_table = access_keys
_GET = sa.select(_table).where(_table.c.id == sa.bindparam("id"))


class KeySession:
    """Access key queries inside one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, key: StoredKey) -> bool:
        """Insert ``key``; ``False`` (and nothing written) if its id is taken."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(_table.insert().values(**_values(key)))
        except IntegrityError:
            return False
        return True

    def get(self, key_id: str) -> StoredKey | None:
        row = self.conn.execute(_GET, {"id": key_id}).mappings().first()
        return None if row is None else _key(row)

    def list(self) -> list[StoredKey]:
        """Every key, oldest first."""
        query = sa.select(_table).order_by(_table.c.created_at, _table.c.id)
        return [_key(row) for row in self.conn.execute(query).mappings()]

    def root(self) -> StoredKey | None:
        """The root key, if one was made."""
        query = sa.select(_table).where(_table.c.is_root).order_by(_table.c.created_at)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _key(row)

    def set_enabled(self, key_id: str, enabled: bool) -> bool:
        """Enable or disable a key; whether it exists."""
        done = self.conn.execute(
            _table.update().where(_table.c.id == key_id).values(enabled=enabled)
        )
        return bool(done.rowcount)

    def replace_secret(self, old_id: str, key: StoredKey) -> None:
        """Give the key ``old_id`` another id and secret (the root key, rotated)."""
        values = {"id": key.id, "secret": key.secret, "enabled": key.enabled}
        self.conn.execute(_table.update().where(_table.c.id == old_id).values(**values))

    def remove(self, key_id: str) -> bool:
        """Delete a key; whether it existed."""
        done = self.conn.execute(_table.delete().where(_table.c.id == key_id))
        return bool(done.rowcount)


def _values(key: StoredKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "secret": key.secret,
        "name": key.name,
        "grants": key.grants,
        "is_root": key.is_root,
        "enabled": key.enabled,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
    }


def _key(row: Any) -> StoredKey:
    expires_at: datetime | None = row["expires_at"]
    return StoredKey(
        id=row["id"],
        secret=bytes(row["secret"]),
        name=row["name"],
        grants=list(row["grants"]),
        is_root=bool(row["is_root"]),
        enabled=bool(row["enabled"]),
        created_at=row["created_at"],
        expires_at=expires_at,
    )
