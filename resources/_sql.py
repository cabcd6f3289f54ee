"""SQL that profiles rows inside the warehouse.

Identifiers come from a validated spec and are quoted again here with the engine's own quoting;
every value (dates, bin ranges, category lists) is a bound parameter.

Engines:

* DuckDB: per-column ``GROUP BY`` queries joined by ``UNION ALL``, two statements in one
  transaction. ``cells_statement`` groups each numeric column by its histogram cell (rows,
  non-NULL values, sum, min, max, ``var_pop`` per cell), and Python merges the cells into the
  column's scalars; ``keys_statement`` counts the rows, the model versions and each categorical
  column's values (top-K and NULL returned). At 10M rows x 21 numeric + 5 categorical columns
  this took 4.9 CPU s against 13.4 for the earlier single ``SELECT`` with a ``histogram`` /
  ``histogram_exact`` map aggregate per column. (A plain ``histogram(x)`` is never used: DuckDB
  2.0 rewrites it into a materialized copy of all projected rows, gigabytes at 10M rows.)
* PostgreSQL: three scans in one transaction, each planned in parallel where PostgreSQL 15 can
  (``_run_postgres``). ``pg_cells_statement`` turns each row into one key (column, cell) per
  numeric column with ``unnest`` and counts them in one plain ``GROUP BY``, which parallel
  workers pre-aggregate; ``pg_scalar_statement`` takes the scalars of the raw values in a plain
  aggregate; ``pg_keys_statement`` counts categories and model versions. A column whose min or
  max shows a non-finite value is redone over its finite values (``pg_finite_statement``).
  Measured at 1M rows x 21 numeric + 5 categorical columns, EXPLAIN ANALYZE and backend CPU
  seconds (JIT off; serial unless said; load average 2-5 on 2 cores):

  - before: a fenced (``OFFSET 0``) scalar query with the finite test and cell per value, 2.5-3.7
    CPU s, and one ``GROUPING SETS`` count of every cell, 3.1-4.4 CPU s (serial: PostgreSQL 15
    has no partial aggregation for grouping sets); 8.2 s wall together;
  - the 21 cell expressions alone cost 1.5 CPU s in one ``sum()`` per column (0.3 s for a bare
    scan): with the outer cells decided by two comparisons (``overflow_start``) and no finite test,
    1.0 s;
  - ``unnest`` of the keys plus a ``count(*)`` per key: 4.0-4.5 CPU s, but 2.4 s wall with 2
    workers; adding the values and ``count/sum/min/max/var_pop`` per cell (the DuckDB form, no
    scalar pass) 6.3-6.9 CPU s; ``CROSS JOIN LATERAL unnest(keys, values)`` (a function scan)
    10.1 s; categorical columns in the same ``unnest`` +2.2 s;
  - raw scalars (count, min, max, ``avg`` and ``var_pop`` sharing one transition state) 0.75 CPU
    s, with the two tail sums as ``sum(CASE ...)`` 1.7, as ``sum() FILTER (...)`` 1.4 (0.9 s
    wall in parallel); tail sums as aggregates of a ``GROUPING SETS`` query cost 5 s (each set
    advances each aggregate);
  - categories: ``GROUPING SETS`` over the top-K values 0.73 s, the ``unnest`` form 1.6 CPU s;
  - chosen: 4.1 s wall against 8.2 s for the former pair, counts identical.
* Other SQLAlchemy warehouses: two scans. One ``SELECT`` of scalars, then the histogram counts
  by a ``GROUP BY`` over a ``CROSS JOIN LATERAL (VALUES ...)`` that unpivots each row into one
  (column, cell) pair per profiled column. (Per-column scans suit a column store; PostgreSQL
  reads whole rows, so each would read the table again.)

A layout column is read from the warehouse column ``source_column(name)`` names: itself, or for a
probability column's fine score histogram (``__p:<score>``, ``monitoring_assets.core.profile``)
the score column, profiled a second time in the same pass on its own ``[0, 1)`` cells.

Reference bin edges (``reference_ranges``): no holistic quantile. The warehouse returns the two
order statistics each edge interpolates (DuckDB: bounded heaps ``min(x, m)`` / ``max(x, m)`` in
one pass after a ``count(*)``; others: finite counts, then ``percentile_disc`` at the ranks), and
Python interpolates as ``np.quantile`` does, so both engines return numpy's edges to the bit.

Both produce the same numbers: bins are computed by the same double-precision expression
``1 + least(greatest(floor((x - lo) / w), -1), n_bins)`` with ``lo`` and ``w`` bound from Python
(PostgreSQL evaluates it only inside ``[lo, overflow_start)``, where it gives the same cell),
and the tail sums are the sums of the values in cell 0 and ``n_bins + 1``: DuckDB's per-cell
sums, PostgreSQL's ``sum(x) FILTER (WHERE x < lo)`` and ``x >= overflow_start`` in its scalar
``SELECT``, other engines' ``sum(CASE WHEN cell = 0 THEN x END)``. Means and variances agree to
rounding (DuckDB's are merged from the cells).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import struct
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from monitoring_assets.core.profile import (
    CategoricalBins,
    CategoricalProfile,
    ColumnProfile,
    NumericBins,
    NumericProfile,
    Profile,
    ProfileLayout,
    QuantileRanks,
    source_column,
)
from monitoring_assets.errors import ProfileError

DAY = "day__"  # alias of the per-day grouping key; cannot collide with a quoted user column
# Column indexes, in the rows of a profile's count queries, of the row count and the model versions.
ROWS, VERSIONS = -2, -1


@dataclass(frozen=True)
class Relation:
    """Rows to profile: a table, optionally restricted to ``start <= timestamp < end``."""

    table: str
    timestamp_column: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    @classmethod
    def of_days(cls, table: str, timestamp_column: str, first: dt.date, last: dt.date) -> Relation:
        """Rows of the days ``first..last`` inclusive: the half-open window of naive midnights
        [first, last + 1 day), which ``begin_days`` reads in ``partitions.timezone`` for aware
        timestamps. Every day window of the product is built here."""
        start = dt.datetime.combine(first, dt.time())
        return cls(table, timestamp_column, start, dt.datetime.combine(last, dt.time()) + dt.timedelta(days=1))


class SqlBuilder:
    """Quoting and dialect-specific expressions for one engine."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._preparer = dialect.identifier_preparer

    @property
    def is_duckdb(self) -> bool:
        return self.dialect.name == "duckdb"

    def col(self, name: str) -> str:
        return self._preparer.quote_identifier(name)

    def table(self, dotted: str) -> str:
        return ".".join(self._preparer.quote_identifier(part) for part in dotted.split("."))

    def finite(self, expr: str) -> str:
        if self.is_duckdb:
            return f"isfinite({expr})"
        if self.dialect.name == "postgresql":
            # No isfinite(float8) there, but NaN sorts above Infinity, so two comparisons exclude
            # NaN and both infinities (and are NULL for NULL): 0.3-0.6 s less than NOT IN at 1M
            # rows x 21 columns.
            return f"({expr} > CAST('-Infinity' AS DOUBLE PRECISION) AND {expr} < CAST('Infinity' AS DOUBLE PRECISION))"
        # NaN = NaN is true in PostgreSQL-like engines, so NOT IN excludes it.
        return (
            f"{expr} NOT IN (CAST('NaN' AS DOUBLE PRECISION), CAST('Infinity' AS DOUBLE PRECISION), "
            "CAST('-Infinity' AS DOUBLE PRECISION))"
        )

    def window_clauses(self, rel: Relation, params: dict[str, Any], alias: str = "") -> list[str]:
        """``start <= timestamp < end`` of ``rel`` as conditions on table ``alias`` (none without
        a timestamp column or bounds), the bounds bound as ``w_start`` and ``w_end``."""
        if not rel.timestamp_column:
            return []
        ts = f"{alias}.{self.col(rel.timestamp_column)}" if alias else self.col(rel.timestamp_column)
        clauses = []
        if rel.start is not None:
            clauses.append(f"{ts} >= :w_start")
            params["w_start"] = rel.start
        if rel.end is not None:
            clauses.append(f"{ts} < :w_end")
            params["w_end"] = rel.end
        return clauses

    def where(self, rel: Relation, params: dict[str, Any]) -> str:
        clauses = self.window_clauses(rel, params)
        return f" WHERE {' AND '.join(clauses)}" if clauses else ""

    def no_rows_statement(self, table: str) -> sa.TextClause:
        """A query of ``table`` that reads no row: its result names the columns on every engine
        (duckdb-engine's reflection queries pg_catalog tables DuckDB lacks)."""
        return sa.text(f"SELECT * FROM {self.table(table)} WHERE 1 = 0")

    def count_statement(self, rel: Relation) -> tuple[sa.TextClause, dict[str, Any]]:
        """Rows of ``rel``."""
        params: dict[str, Any] = {}
        return sa.text(f"SELECT count(*) FROM {self.table(rel.table)}{self.where(rel, params)}"), params

    def set_day_timezone(self, conn: sa.Connection, timezone: str) -> None:
        """Cut days at midnight in ``timezone`` on this connection (an IANA name the spec checked,
        bound as a value). The session time zone is what both engines use to take the date of a
        time-zone-aware timestamp (``CAST(ts AS DATE)``) and to compare it with a naive bound
        (``ts >= :w_start``), so every day expression and window of this module, ``_labels_sql``
        and the warehouse agree; naive timestamps are untouched, cut at their own midnight.
        DuckDB: ``SET SESSION TimeZone`` lasts for the connection, not the database (the
        warehouse opens one connection per transaction); PostgreSQL: ``set_config(..., true)``
        lasts for the transaction. Other engines keep their session's time zone."""
        if self.is_duckdb:
            conn.execute(sa.text("SET SESSION TimeZone = :tz"), {"tz": timezone})
        elif self.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT set_config('TimeZone', :tz, true)"), {"tz": timezone})


def as_date(value: object) -> dt.date | None:
    """The calendar date of a value a driver returns for a day: a date as is, a datetime's own
    date (an aware one's in its own offset, which the session time zone set), None for NULL."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):  # before date: a datetime is a date too
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"expected a date or datetime from the warehouse, got {type(value).__name__}")


def _num(x: object) -> float:
    return math.nan if x is None else float(x)  # type: ignore[arg-type]


def numeric_exprs(
    sql: SqlBuilder, i: int, name: str, bins: NumericBins, params: dict[str, Any]
) -> tuple[str, str, str]:
    """Column ``i``'s raw value, its finite value (NULL otherwise) and its histogram cell under
    ``bins`` (the binning contract's formula, ``monitoring_assets.core.profile``), binding the bins
    as ``lo{i}``, ``w{i}`` and ``nb{i}``."""
    raw = f"CAST({sql.col(source_column(name))} AS DOUBLE PRECISION)"
    finite = f"CASE WHEN {sql.finite(raw)} THEN {raw} END"
    params[f"lo{i}"], params[f"w{i}"], params[f"nb{i}"] = bins.lo, bins.width, bins.n_bins
    # least/greatest skip NULLs in both engines, so guard the whole cell with the CASE.
    cell = (
        f"CASE WHEN {sql.finite(raw)} THEN CAST(least(greatest(floor(({raw} - CAST(:lo{i} AS DOUBLE PRECISION)) "
        f"/ CAST(:w{i} AS DOUBLE PRECISION)), -1), :nb{i}) + 1 AS INTEGER) END"
    )
    return raw, finite, cell


@dataclass(frozen=True)
class ProfileQuery:
    """Profile ``relation`` under ``layout``; optionally one profile per calendar day."""

    sql: SqlBuilder
    layout: ProfileLayout
    model_version_column: str | None = None
    by_day: bool = False

    def _day(self, rel: Relation) -> str:
        if not rel.timestamp_column:
            raise ProfileError("per-day profiles need a timestamp column")
        return f"CAST({self.sql.col(rel.timestamp_column)} AS DATE)"

    def _numeric_exprs(self, i: int, name: str, bins: NumericBins, params: dict[str, Any]) -> tuple[str, str, str]:
        return numeric_exprs(self.sql, i, name, bins, params)

    def _inner(self, rel: Relation, params: dict[str, Any]) -> str:
        q = self.sql
        cols: list[str] = []
        if self.by_day:
            cols.append(f"{self._day(rel)} AS {DAY}")
        for i, (name, bins) in enumerate(self.layout.numeric.items()):
            raw, finite, cell = self._numeric_exprs(i, name, bins, params)
            cols += [f"{raw} AS r{i}", f"{finite} AS f{i}", f"{cell} AS h{i}"]
        for j, name in enumerate(self.layout.categorical):
            cols.append(f"CAST({q.col(name)} AS VARCHAR) AS c{j}")
        if self.model_version_column:
            cols.append(f"CAST({q.col(self.model_version_column)} AS VARCHAR) AS mv")
        return f"SELECT {', '.join(cols)} FROM {q.table(rel.table)}{q.where(rel, params)}"

    def _grouped(self, rel: Relation, params: dict[str, Any], *, col: int, columns: str, key: str, aggs: str) -> str:
        """One ``UNION ALL`` branch: ``SELECT col, [day,] key, aggs`` grouped by (day and) key,
        over the rows of ``rel`` projected to ``columns``."""
        q = self.sql
        day = f"{self._day(rel)} AS {DAY}, " if self.by_day else ""
        keys = f"s.{DAY}, " if self.by_day else ""
        return (
            f"SELECT {col} AS col, {keys}{key} AS k, {aggs} FROM "
            f"(SELECT {day}{columns} FROM {q.table(rel.table)}{q.where(rel, params)}) AS s GROUP BY {keys}k"
        )

    def cells_statement(self, rel: Relation) -> tuple[sa.TextClause, dict[str, Any]]:
        """DuckDB: per numeric column, (day and) cell key ``floor((x - lo) / width)``, the rows,
        non-NULL values and the sum, min, max and population variance of the values (key NULL:
        NULL or not finite; the other keys' values are all finite).

        One ``GROUP BY`` per column on its cell, each a scan of its own: at 10M rows x 21 columns
        they took 4.5 CPU s against 9.8 for one scan with a ``histogram(cell, boundaries)`` map
        aggregate and two tail ``CASE`` sums per column (DuckDB groups ~1,000 small integers
        almost for free; the map aggregate and the CASEs were most of the cost). Every scalar of
        a column is a merge of its groups (``_numeric_from_cells``), the tail sums are the sums of
        cells 0 and ``n_bins + 1``. Keys beyond the bin range are distinct groups (a few more rows
        for a day's tails: 33,679 against 20,945 rows at 10M x 21 here)."""
        params: dict[str, Any] = {}
        branches = []
        for i, (name, bins) in enumerate(self.layout.numeric.items()):
            raw = f"CAST({self.sql.col(source_column(name))} AS DOUBLE PRECISION)"
            params[f"lo{i}"], params[f"w{i}"] = bins.lo, bins.width
            # The unclipped floor: least/greatest cost DuckDB ~1.6 of 5.8 CPU s here (10M rows x
            # 21 columns), so Python clips the keys and merges the cells they share. Only finite
            # values get a key, so every aggregate of a keyed group is over finite values.
            key = (
                f"CASE WHEN {self.sql.finite(raw)} THEN floor(({raw} - CAST(:lo{i} AS DOUBLE PRECISION)) "
                f"/ CAST(:w{i} AS DOUBLE PRECISION)) END"
            )
            branches.append(
                self._grouped(
                    rel,
                    params,
                    col=i,
                    columns=f"{raw} AS r, {key} AS h",
                    key="s.h",
                    aggs="count(*) AS n, count(s.r) AS nn, sum(s.r) AS s, min(s.r) AS lo, max(s.r) AS hi, "
                    "var_pop(s.r) AS v",
                )
            )
        return sa.text(" UNION ALL ".join(branches)), params

    def keys_statement(self, rel: Relation) -> tuple[sa.TextClause, dict[str, Any]]:
        """DuckDB: the rows (column ``ROWS``), the rows per model version (``VERSIONS``) and per
        value of each categorical column (its index), and per day when grouped by day.

        Only the top-K categories and NULL come back; ``other`` is what is left of the rows. The
        values are grouped before they are compared with the category list: at 10M rows x 5
        columns that took 0.13 s, a ``CASE WHEN c IN (...)`` per row 2-3 s. The price is a hash
        table of a column's distinct values (spilled under the memory limit)."""
        q = self.sql
        params: dict[str, Any] = {}

        def counts(col: int, column: str | None) -> str:
            value = f"CAST({q.col(column)} AS VARCHAR)" if column else "CAST(NULL AS VARCHAR)"
            return self._grouped(rel, params, col=col, columns=f"{value} AS v", key="s.v", aggs="count(*)")

        branches = [counts(ROWS, None)]
        if self.model_version_column:
            branches.append(counts(VERSIONS, self.model_version_column))
        offset = len(self.layout.numeric)
        for j, (name, cbins) in enumerate(self.layout.categorical.items()):
            params[f"catlist{j}"] = list(cbins.categories)  # one DuckDB list value
            grouped = counts(offset + j, name)
            branches.append(f"SELECT * FROM ({grouped}) AS g WHERE g.k IS NULL OR list_contains(:catlist{j}, g.k)")
        return sa.text(" UNION ALL ".join(branches)), params

    def _top_k(self, j: int) -> str:
        return f"CASE WHEN s.c{j} IN :cats{j} THEN s.c{j} END"

    def _bind_categories(self, stmt: sa.TextClause, params: dict[str, Any]) -> sa.TextClause:
        for j, bins in enumerate(self.layout.categorical.values()):
            params[f"cats{j}"] = list(bins.categories)  # expanded into IN (...)
        names = [f"cats{j}" for j in range(len(self.layout.categorical)) if f":cats{j} " in stmt.text + " "]
        return stmt.bindparams(*(sa.bindparam(n, expanding=True) for n in names)) if names else stmt

    def scalar_statement(self, rel: Relation) -> tuple[sa.TextClause, dict[str, Any]]:
        params: dict[str, Any] = {}
        inner = self._inner(rel, params)
        aggs = ["count(*) AS n_rows"]
        if self.by_day:
            aggs.insert(0, f"s.{DAY}")
        for i, bins in enumerate(self.layout.numeric.values()):
            aggs += [
                f"count(s.r{i})",
                f"count(s.f{i})",
                f"min(s.f{i})",
                f"max(s.f{i})",
                f"avg(s.f{i})",
                f"var_pop(s.f{i})",
                # Tail sums pick values by the histogram's own cell, so a value is summed exactly
                # when it is counted in the underflow (0) / overflow (n_bins + 1) cell. CASE, not
                # FILTER (WHERE ...): in DuckDB 2.0 FILTER doubled the CPU time of the whole profile
                # query (20 columns), the CASE form adds about a fifth.
                f"sum(CASE WHEN s.h{i} = 0 THEN s.f{i} END)",
                f"sum(CASE WHEN s.h{i} = :ovf{i} THEN s.f{i} END)",
            ]
            params[f"ovf{i}"] = bins.n_bins + 1
        aggs += [f"count(s.c{j})" for j in range(len(self.layout.categorical))]
        group = f" GROUP BY s.{DAY}" if self.by_day else ""
        stmt = sa.text(f"SELECT {', '.join(aggs)} FROM ({inner}) AS s{group}")
        return self._bind_categories(stmt, params), params

    def unpivot_statement(self, rel: Relation) -> tuple[sa.TextClause, dict[str, Any]]:
        """Histogram counts as rows (column index, cell, category) for engines without maps."""
        params: dict[str, Any] = {}
        inner = self._inner(rel, params)
        rows = [f"({i}, s.h{i}, CAST(NULL AS VARCHAR))" for i in range(len(self.layout.numeric))]
        offset = len(self.layout.numeric)
        rows += [
            f"({offset + j}, CAST(NULL AS INTEGER), {self._top_k(j)})" for j in range(len(self.layout.categorical))
        ]
        if self.model_version_column:
            rows.append("(-1, CAST(NULL AS INTEGER), s.mv)")
        day = f"s.{DAY}, " if self.by_day else ""
        stmt = sa.text(
            f"SELECT {day}k.col, k.cell, k.val, count(*) AS n FROM ({inner}) AS s "
            f"CROSS JOIN LATERAL (VALUES {', '.join(rows)}) AS k(col, cell, val) "
            f"WHERE k.cell IS NOT NULL OR k.val IS NOT NULL GROUP BY {day}k.col, k.cell, k.val"
        )
        return self._bind_categories(stmt, params), params

    def run(self, conn: sa.Connection, rel: Relation) -> dict[dt.date | None, Profile]:
        """Execute and assemble profiles, keyed by day (``None`` when not grouped by day)."""
        if self.sql.is_duckdb:
            return self._run_grouped(conn, rel)
        if self.sql.dialect.name == "postgresql":
            return self._run_postgres(conn, rel)
        stmt, params = self.scalar_statement(rel)
        scalar_rows = conn.execute(stmt, params).fetchall()
        maps: dict[tuple[dt.date | None, int], dict[Any, int]] = {}
        stmt, params = self.unpivot_statement(rel)
        for row in conn.execute(stmt, params):
            day, (col, cell, val, n) = (row[0], row[1:]) if self.by_day else (None, row)
            key = cell if cell is not None else val
            maps.setdefault((day, col), {})[key] = int(n)
        out: dict[dt.date | None, Profile] = {}
        for row in scalar_rows:
            values = list(row)
            day = as_date(values.pop(0)) if self.by_day else None
            if self.by_day and day is None:
                continue  # rows without a timestamp belong to no day
            out[day] = self._assemble(day, values, maps)
        return out

    def _run_grouped(self, conn: sa.Connection, rel: Relation) -> dict[dt.date | None, Profile]:
        """DuckDB: the profiles from ``keys_statement`` and ``cells_statement`` (one transaction,
        so both read the same rows). The cells (about 21,000 rows a day at 21 columns) come back
        as numpy columns (``fetch_columns``) and are merged for all days of a column at once: row
        by row through SQLAlchemy, reading them cost three times the query."""
        keys: dict[tuple[dt.date | None, int], dict[Any, int]] = {}
        for day, col, (key, n) in self._grouped_rows(conn, self.keys_statement(rel)):
            keys.setdefault((day, col), {})[key] = int(n)
        days: list[dt.date | None] = [d for d, col in keys if col == ROWS] if self.by_day else [None]
        n_rows = [keys.get((day, ROWS), {}).get(None, 0) for day in days]
        cells = fetch_columns(conn, *self.cells_statement(rel))
        numeric = _numeric_from_cells(self.layout.numeric, days, n_rows, cells, by_day=self.by_day)
        out: dict[dt.date | None, Profile] = {}
        offset = len(self.layout.numeric)
        for d, day in enumerate(days):
            columns: dict[str, ColumnProfile] = {name: numeric[name][d] for name in self.layout.numeric}
            for j, (name, cbins) in enumerate(self.layout.categorical.items()):
                found = keys.get((day, offset + j), {})
                columns[name] = _top_k_profile(cbins, found, n_rows[d], found.get(None, 0))
            versions = {str(k): v for k, v in keys.get((day, VERSIONS), {}).items() if k is not None}
            out[day] = Profile(n_rows[d], columns, versions)
        return out

    def _grouped_rows(
        self, conn: sa.Connection, statement: tuple[sa.TextClause, dict[str, Any]]
    ) -> Iterator[tuple[dt.date | None, int, tuple[Any, ...]]]:
        """(day, column index, the other values) of each row of a ``_grouped`` statement."""
        for row in conn.execute(*statement):
            if not self.by_day:
                yield None, row[0], tuple(row[1:])
            elif (day := as_date(row[1])) is not None:  # rows without a timestamp belong to no day
                yield day, row[0], tuple(row[2:])

    # PostgreSQL: three scans (``_run_postgres``).

    def _pg_value(self, name: str) -> str:
        return f"CAST({self.sql.col(source_column(name))} AS DOUBLE PRECISION)"

    def _pg_tails(self, i: int, bins: NumericBins, params: dict[str, Any]) -> tuple[str, str]:
        """Column ``i``'s bound ``lo`` and first overflow value: a finite value is in cell 0 when
        below the one, in cell ``n_bins + 1`` when at or above the other (``overflow_start``)."""
        params[f"lo{i}"], params[f"top{i}"] = bins.lo, overflow_start(bins)
        return f"CAST(:lo{i} AS DOUBLE PRECISION)", f"CAST(:top{i} AS DOUBLE PRECISION)"

    def _pg_day(self, rel: Relation) -> tuple[str, str]:
        """(The day as a select-list item, the day as a grouping key) when grouped by day."""
        return (f"{self._day(rel)} AS {DAY}, ", f"s.{DAY}, ") if self.by_day else ("", "")

    def cell_offsets(self) -> list[int]:
        """Where each numeric column's cells start in ``pg_cells_statement``'s keys."""
        starts, at = [], 0
        for bins in self.layout.numeric.values():
            starts.append(at)
            at += bins.n_cells
        return starts

    def pg_cells_statement(self, rel: Relation) -> tuple[sa.TextClause, dict[str, Any]]:
        """PostgreSQL: rows per (day and) key, the key ``cell_offsets()[i] + cell`` of column ``i``.

        One scan: ``unnest`` turns each row into one key per numeric column, and one plain
        ``GROUP BY`` counts them, which PostgreSQL aggregates in parallel workers (partial
        aggregation); ``GROUPING SETS`` (a hash table per column) is serial in PostgreSQL 15.

        The cell takes two comparisons for the outer cells and the histogram's own arithmetic
        only inside ``[lo, top)``: ``x < lo`` is cell 0 and ``x >= top`` cell ``n_bins + 1``
        exactly when ``floor((x - lo) / w)`` says so (``overflow_start``). That puts -Infinity
        in cell 0, +Infinity and NaN in cell ``n_bins + 1`` and NULL nowhere; ``_run_postgres``
        takes the non-finite values out again when a column has any."""
        params: dict[str, Any] = {}
        keys = []
        for i, ((name, bins), start) in enumerate(zip(self.layout.numeric.items(), self.cell_offsets(), strict=True)):
            x = self._pg_value(name)
            lo, top = self._pg_tails(i, bins, params)
            params[f"w{i}"] = bins.width
            params[f"k{i}_0"], params[f"k{i}_1"], params[f"k{i}_top"] = start, start + 1, start + bins.n_bins + 1
            keys.append(
                f"CASE WHEN {x} < {lo} THEN CAST(:k{i}_0 AS DOUBLE PRECISION) "
                f"WHEN {x} >= {top} THEN CAST(:k{i}_top AS DOUBLE PRECISION) "
                f"ELSE CAST(:k{i}_1 AS DOUBLE PRECISION) + floor(({x} - {lo}) / CAST(:w{i} AS DOUBLE PRECISION)) END"
            )
        day, key = self._pg_day(rel)
        q = self.sql
        stmt = (
            f"SELECT {key}s.k, count(*) FROM (SELECT {day}unnest(ARRAY[{', '.join(keys)}]) AS k "
            f"FROM {q.table(rel.table)}{q.where(rel, params)}) AS s GROUP BY {key}s.k"
        )
        return sa.text(stmt), params

    def pg_scalar_statement(self, rel: Relation) -> tuple[sa.TextClause, dict[str, Any]]:
        """PostgreSQL: per (day): the rows; per numeric column its non-NULL values, min, max, mean,
        population variance and the sums of its two outer cells; per categorical column its
        non-NULL values. Over the raw values: a column with a non-finite value shows one in its
        min or max, and ``pg_finite_statement`` redoes it (``avg`` and ``var_pop`` share one
        transition state)."""
        q = self.sql
        params: dict[str, Any] = {}
        aggs = [f"{self._day(rel)} AS {DAY}"] if self.by_day else []
        aggs.append("count(*)")
        for i, (name, bins) in enumerate(self.layout.numeric.items()):
            x = self._pg_value(name)
            lo, top = self._pg_tails(i, bins, params)
            aggs += [f"count({x})", f"min({x})", f"max({x})", f"avg({x})", f"var_pop({x})"]
            # FILTER, not CASE: 1.4 against 1.7 CPU s at 1M rows x 21 columns.
            aggs += [f"sum({x}) FILTER (WHERE {x} < {lo})", f"sum({x}) FILTER (WHERE {x} >= {top})"]
        aggs += [f"count({q.col(name)})" for name in self.layout.categorical]
        group = f" GROUP BY {DAY}" if self.by_day else ""
        return sa.text(f"SELECT {', '.join(aggs)} FROM {q.table(rel.table)}{q.where(rel, params)}{group}"), params

    def pg_finite_statement(self, rel: Relation, columns: Sequence[int]) -> tuple[sa.TextClause, dict[str, Any]]:
        """PostgreSQL: ``pg_scalar_statement``'s numeric aggregates of ``columns`` (indexes) over
        their finite values, and each column's -Infinity values (the non-finite values of cell 0)."""
        q = self.sql
        params: dict[str, Any] = {}
        numeric = list(self.layout.numeric.items())
        aggs = [f"{self._day(rel)} AS {DAY}"] if self.by_day else []
        for i in columns:
            name, bins = numeric[i]
            x = self._pg_value(name)
            f = f"CASE WHEN {q.finite(x)} THEN {x} END"
            lo, top = self._pg_tails(i, bins, params)
            aggs += [f"count({f})", f"min({f})", f"max({f})", f"avg({f})", f"var_pop({f})"]
            aggs += [f"sum(CASE WHEN {f} < {lo} THEN {f} END)", f"sum(CASE WHEN {f} >= {top} THEN {f} END)"]
            aggs.append(f"count(CASE WHEN {x} = CAST('-Infinity' AS DOUBLE PRECISION) THEN 1 END)")
        group = f" GROUP BY {DAY}" if self.by_day else ""
        return sa.text(f"SELECT {', '.join(aggs)} FROM {q.table(rel.table)}{q.where(rel, params)}{group}"), params

    def pg_keys_statement(self, rel: Relation) -> tuple[sa.TextClause, dict[str, Any]]:
        """PostgreSQL: rows per (day,) column index and value of each categorical column's top-K
        values (other values and NULL: NULL) and of the model versions (column ``VERSIONS``).

        One day: one ``GROUPING SETS`` query, a set per column (serial in PostgreSQL 15, and
        0.7 s at 1M rows x 6 columns against 1.6 CPU s for the ``unnest`` form). Per day: the
        ``pg_cells_statement`` form, because the planner, which takes the day of a timestamp for
        as many values as the timestamp has, sorts grouping sets by day rather than hash them
        (4.2 s against 2.6 s). Both return (day,) column index, value, rows."""
        q = self.sql
        params: dict[str, Any] = {}
        index = [len(self.layout.numeric) + j for j in range(len(self.layout.categorical))]
        values = [self._top_k_of(j, q.col(name)) for j, name in enumerate(self.layout.categorical)]
        if self.model_version_column:
            index.append(VERSIONS)
            values.append(f"CAST({q.col(self.model_version_column)} AS VARCHAR)")
        source = f"{q.table(rel.table)}{q.where(rel, params)}"
        day, key = self._pg_day(rel)
        if self.by_day:
            stmt = (
                f"SELECT {key}s.j, s.v, count(*) FROM (SELECT {day}unnest(ARRAY[{', '.join(map(str, index))}]) AS j, "
                f"unnest(ARRAY[{', '.join(values)}]) AS v FROM {source}) AS s GROUP BY {key}s.j, s.v"
            )
            return self._bind_categories(sa.text(stmt), params), params
        # A set groups by one key and reports the others as NULL: its rows name the one key that
        # is not NULL; a row whose keys are all NULL counts that set's NULL and other values.
        keys = [f"s.k{n}" for n in range(len(values))]
        which = " ".join(f"WHEN {k} IS NOT NULL THEN {col}" for k, col in zip(keys, index, strict=True))
        stmt = (
            f"SELECT CASE {which} END, COALESCE({', '.join(keys)}), count(*) "
            f"FROM (SELECT {', '.join(f'{v} AS k{n}' for n, v in enumerate(values))} FROM {source}) AS s "
            f"GROUP BY GROUPING SETS ({', '.join(keys)})"
        )
        return self._bind_categories(sa.text(stmt), params), params

    def _top_k_of(self, j: int, column: str) -> str:
        value = f"CAST({column} AS VARCHAR)"
        return f"CASE WHEN {value} IN :cats{j} THEN {value} END"

    def _pg_rows(
        self, conn: sa.Connection, statement: tuple[sa.TextClause, dict[str, Any]]
    ) -> Iterator[tuple[Any, ...]]:
        """(day, the other values) of each row, without the rows of no day when grouped by day."""
        for row in conn.execute(*statement):
            if not self.by_day:
                yield (None, *row)
            elif (day := as_date(row[0])) is not None:  # rows without a timestamp belong to no day
                yield (day, *row[1:])

    def _pg_histograms(self, conn: sa.Connection, rel: Relation) -> dict[tuple[dt.date | None, int], np.ndarray]:
        """Each (day and) numeric column's cell counts from ``pg_cells_statement``."""
        numeric = list(self.layout.numeric.values())
        hists: dict[tuple[dt.date | None, int], np.ndarray] = {}
        if not numeric:
            return hists
        # The planner costs gathering the unnested keys as if they were the scanned rows, so it
        # sends them all to the leader to group, in one process; at the cost of gathering a row it
        # groups them in each worker first.
        conn.execute(sa.text("SET LOCAL parallel_tuple_cost = 1"))
        starts = self.cell_offsets()
        for day, k, n in self._pg_rows(conn, self.pg_cells_statement(rel)):
            if k is None:
                continue  # NULL values
            i = bisect.bisect_right(starts, int(k)) - 1
            hist = hists.get((day, i))
            if hist is None:
                hist = hists[day, i] = np.zeros(numeric[i].n_cells, dtype=np.int64)
            hist[int(k) - starts[i]] += int(n)
        conn.execute(sa.text("SET LOCAL parallel_tuple_cost TO DEFAULT"))
        return hists

    def _pg_finite(
        self, conn: sa.Connection, rel: Relation, scalars: Mapping[dt.date | None, Sequence[Any]]
    ) -> dict[tuple[dt.date | None, int], Sequence[Any]]:
        """``pg_finite_statement`` of the columns whose min or max in ``scalars`` is not finite."""
        dirty = sorted(
            {
                i
                for values in scalars.values()
                for i in range(len(self.layout.numeric))
                for v in values[2 + _PG_STATS * i : 4 + _PG_STATS * i]
                if v is not None and not math.isfinite(v)
            }
        )
        out: dict[tuple[dt.date | None, int], Sequence[Any]] = {}
        if dirty:
            for day, *values in self._pg_rows(conn, self.pg_finite_statement(rel, dirty)):
                for n, i in enumerate(dirty):
                    out[day, i] = values[(_PG_STATS + 1) * n : (_PG_STATS + 1) * (n + 1)]
        return out

    def _run_postgres(self, conn: sa.Connection, rel: Relation) -> dict[dt.date | None, Profile]:
        """PostgreSQL: the profiles from ``pg_cells_statement``, ``pg_scalar_statement`` and
        ``pg_keys_statement``, and ``pg_finite_statement`` for columns with non-finite values."""
        # JIT compiling these wide expressions cost PostgreSQL 15 more than running them:
        # 21.6 s of compilation in a 13.4 s scalar query at 1M rows x 26 columns.
        conn.execute(sa.text("SET LOCAL jit = off"))
        if self.by_day:
            # The planner takes a timestamp's day for as many values as the timestamp has, and
            # would sort a million rows (on disk) to group a few days: 4.0 s against 2.0 s.
            conn.execute(sa.text("SET LOCAL enable_sort = off"))
        hists = self._pg_histograms(conn, rel)
        scalars = {day: values for day, *values in self._pg_rows(conn, self.pg_scalar_statement(rel))}
        finite = self._pg_finite(conn, rel, scalars)
        keys: dict[tuple[dt.date | None, int], dict[Any, int]] = {}
        if self.layout.categorical or self.model_version_column:
            for day, col, value, n in self._pg_rows(conn, self.pg_keys_statement(rel)):
                if value is not None:  # NULL: the NULL and other values, which the counts imply
                    keys.setdefault((day, int(col)), {})[value] = int(n)
        out: dict[dt.date | None, Profile] = {}
        n_numeric = len(self.layout.numeric)
        for day, values in scalars.items():
            n_rows = int(values[0])
            columns: dict[str, ColumnProfile] = {}
            for i, (name, bins) in enumerate(self.layout.numeric.items()):
                hist = hists.get((day, i), np.zeros(bins.n_cells, dtype=np.int64))
                stats = values[1 + _PG_STATS * i : 1 + _PG_STATS * (i + 1)]
                columns[name] = _pg_numeric(bins, n_rows, hist, stats, finite.get((day, i)))
            offset = 1 + _PG_STATS * n_numeric
            for j, (name, cbins) in enumerate(self.layout.categorical.items()):
                nulls = n_rows - int(values[offset + j])
                columns[name] = _top_k_profile(cbins, keys.get((day, n_numeric + j), {}), n_rows, nulls)
            versions = {str(k): v for k, v in keys.get((day, VERSIONS), {}).items()}
            out[day] = Profile(n_rows, columns, versions)
        return out

    def _assemble(
        self, day: dt.date | None, values: list[Any], maps: Mapping[tuple[dt.date | None, int], Mapping[Any, int]]
    ) -> Profile:
        it = iter(values)
        n_rows = int(next(it))
        columns: dict[str, ColumnProfile] = {}
        for i, (name, bins) in enumerate(self.layout.numeric.items()):
            nonnull, count = int(next(it)), int(next(it))
            lo, hi, mean, var = (_num(next(it)) for _ in range(4))
            low_sum, high_sum = (_num(next(it)) for _ in range(2))
            columns[name] = NumericProfile(
                bins=bins,
                count=count,
                null_count=n_rows - nonnull,
                nonfinite_count=nonnull - count,
                min=lo,
                max=hi,
                mean=mean,
                m2=var * count if count else 0.0,
                hist=_dense(maps.get((day, i), {}), bins),
                tail_low_sum=0.0 if math.isnan(low_sum) else low_sum,  # sum() of no rows is NULL
                tail_high_sum=0.0 if math.isnan(high_sum) else high_sum,
            )
        offset = len(self.layout.numeric)
        for j, (name, cbins) in enumerate(self.layout.categorical.items()):
            nonnull = int(next(it))
            columns[name] = _top_k_profile(cbins, maps.get((day, offset + j), {}), n_rows, n_rows - nonnull)
        versions = maps.get((day, VERSIONS), {})  # from the second query
        return Profile(n_rows, columns, {str(k): int(v) for k, v in versions.items()})


_PG_STATS = 7  # pg_scalar_statement's values per numeric column


def _pg_numeric(
    bins: NumericBins, n_rows: int, hist: np.ndarray, stats: Sequence[Any], finite: Sequence[Any] | None
) -> NumericProfile:
    """A numeric column's profile from ``pg_scalar_statement``'s values (non-NULL count, min, max,
    mean, variance, tail sums) and its cells; ``finite``: ``pg_finite_statement``'s values, which
    replace them when the column has non-finite values (and take those out of the outer cells)."""
    nonnull = int(stats[0])
    count, values = nonnull, stats[1:]
    if finite is not None:
        count, values, neg_inf = int(finite[0]), finite[1:-1], int(finite[-1])
        hist[0] -= neg_inf
        hist[bins.n_bins + 1] -= nonnull - count - neg_inf  # +Infinity and NaN
    lo, hi, mean, var, low_sum, high_sum = (_num(v) for v in values)
    return NumericProfile(
        bins=bins,
        count=count,
        null_count=n_rows - nonnull,
        nonfinite_count=nonnull - count,
        min=lo,
        max=hi,
        mean=mean,
        m2=var * count if count else 0.0,
        hist=hist,
        tail_low_sum=0.0 if math.isnan(low_sum) else low_sum,  # sum() of no rows is NULL
        tail_high_sum=0.0 if math.isnan(high_sum) else high_sum,
    )


def _ordered(x: float) -> int:
    """An integer of the same order as the double ``x`` (-0.0 and 0.0 alike)."""
    bits = int(struct.unpack("<q", struct.pack("<d", x))[0])
    return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)


def _double(key: int) -> float:
    bits = key if key >= 0 else (-key) | (1 << 63)
    (x,) = struct.unpack("<d", struct.pack("<Q", bits))
    return float(x)


def overflow_start(bins: NumericBins) -> float:
    """The smallest double ``x`` with ``floor((x - lo) / w) >= n_bins``, i.e. in the overflow cell
    (+Infinity when no finite value is). ``(x - lo) / w`` rounds but never decreases as ``x``
    grows, so ``x >= overflow_start`` is that cell exactly, as ``x < lo`` is the underflow cell
    (a negative difference stays negative; a quotient that would round to zero is an error in
    PostgreSQL). Python's floats are IEEE doubles, as the warehouse's are."""
    lo, w, n = bins.lo, bins.width, bins.n_bins
    below, above = _ordered(lo), _ordered(sys.float_info.max)
    if (sys.float_info.max - lo) / w < n:
        return math.inf
    while below < above:  # (x - lo) / w < n at below (x = lo gives 0), not at above
        mid = (below + above) // 2
        if (_double(mid) - lo) / w < n:
            below = mid + 1
        else:  # also NaN, inf / inf: DuckDB's cell of a NaN quotient is the overflow cell
            above = mid
    return _double(above)


def _top_k_profile(bins: CategoricalBins, top: Mapping[Any, int], n_rows: int, nulls: int) -> CategoricalProfile:
    """A categorical column's profile from its top-K counts: ``other`` is the rest of its non-NULL rows."""
    counts = np.array([top.get(c, 0) for c in bins.categories] + [0], dtype=np.int64)
    counts[-1] = n_rows - nulls - int(counts.sum())
    return CategoricalProfile(bins, counts, nulls)


def fetch_columns(
    conn: sa.Connection, stmt: sa.Executable, params: Mapping[str, Any] | None = None
) -> list[np.ndarray]:
    """The result of ``stmt`` as one numpy array per column, in select order. DuckDB hands its
    result over as arrays (a column with NULLs as a masked array); other engines' rows are
    transposed into masked arrays."""
    result = conn.execute(stmt, dict(params or {}))
    try:
        if conn.dialect.name == "duckdb":
            return list(result.cursor.fetchnumpy().values())
        rows = result.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(len(result.keys()))]
        return [
            np.ma.array(np.array([0 if v is None else v for v in values]), mask=np.array([v is None for v in values]))
            for values in columns
        ]
    finally:
        result.close()


def _filled(column: np.ndarray, fill: Any) -> np.ndarray:
    return np.ma.filled(column, fill) if np.ma.isMaskedArray(column) else np.asarray(column)


def _day_positions(days: Sequence[dt.date | None], column: np.ndarray) -> np.ndarray:
    """Each row's index in ``days`` (-1: a row without a day, or of a day not listed)."""
    present = ~np.ma.getmaskarray(column)
    wanted = np.array([np.datetime64(d, "D") for d in days if d is not None], dtype="datetime64[D]")
    order = np.argsort(wanted)
    found = np.asarray(np.ma.getdata(column)).astype("datetime64[D]")
    at = np.clip(np.searchsorted(wanted[order], found), 0, max(len(wanted) - 1, 0))
    pos = order[at] if len(wanted) else np.zeros(len(found), dtype=np.intp)
    ok = present & (wanted[pos] == found) if len(wanted) else np.zeros(len(found), dtype=bool)
    return np.where(ok, pos, -1)


def _numeric_from_cells(
    numeric: Mapping[str, NumericBins],
    days: Sequence[dt.date | None],
    n_rows: Sequence[int],
    cells: Sequence[np.ndarray],
    *,
    by_day: bool,
) -> dict[str, list[NumericProfile]]:
    """Each numeric column's profile on each of ``days`` from the rows of ``cells_statement``:
    (column, [day,] key, rows, non-NULL, sum, min, max, var_pop), ``key = floor((x - lo) /
    width)`` unclipped (NULL: not finite). A key clipped to ``[-1, n_bins]`` plus one is the
    value's cell, exactly as ``NumericBins.cell_of`` computes it, so the keys beyond the range
    share the tail cells. The mean and squared deviations merge the groups as Chan et al.'s
    pairwise update does (within-group deviations plus the groups' spread around the mean), which
    stays exact where a sum of squares would cancel. Groups are merged in (day, key) order, so the
    same rows give the same floats whatever order the engine returns them in."""
    col, *rest = cells
    day_pos = _day_positions(days, rest.pop(0)) if by_day else np.zeros(len(col), dtype=np.intp)
    key, rows, nonnull, sums, lows, highs, variances = rest
    finite = ~np.ma.getmaskarray(key)
    key = _filled(key, 0.0).astype(np.float64)
    rows, nonnull = _filled(rows, 0).astype(np.int64), _filled(nonnull, 0).astype(np.int64)
    sums, variances = _filled(sums, 0.0).astype(np.float64), _filled(variances, 0.0).astype(np.float64)
    lows, highs = _filled(lows, np.inf).astype(np.float64), _filled(highs, -np.inf).astype(np.float64)
    col = np.asarray(col).astype(np.int64)
    n_days, total = len(days), np.asarray(n_rows, dtype=np.int64)
    out: dict[str, list[NumericProfile]] = {}
    for i, (name, bins) in enumerate(numeric.items()):
        mine = (col == i) & (day_pos >= 0)
        seen = np.zeros(n_days, dtype=np.int64)
        np.add.at(seen, day_pos[mine], nonnull[mine])
        at = np.flatnonzero(mine & finite)
        at = at[np.lexsort((key[at], day_pos[at]))]
        d, k, n = day_pos[at], (np.clip(key[at], -1, bins.n_bins) + 1).astype(np.intp), rows[at]
        grid = (n_days, bins.n_cells)
        hist, total_sum = np.zeros(grid, dtype=np.int64), np.zeros(grid)
        np.add.at(hist, (d, k), n)
        np.add.at(total_sum, (d, k), sums[at])
        count = hist.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total_sum.sum(axis=1) / count
        m2 = np.zeros(n_days)
        np.add.at(m2, d, variances[at] * n + n * (sums[at] / n - mean[d]) ** 2)
        lo, hi = np.full(n_days, np.inf), np.full(n_days, -np.inf)
        np.minimum.at(lo, d, lows[at])
        np.maximum.at(hi, d, highs[at])
        profiles = []
        for j in range(n_days):
            nulls, nonfinite = int(total[j] - seen[j]), int(seen[j] - count[j])
            if count[j] == 0:
                empty = np.zeros(bins.n_cells, dtype=np.int64)
                nan = math.nan
                profiles.append(NumericProfile(bins, 0, nulls, nonfinite, nan, nan, nan, 0.0, empty, 0.0, 0.0))
                continue
            profiles.append(
                NumericProfile(
                    bins=bins,
                    count=int(count[j]),
                    null_count=nulls,
                    nonfinite_count=nonfinite,
                    min=float(lo[j]),
                    max=float(hi[j]),
                    mean=float(mean[j]),
                    m2=float(m2[j]),
                    hist=hist[j].copy(),
                    tail_low_sum=float(total_sum[j, 0]),
                    tail_high_sum=float(total_sum[j, bins.n_bins + 1]),
                )
            )
        out[name] = profiles
    return out


def _dense(cells: Mapping[Any, int], bins: NumericBins) -> np.ndarray:
    """Cell -> count map to an array. DuckDB's maps list every boundary, zero counts included,
    and may add an overflow key above the last one (always empty here: cells stop at n_cells - 1)."""
    hist = np.zeros(bins.n_cells, dtype=np.int64)
    for cell, n in cells.items():
        if n:
            hist[int(cell)] += int(n)
    return hist


def _finite_value(sql: SqlBuilder, name: str) -> str:
    raw = f"CAST({sql.col(name)} AS DOUBLE PRECISION)"
    return f"CASE WHEN {sql.finite(raw)} THEN {raw} END"


def finite_counts_statement(
    sql: SqlBuilder, rel: Relation, columns: Sequence[str]
) -> tuple[sa.TextClause, dict[str, Any]]:
    """Finite values of each numeric column: the ``n`` that fixes which order statistics the
    reference quantiles need (``QuantileRanks``)."""
    params: dict[str, Any] = {}
    counts = ", ".join(f"count({_finite_value(sql, name)}) AS n{i}" for i, name in enumerate(columns))
    return sa.text(f"SELECT {counts} FROM {sql.table(rel.table)}{sql.where(rel, params)}"), params


@dataclass(frozen=True)
class _EdgeRanks:
    """One column's two quantiles: ``n`` finite values, the ranks each interpolates."""

    lo: QuantileRanks
    hi: QuantileRanks

    @property
    def n_smallest(self) -> int:
        """How many of the smallest values reach ``lo``'s upper rank."""
        return self.lo.above + 1

    @property
    def n_largest(self) -> int:
        """How many of the largest values reach down to ``hi``'s lower rank."""
        return self.hi.n - self.hi.below

    def ranks(self) -> tuple[int, int, int, int]:
        return (self.lo.below, self.lo.above, self.hi.below, self.hi.above)


def order_statistics_statement(
    sql: SqlBuilder, rel: Relation, columns: Sequence[str], ranks: Sequence[_EdgeRanks]
) -> tuple[sa.TextClause, dict[str, Any]]:
    """Per column: its finite count (to check, and on DuckDB to pick the ranks) and the values at
    the ranks of ``ranks`` (DuckDB: the sorted lists that reach them).

    DuckDB: ``min(x, m)`` / ``max(x, m)``, the ``m`` smallest / largest values as a sorted list,
    kept in a bounded heap: one streaming pass in O(m) memory per column (m is 0.1 % of the rows),
    where ``quantile_cont`` buffers every value (5 GB at 10M rows x 20 columns, and no spilling).
    Other engines: ``percentile_disc`` at fraction ``(r + 0.5) / n``, which returns the value at
    1-based position ``ceil(fraction * n) = r + 1`` (the half keeps rounding of the fraction away
    from an integer), i.e. 0-based rank ``r``; PostgreSQL sorts, and spills to disk when it must.
    """
    params: dict[str, Any] = {}
    parts = []
    for i, (name, r) in enumerate(zip(columns, ranks, strict=True)):
        finite = _finite_value(sql, name)
        parts.append(f"count({finite}) AS n{i}")
        if sql.is_duckdb:
            params[f"m_lo{i}"], params[f"m_hi{i}"] = r.n_smallest, r.n_largest
            parts += [
                f"min({finite}, CAST(:m_lo{i} AS BIGINT)) AS small{i}",
                f"max({finite}, CAST(:m_hi{i} AS BIGINT)) AS large{i}",
            ]
        elif sql.dialect.name == "postgresql":
            # The array form sorts the column once for all four ranks; four scalar calls took
            # 25-40 % longer at 1M rows x 21 columns (PostgreSQL 15).
            params[f"f{i}"] = [(rank + 0.5) / r.lo.n for rank in r.ranks()]
            parts.append(f"percentile_disc(CAST(:f{i} AS DOUBLE PRECISION[])) WITHIN GROUP (ORDER BY {finite}) AS v{i}")
        else:
            for j, rank in enumerate(r.ranks()):
                params[f"f{i}_{j}"] = (rank + 0.5) / r.lo.n
                parts.append(
                    f"percentile_disc(CAST(:f{i}_{j} AS DOUBLE PRECISION)) WITHIN GROUP (ORDER BY {finite}) AS v{i}_{j}"
                )
    return sa.text(f"SELECT {', '.join(parts)} FROM {sql.table(rel.table)}{sql.where(rel, params)}"), params


def _no_finite(name: str, rel: Relation) -> ProfileError:
    return ProfileError(f"reference column {name!r} has no finite values in {rel.table}: cannot fix bins")


def _changed(name: str, rel: Relation, before: int, after: int) -> ProfileError:
    return ProfileError(
        f"reference column {name!r} in {rel.table} changed while its bins were fixed "
        f"({before} then {after} finite values): materialize the reference again"
    )


def reference_ranges(
    conn: sa.Connection, sql: SqlBuilder, rel: Relation, columns: Sequence[str], quantiles: tuple[float, float]
) -> dict[str, tuple[float, float]]:
    """``np.quantile(finite, quantiles)`` of each numeric column, exactly, from the order statistics
    each quantile interpolates (``QuantileRanks``). Both engines read the same ranks of the same
    sorted values, so they return the same edges.

    DuckDB: one ``count(*)`` (reads no numeric column), then one pass whose heaps are sized for
    that many values, which covers every column's ranks (a column has at most as many finite
    values; the heap sizes grow with ``n``), with each column's finite count alongside. Other
    engines: the finite counts, then ``percentile_disc`` at the ranks they give.
    """
    if sql.is_duckdb:
        stmt, params = sql.count_statement(rel)
        n_rows = int(conn.execute(stmt, params).scalar_one())
        if n_rows == 0:
            raise _no_finite(columns[0], rel)
        bound = _EdgeRanks(QuantileRanks(n_rows, quantiles[0]), QuantileRanks(n_rows, quantiles[1]))
        stmt, params = order_statistics_statement(sql, rel, columns, [bound] * len(columns))
        row = list(conn.execute(stmt, params).one())
        out: dict[str, tuple[float, float]] = {}
        for i, name in enumerate(columns):
            n, small, large = int(row[3 * i]), row[3 * i + 1], row[3 * i + 2]
            if n == 0:
                raise _no_finite(name, rel)
            r = _EdgeRanks(QuantileRanks(n, quantiles[0]), QuantileRanks(n, quantiles[1]))
            if n > n_rows or len(small) < r.n_smallest or len(large) < r.n_largest:
                raise _changed(name, rel, n_rows, n)  # not in one snapshot; kept as a guard
            # The m smallest ascending (rank k at k), the m largest descending (rank k at n-1-k).
            lo_b, lo_a, hi_b, hi_a = r.ranks()
            out[name] = (
                r.lo.interpolate(small[lo_b], small[lo_a]),
                r.hi.interpolate(large[n - 1 - hi_b], large[n - 1 - hi_a]),
            )
        return out
    stmt, params = finite_counts_statement(sql, rel, columns)
    counts = [int(n) for n in conn.execute(stmt, params).one()]
    for name, n in zip(columns, counts, strict=True):
        if n == 0:
            raise _no_finite(name, rel)
    ranks = [_EdgeRanks(QuantileRanks(n, quantiles[0]), QuantileRanks(n, quantiles[1])) for n in counts]
    stmt, params = order_statistics_statement(sql, rel, columns, ranks)
    row = list(conn.execute(stmt, params).one())
    width = 2 if sql.dialect.name == "postgresql" else 5  # the count, then one array or four values
    out = {}
    for i, (name, r) in enumerate(zip(columns, ranks, strict=True)):
        n, *found = row[width * i : width * (i + 1)]
        if int(n) != r.lo.n:
            # PostgreSQL reads each statement at its own snapshot: rows arrived between the two.
            raise _changed(name, rel, r.lo.n, int(n))
        values = [float(v) for v in (found[0] if width == 2 else found)]
        out[name] = (r.lo.interpolate(values[0], values[1]), r.hi.interpolate(values[2], values[3]))
    return out


def top_k_statement(sql: SqlBuilder, rel: Relation, column: str, k: int) -> tuple[sa.TextClause, dict[str, Any]]:
    """The ``k`` most frequent non-null values as text, ties broken by byte order of the value."""
    params: dict[str, Any] = {"k": k}
    value = f"CAST({sql.col(column)} AS VARCHAR)"
    collate = "" if sql.is_duckdb else ' COLLATE "C"'
    where = sql.where(rel, params)
    where = f"{where} AND" if where else " WHERE"
    stmt = (
        f"SELECT {value} AS v, count(*) AS n FROM {sql.table(rel.table)}{where} {sql.col(column)} IS NOT NULL "
        f"GROUP BY 1 ORDER BY n DESC, {value}{collate} LIMIT :k"
    )
    return sa.text(stmt), params


def build_layout(
    conn: sa.Connection,
    *,
    sql: SqlBuilder,
    rel: Relation,
    numeric: Sequence[str],
    categorical: Sequence[str],
    n_bins: int,
    top_k: int,
    quantiles: tuple[float, float] = (0.001, 0.999),
) -> ProfileLayout:
    """Fix the bins from the reference: numeric range = reference quantiles (``reference_ranges``),
    categories = top K."""
    numeric_bins: dict[str, NumericBins] = {}
    if numeric:
        for name, (lo, hi) in reference_ranges(conn, sql, rel, numeric, quantiles).items():
            numeric_bins[name] = NumericBins.from_range(lo, hi, n_bins)
    categorical_bins: dict[str, CategoricalBins] = {}
    for name in categorical:
        stmt, params = top_k_statement(sql, rel, name, top_k)
        rows = conn.execute(stmt, params).fetchall()
        if not rows:
            raise ProfileError(
                f"reference column {name!r} has no non-null values in {rel.table}: cannot fix categories"
            )
        categorical_bins[name] = CategoricalBins(tuple(str(v) for v, _ in rows))
    return ProfileLayout(numeric_bins, categorical_bins)


def duckdb_columns_statement(dotted: str) -> tuple[sa.TextClause, dict[str, Any]]:
    """DuckDB: (name, type) of each column of table ``dotted`` (``[catalog.][schema.]table``;
    no schema: the current one) from ``information_schema``, in table order."""
    *prefix, table = dotted.split(".")
    params: dict[str, Any] = {"t": table, "s": prefix[-1] if prefix else None}
    catalog = ""
    if len(prefix) == 2:
        catalog, params["c"] = " AND table_catalog = :c", prefix[0]
    stmt = sa.text(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = :t AND "
        f"table_schema = coalesce(:s, current_schema()){catalog} ORDER BY ordinal_position"
    )
    return stmt, params


def duckdb_rows_statement(
    sql: SqlBuilder,
    rel: Relation,
    columns: Sequence[str],
    *,
    sample_share: float | None = None,
    seed: int = 0,
    sample_key: str | None = None,
    limit: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """DuckDB's own cursor: ``columns`` (none: the timestamp) of the rows in ``rel``'s window.
    Text with ``$name`` parameters, not a TextClause: it runs on the driver's connection, whose
    ``fetch_df_chunk`` streams frames. With ``sample_share`` below 1, only the rows whose
    ``hash(seed, key) % 10^6 < sample_share * 10^6`` (key: column ``sample_key``, else the
    timestamp and the columns): the same rows on every run."""
    assert rel.timestamp_column is not None and rel.start is not None and rel.end is not None
    ts = sql.col(rel.timestamp_column)
    select = ", ".join(sql.col(c) for c in columns) or ts
    text = f"SELECT {select} FROM {sql.table(rel.table)} WHERE {ts} >= $start AND {ts} < $end"
    params: dict[str, Any] = {"start": rel.start, "end": rel.end}
    if sample_share is not None and sample_share < 1:
        key = sql.col(sample_key) if sample_key else ", ".join([ts, *map(sql.col, columns)])
        text += f" AND hash(CAST($seed AS BIGINT), {key}) % 1000000 < $keep"
        params |= {"seed": seed, "keep": max(1, round(sample_share * 1_000_000))}
    if limit is not None:
        text += " LIMIT $limit"
        params["limit"] = limit
    return text, params


def quiet_duckdb(dbapi_connection: Any, _record: Any) -> None:
    """On connect: a DuckDB query over 2 s would draw its progress bar into the run's compute logs."""
    dbapi_connection.execute("SET enable_progress_bar = false")
