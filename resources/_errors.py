"""Warehouse errors told without the data: which table or column, and what kind of problem.

A driver's message may quote a data cell (DuckDB ``Could not convert string 'abc' to DOUBLE``,
PostgreSQL ``invalid input syntax for type double precision: "abc"``), and SQLAlchemy's own text
adds the statement and every bound parameter (category lists, slice values, window bounds). None
of that may reach Dagster's event log. ``describe`` keeps only the kind of failure (from the
driver's exception class or SQLSTATE), the identifiers a missing-object message names (checked to
look like identifiers), the connection reason for connection failures (they quote no data) and
the exception's class. The full error stays in the warehouse's own log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# Names a missing-object message carries: DuckDB `Referenced column "x" not found`,
# `Table with name t does not exist`; PostgreSQL `column "x" does not exist`, `column s.x does
# not exist`, `relation "t" does not exist`, `schema "m" does not exist`.
_MISSING_NAME = re.compile(
    r'(?:column|relation|schema|Table with name|Schema with name)\s+"?([A-Za-z_][A-Za-z0-9_.]*)"?', re.IGNORECASE
)
_CAST_SOURCE = re.compile(r"when casting from source column ([A-Za-z_][A-Za-z0-9_]*)")  # DuckDB >= 1.1

# DuckDB's exception classes and PostgreSQL's SQLSTATE classes, by kind of problem.
_DUCKDB_KINDS = {
    "ConversionException": "type conversion",
    "OutOfRangeException": "type conversion",
    "InvalidInputException": "type conversion",
    "BinderException": "missing column or table",
    "CatalogException": "missing column or table",
    "PermissionException": "permission",
    "IOException": "connection",
    "ConnectionException": "connection",
    "OutOfMemoryException": "out of memory",
    "TransactionException": "concurrent transaction",
}
_PG_KINDS = {
    "22003": "value out of range",  # numeric value out of range: a cast or float arithmetic overflowed
    "22": "type conversion",  # data exception: invalid text representation, ...
    "42703": "missing column or table",  # undefined column
    "42P01": "missing column or table",  # undefined table
    "3F000": "missing column or table",  # invalid schema name
    "42501": "permission",  # insufficient privilege
    "28": "permission",  # invalid authorization (password)
    "08": "connection",
    "57P": "connection",  # server shut down
    "53": "out of memory",  # insufficient resources
    "40": "concurrent transaction",  # serialization failure, deadlock
}
_WHAT_TO_DO = {
    "type conversion": "a value cannot be converted to the column's type (e.g. text in a numeric feature); "
    "fix the table's type or its values",
    "value out of range": "a value is too large for the arithmetic or cast it went through (a float near "
    "1.8e308, whose sums overflow, or an integer beyond its type); check the column's extreme values",
    "missing column or table": "the spec names a table or column the warehouse lacks; check the spec",
    "permission": "the warehouse user lacks a privilege (or its login failed); grant it",
    "connection": "the warehouse could not be reached or opened; check that it runs and the URL",
    "out of memory": "the warehouse ran out of memory",
    "concurrent transaction": "a concurrent transaction conflicted; run again",
}


@dataclass(frozen=True)
class QueryFailure:
    """What went wrong, in words that quote no data. ``names``: the table/column it concerns."""

    kind: str
    cause: str  # the exception's class, e.g. "DataError (ConversionException)"
    names: tuple[str, ...] = ()
    reason: str = ""  # the driver's first line, for connection failures only

    def text(self, url: str) -> str:
        where = f" ({', '.join(self.names)})" if self.names else ""
        said = f": {self.reason}" if self.reason else ""
        hint = _WHAT_TO_DO.get(self.kind, "the warehouse's own log has the full error")
        return f"warehouse {url} failed a query: {self.kind}{where}{said}; {hint} [{self.cause}]"


def describe(error: BaseException, *, password: str | None, columns: Sequence[str] = ()) -> QueryFailure:
    """A ``QueryFailure`` for a SQLAlchemy or driver exception. ``columns``: the columns the query
    read, when the caller knows them (named when the driver does not say which one failed)."""
    orig = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    orig_name = type(orig).__name__
    cause = type(error).__name__ + (f" ({orig_name})" if orig is not error else "")
    message = str(orig) if orig is not None else ""
    kind = _kind(error, orig)
    names: tuple[str, ...] = ()
    reason = ""
    if kind == "missing column or table":
        names = tuple(dict.fromkeys(n for n in _MISSING_NAME.findall(message) if _IDENTIFIER.match(n)))
    elif kind in ("type conversion", "value out of range"):
        found = _CAST_SOURCE.search(message)
        if found and (not columns or found.group(1) in columns):
            names = (f"column {found.group(1)}",)
        elif columns:
            names = (f"one of the columns {', '.join(columns)}",)
    elif kind == "connection":
        reason = message.strip().splitlines()[0] if message.strip() else ""
        if password:
            reason = reason.replace(password, "***")
    return QueryFailure(kind, cause, names, reason)


def _kind(error: BaseException, orig: BaseException | None) -> str:
    name = type(orig).__name__
    for duck, kind in _DUCKDB_KINDS.items():
        if name == duck:
            return kind
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    if isinstance(code, str):
        for prefix, kind in sorted(_PG_KINDS.items(), key=lambda item: -len(item[0])):
            if code.startswith(prefix):
                return kind
    if isinstance(error, sa.exc.DataError):
        return "type conversion"
    if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError):
        return "connection"
    if isinstance(error, sa.exc.DBAPIError):
        return "query rejected"
    return "query could not be prepared"
