"""SQL both engines write their own way, as SQLAlchemy constructs."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class holds(FunctionElement[int]):
    """A boolean column as a bare condition (``WHERE is_latest``). SQLite uses a partial
    index only when the query repeats its predicate as written, and SQLAlchemy would
    write ``is_latest = 1`` there."""

    type = sa.Integer()
    inherit_cache = True


@compiles(holds)
def _holds(element: holds, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


class position(FunctionElement[int]):
    """Where ``needle`` first starts in ``text`` (from 1), 0 if nowhere: ``strpos`` on
    PostgreSQL, ``instr`` on SQLite."""

    type = sa.Integer()
    inherit_cache = True


@compiles(position, "postgresql")
def _strpos(element: position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


@compiles(position, "sqlite")
def _instr(element: position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"
