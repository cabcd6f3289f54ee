"""What the warehouse's concerns share: the ``WarehouseEngine`` protocol they are written against,
the relations of a spec's rows, and the catalog read.

``Warehouse`` is the one implementation over SQLAlchemy; a fake or a new engine implements the
protocol and backs the same concern classes (``resources/_profiles.py`` and its siblings).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import sqlalchemy as sa

from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources._sql import Relation, SqlBuilder, duckdb_columns_statement


@runtime_checkable
class WarehouseEngine(Protocol):
    """Transactions over one database, with its errors told once (``Warehouse.begin``)."""

    sql: SqlBuilder

    def begin(self, *, columns: Sequence[str] = ()) -> AbstractContextManager[sa.Connection]:
        """One transaction; database errors become WarehouseError (``columns``: what it reads)."""
        ...

    def begin_days(self, spec: MonitorSpec, *, columns: Sequence[str] = ()) -> AbstractContextManager[sa.Connection]:
        """One transaction whose days are cut at midnight in ``spec.partitions.timezone``."""
        ...

    def begin_tables(self) -> AbstractContextManager[sa.Connection]:
        """One transaction with the monitoring tables ensured, for reads and appends."""
        ...

    def writing(self, spec: MonitorSpec) -> AbstractContextManager[sa.Connection]:
        """One transaction that replaces rows of ``spec``, holding the monitor's write lock."""
        ...

    def query_error(self, error: BaseException, columns: Sequence[str] = ()) -> WarehouseError:
        """The WarehouseError for a driver exception raised outside ``begin``, quoting no data."""
        ...


def reference_relation(spec: MonitorSpec) -> Relation:
    ref = spec.reference
    if ref.window is not None:
        timestamp = ref.timestamp_column or spec.source.timestamp_column
        return Relation.of_days(spec.source.table, timestamp, ref.window.start, ref.window.end)
    assert ref.table is not None
    return Relation(ref.table, ref.timestamp_column)


def days_relation(spec: MonitorSpec, first: dt.date, last: dt.date) -> Relation:
    """Source rows of the days ``first..last`` inclusive."""
    return Relation.of_days(spec.source.table, spec.source.timestamp_column, first, last)


def table_columns(db: WarehouseEngine, dotted: str) -> dict[str, str]:
    """Columns of a table and their SQL types as text, in table order (empty when the
    table does not exist). DuckDB: ``information_schema`` spelling (``DOUBLE``, ``VARCHAR``);
    other engines: SQLAlchemy's reflected type as Great Expectations compares it
    (``DOUBLE PRECISION``, ``VARCHAR(20)``)."""
    *prefix, table = dotted.split(".")
    schema = prefix[-1] if prefix else None
    with db.begin() as conn:
        if not db.sql.is_duckdb:
            inspector = sa.inspect(conn)
            if not inspector.has_table(table, schema=schema):
                return {}
            return {c["name"]: str(c["type"]) for c in inspector.get_columns(table, schema=schema)}
        rows = conn.execute(*duckdb_columns_statement(dotted)).fetchall()
    return {str(name): str(kind) for name, kind in rows}
