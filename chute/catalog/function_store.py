"""Functions and layer versions made through the Lambda API (``CatalogSession.
functions``): their rows. Their zips are registered blobs, kept while a row points at
them (see :func:`chute.catalog.blobs._referenced`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from chute.catalog.records import StoredFunction, StoredLayerVersion
from chute.catalog.schema import functions, layer_versions


class FunctionStore:
    """Function and layer queries inside one transaction."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # --- functions --------------------------------------------------------------------

    def add(self, function: StoredFunction) -> bool:
        """Insert ``function``; ``False`` (nothing written) if its name is taken."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(functions.insert().values(**asdict(function)))
        except IntegrityError:
            return False
        return True

    def get(self, name: str) -> StoredFunction | None:
        query = sa.select(functions).where(functions.c.name == name)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else StoredFunction(**row)

    def every(self) -> list[StoredFunction]:
        """Every function, by name."""
        rows = self.conn.execute(sa.select(functions).order_by(functions.c.name)).mappings()
        return [StoredFunction(**row) for row in rows]

    def names(self) -> list[str]:
        query = sa.select(functions.c.name).order_by(functions.c.name)
        return list(self.conn.execute(query).scalars())

    def update(self, name: str, **values: Any) -> bool:
        """Change columns of function ``name``; whether it exists."""
        done = self.conn.execute(functions.update().where(functions.c.name == name).values(values))
        return bool(done.rowcount)

    def remove(self, name: str) -> StoredFunction | None:
        """Delete function ``name``; the row it had (``None``: there was none)."""
        found = self.get(name)
        if found is not None:
            self.conn.execute(functions.delete().where(functions.c.name == name))
        return found

    # --- layers -----------------------------------------------------------------------

    def add_layer_version(self, layer: StoredLayerVersion) -> bool:
        """Insert a layer version; ``False`` if that version number is taken (another
        process published at the same moment: try the next)."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(layer_versions.insert().values(**asdict(layer)))
        except IntegrityError:
            return False
        return True

    def latest_layer_version(self, name: str) -> int:
        """The highest version number of layer ``name`` (0: none yet)."""
        query = sa.select(sa.func.max(layer_versions.c.version)).where(
            layer_versions.c.name == name
        )
        return int(self.conn.execute(query).scalar() or 0)

    def layer_version(self, name: str, version: int) -> StoredLayerVersion | None:
        query = sa.select(layer_versions).where(
            layer_versions.c.name == name, layer_versions.c.version == version
        )
        row = self.conn.execute(query).mappings().first()
        return None if row is None else StoredLayerVersion(**row)

    def layer_versions(self, name: str | None = None) -> list[StoredLayerVersion]:
        """Every version of layer ``name`` (of every layer: ``None``), newest first."""
        query = sa.select(layer_versions)
        if name is not None:
            query = query.where(layer_versions.c.name == name)
        query = query.order_by(layer_versions.c.name, layer_versions.c.version.desc())
        return [StoredLayerVersion(**row) for row in self.conn.execute(query).mappings()]

    def remove_layer_version(self, name: str, version: int) -> StoredLayerVersion | None:
        found = self.layer_version(name, version)
        if found is not None:
            self.conn.execute(
                layer_versions.delete().where(
                    layer_versions.c.name == name, layer_versions.c.version == version
                )
            )
        return found
