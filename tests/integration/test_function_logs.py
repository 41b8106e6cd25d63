"""The catalog's function logs (SQLite and PostgreSQL): appended per invocation, read
by function from a cursor in id order, pruned by age without moving any cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chute.catalog import Catalog, NewFunctionLog

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entry(function: str, n: int, at: datetime = T0, text: str = "") -> NewFunctionLog:
    return NewFunctionLog(function, f"req-{n}", "2026/03/01/[$LATEST]abc", at, text or f"line {n}")


def add(catalog: Catalog, *entries: NewFunctionLog) -> None:
    catalog.run_write(lambda session: session.function_logs.add(entries))


def test_logs_are_read_by_function_in_order_from_a_cursor(catalog: Catalog) -> None:
    add(catalog, entry("a", 1), entry("b", 2), entry("a", 3))
    add(catalog, entry("a", 4, text="ünïcødé\ttabs\nand a second line"))
    with catalog.read() as session:
        first = session.function_logs.after("a", 0, 2)
        rest = session.function_logs.after("a", first[-1].id, 10)
        others = session.function_logs.after("b", 0, 10)
        none = session.function_logs.after("a", rest[-1].id, 10)
    assert [e.request_id for e in first] == ["req-1", "req-3"]
    assert [e.request_id for e in rest] == ["req-4"]
    assert rest[0].text == "ünïcødé\ttabs\nand a second line"
    assert rest[0].logged_at == T0
    assert rest[0].log_stream == "2026/03/01/[$LATEST]abc"
    assert [e.request_id for e in others] == ["req-2"]
    assert none == []


def test_pruning_removes_old_logs_in_batches(catalog: Catalog) -> None:
    old = T0 - timedelta(days=8)
    add(catalog, entry("a", 1, old), entry("b", 2, old), entry("a", 3, T0))
    cutoff = T0 - timedelta(days=7)
    assert catalog.run_write(lambda s: s.function_logs.prune(cutoff, 1)) == 1
    assert catalog.run_write(lambda s: s.function_logs.prune(cutoff, 10)) == 1
    assert catalog.run_write(lambda s: s.function_logs.prune(cutoff, 10)) == 0
    with catalog.read() as session:
        kept = session.function_logs.after("a", 0, 10) + session.function_logs.after("b", 0, 10)
    assert [e.request_id for e in kept] == ["req-3"]


def test_an_id_pruned_away_is_never_given_again(catalog: Catalog) -> None:
    """A follower's cursor past a pruned log must not skip a newer one."""
    add(catalog, entry("a", 1, T0 - timedelta(days=8)))
    with catalog.read() as session:
        (gone,) = session.function_logs.after("a", 0, 10)
    catalog.run_write(lambda s: s.function_logs.prune(T0, 10))
    add(catalog, entry("a", 2))
    with catalog.read() as session:
        (new,) = session.function_logs.after("a", 0, 10)
    assert new.id > gone.id
