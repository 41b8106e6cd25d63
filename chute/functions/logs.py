"""Function logs: each invocation's log, kept in the catalog so that any process can
read it later (``GET /_/api/v1/functions/{name}/logs``, ``chute logs NAME``).

Where an invocation runs decides how its log gets there. A process with the catalog
(the API server: the Lambda API's synchronous Invoke, the JSON API's invoke) keeps it
as the invocation ends, through :meth:`FunctionLogs.keep`: one small write sharing a
transaction with the writes of the moment (group commit). A worker process holds no
catalog connection: its function step hands the log back with the attempt's result, and
the recorder writes it in the transaction that records the attempt. Either way it is
one row per invocation, never a write per line. Logs older than
``retention.function_logs_seconds`` are pruned with the rest of history.
"""

from __future__ import annotations

import logging

from chute.catalog import Catalog, FunctionLogEntry, NewFunctionLog
from chute.errors import ChuteError
from chute.functions.environment import InvocationResult

log = logging.getLogger(__name__)

#: Most logs one read returns.
MAX_PAGE = 1000


def log_entry(function: str, result: InvocationResult) -> NewFunctionLog:
    """The log of one invocation of ``function``, as the catalog keeps it."""
    # PostgreSQL's text holds no NUL character; a handler may well print one.
    text = "\n".join(result.log).replace("\x00", "\ufffd")
    return NewFunctionLog(function, result.request_id, result.log_stream, result.started_at, text)


class FunctionLogs:
    """Keeps invocation logs in the catalog and reads them back by function."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def keep(self, entry: NewFunctionLog) -> None:
        """Write one invocation's log. A log that cannot be written (the catalog is
        down) is dropped with a warning: it must not fail the invocation it tells of."""
        try:
            self.catalog.run_write(lambda session: session.function_logs.add([entry]))
        except ChuteError as exc:
            log.warning(
                "the log of %s request %s was not kept: %s", entry.function, entry.request_id, exc
            )

    def page(self, function: str, after: int = 0, limit: int = 100) -> list[FunctionLogEntry]:
        """Up to ``limit`` logs of ``function`` after cursor ``after``, oldest first."""
        with self.catalog.read() as session:
            return session.function_logs.after(function, after, min(limit, MAX_PAGE))
