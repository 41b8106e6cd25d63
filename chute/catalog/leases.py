"""Named leases for upkeep one process at a time should do (the sweep, history
retention), shared by every process on the catalog database.

A lease is taken by whoever finds it free or expired and held until it expires or its
holder drops it, so a holder that dies stops blocking the others once its lease runs out.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from chute.catalog.schema import maintenance_leases

_table = maintenance_leases


class LeaseSession:
    """Lease queries inside one transaction (``CatalogSession.leases``)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def take(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Take (or renew) lease ``name`` for ``holder`` until ``until``; whether it is
        ``holder``'s now. Run in a write transaction, so two takers never both win."""
        free = sa.or_(_table.c.holder == holder, _table.c.expires_at <= now)
        taken = self.conn.execute(
            _table.update()
            .where(_table.c.name == name, free)
            .values(holder=holder, expires_at=until)
        )
        if taken.rowcount:
            return True
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    _table.insert().values(name=name, holder=holder, expires_at=until)
                )
        except IntegrityError:
            return False  # someone else holds it
        return True

    def drop(self, name: str, holder: str) -> None:
        """Give lease ``name`` up, if ``holder`` has it."""
        self.conn.execute(_table.delete().where(_table.c.name == name, _table.c.holder == holder))
