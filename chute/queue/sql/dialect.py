"""What differs between the SQL engines the queue runs on: one :class:`Dialect`
subclass per engine (:mod:`~chute.queue.sql.sqlite`, :mod:`~chute.queue.sql.postgres`),
so the shared code (:mod:`~chute.queue.sql.store`) never asks which engine it is on.

A dialect is built once per engine and holds the hot path's statements, built for it
(:class:`~chute.queue.sql.statements.Statements`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import sqlalchemy as sa

from chute.queue.sql.statements import Statements


class Dialect(ABC):
    """One engine's ways: list parameters, claim locking, bulk step runs, notifying
    workers, and reading JSON fields."""

    #: SQLAlchemy's name of the engine (``conn.dialect.name``).
    name: str

    def __init__(self) -> None:
        #: The hot path's statements, built once for this engine.
        self.statements = Statements(self)

    @abstractmethod
    def ids_in(self, column: sa.Column[Any], name: str) -> sa.ColumnElement[bool]:
        """``column`` is one of the ids in the list parameter ``name``."""

    @abstractmethod
    def lock_claim(self, ready: sa.Select[Any]) -> sa.Select[Any]:
        """The selection of jobs to claim, locked as the engine needs so that workers
        claiming at once never take the same job."""

    @abstractmethod
    def insert_step_runs(self) -> sa.Insert:
        """The statement :meth:`step_run_params` fills: many step runs at once."""

    @abstractmethod
    def step_run_params(self, rows: list[dict[str, Any]], worker: str, outcome: str) -> Any:
        """Parameters of :meth:`insert_step_runs` for attempts of ``worker`` that ended
        with ``outcome`` and no error (``rows``: job_id, attempt, started_at, ended_at,
        report)."""

    @abstractmethod
    def notify(self, conn: sa.Connection) -> None:
        """Tell workers in other processes that jobs became ready, once this
        transaction commits (where the engine can)."""

    @abstractmethod
    def json_text(self, column: Any, path: tuple[str, ...]) -> sa.ColumnElement[Any]:
        """A nested JSON field as text, the same on every engine (``true``/``false``
        for booleans, digits for numbers)."""
