"""Labels: which scored rows have a label, when labels arrived, and the label column's kind
(``Warehouse.labels``). Counts only; the rows themselves are read by ``resources/_rows.py``."""

from __future__ import annotations

import dataclasses
import datetime as dt

from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources._engine import WarehouseEngine, table_columns
from resources._labels_sql import LabeledRows
from resources._sql import as_date

_TEXT_TYPES = ("CHAR", "TEXT", "STRING", "CLOB", "UUID", "JSON", "DATE", "TIME", "INTERVAL", "BYTEA", "BLOB")


def _kind_of_label(spec: MonitorSpec, table: str, role: str, column: str, declared: str | None) -> str:
    """``boolean`` or ``numeric`` for a label column of SQL type ``declared``; a text (or date, ...)
    column is a WarehouseError naming the table, the column and the values expected."""
    upper = (declared or "").upper()
    if spec.prediction.task == "multiclass_classification":
        # Compared with the class values as text: CAST(2.0 AS VARCHAR) is '2.0' in DuckDB but '2'
        # in PostgreSQL, so a fractional type would match classes differently on the two engines.
        if any(t in upper for t in ("FLOAT", "DOUBLE", "REAL", "NUMERIC", "DECIMAL")):
            raise WarehouseError(
                f"monitor {spec.name!r}: labels.label_column {column!r} of {role} {table!r} is {declared}, "
                "but multiclass labels are compared as text with prediction.classes: store them as text or "
                "integers, or cast them in a view over the table"
            )
        return "text"
    if "BOOL" in upper and spec.prediction.task == "binary_classification":
        return "boolean"
    numeric = any(t in upper for t in ("INT", "FLOAT", "DOUBLE", "REAL", "NUMERIC", "DECIMAL", "NUMBER"))
    if not numeric and ("BOOL" in upper or any(t in upper for t in _TEXT_TYPES)):
        expected = (
            "0 or 1 (an integer, numeric or boolean column)"
            if spec.prediction.task == "binary_classification"
            else "a number (an integer or numeric column)"
        )
        raise WarehouseError(
            f"monitor {spec.name!r}: labels.label_column {column!r} of {role} {table!r} is {declared}, "
            f"but a {spec.prediction.task} label must be {expected}; store the label as such, or map it "
            "in a view over the table"
        )
    return "numeric"


class LabelQueries:
    """Label counts and arrivals of one warehouse, and the ``LabeledRows`` that performance,
    fairness and training read (``labeled_rows``)."""

    def __init__(self, db: WarehouseEngine) -> None:
        self._db = db
        self._label_kinds: dict[tuple[str, str], str] = {}

    def labeled_rows(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> LabeledRows:
        """The scored rows of ``first..last`` joined to their labels, as ``spec.labels`` declares."""
        if spec.labels is None:
            raise WarehouseError(f"monitor {spec.name!r} has no labels section: nothing to measure performance on")
        rows = LabeledRows.for_days(spec, first, last)
        return dataclasses.replace(
            rows,
            arrived_at=spec.labels.arrived_at_column,
            duplicates=spec.labels.duplicates,
            label_kind=self.label_kind(spec, spec.labels.table or spec.source.table, "table"),
        )

    def label_kind(self, spec: MonitorSpec, table: str, role: str) -> str:
        """``numeric`` or ``boolean`` by the label column's SQL type (read once per table), so that a
        text label gets one clear error before any aggregate query instead of a driver cast error."""
        assert spec.labels is not None
        column = spec.labels.label_column
        if (table, column) not in self._label_kinds:
            declared = table_columns(self._db, table).get(column)  # None: missing, the query says so
            self._label_kinds[(table, column)] = _kind_of_label(spec, table, role, column, declared)
        return self._label_kinds[(table, column)]

    def label_arrivals(
        self, spec: MonitorSpec, after: dt.datetime | None, first: dt.date, last: dt.date
    ) -> tuple[dict[dt.date, int], dt.datetime | None]:
        """Labels that arrived after ``after`` for rows scored on ``first..last``: count per scoring
        day, and the latest arrival time seen (the sensor's next cursor)."""
        assert spec.labels is not None and spec.labels.arrived_at_column is not None
        stmt, params = self.labeled_rows(spec, first, last).arrivals_statement(self._db.sql, after)
        with self._db.begin_days(spec) as conn:
            result = conn.execute(stmt, params).fetchall()
        counts = {day: int(n) for d, n, _ in result if (day := as_date(d)) is not None}
        latest = max((m for *_, m in result if m is not None), default=None)
        return counts, latest

    def labeled_counts(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> dict[dt.date, int]:
        """Rows with a label per scoring day in ``first..last``, as the warehouse has them now."""
        stmt, params = self.labeled_rows(spec, first, last).labeled_counts_statement(self._db.sql)
        with self._db.begin_days(spec) as conn:
            return {day: int(n) for d, n in conn.execute(stmt, params) if (day := as_date(d)) is not None}

    def last_labeled_day(self, spec: MonitorSpec) -> dt.date | None:
        """The latest scoring day that has any label (the end of the retraining window)."""
        rows = self.labeled_rows(spec, spec.partitions.start_date, dt.date.max - dt.timedelta(days=2))
        stmt, params = rows.last_labeled_statement(self._db.sql)
        with self._db.begin_days(spec) as conn:
            latest = conn.execute(stmt, params).scalar()
        return as_date(latest)

    def label_counts(self, spec: MonitorSpec, first: dt.date, last: dt.date) -> dict[dt.date, tuple[int, int]]:
        """Per scoring day of ``first..last`` with labels: (labeled rows, rows whose label is not a
        valid target), one label per id as monitoring counts them; the retraining window's guard."""
        rows = self.labeled_rows(spec, first, last)
        with self._db.begin_days(spec) as conn:
            found = rows.label_counts(conn, self._db.sql)
        return {d: counts for d, counts in found.items() if d is not None}
