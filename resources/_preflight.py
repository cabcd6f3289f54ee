"""Before any work: every table and column a step reads is where the spec says.

One cheap query per table (``SELECT * FROM t WHERE 1 = 0``: no row is read, and it names the
columns on every engine, where duckdb-engine's reflection queries catalog tables DuckDB lacks).
A miss is one ``WarehouseError`` line (the class meant for "the warehouse lacks a table or column
the spec names") naming the spec file, the field, the table and the column, e.g.
``monitors/credit.yaml: features.numeric: column 'income' not found in table analytics.inference_log
(columns: ...)``, instead of an engine error that does not say which table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from monitoring_assets.errors import WarehouseError
from monitoring_assets.spec import MonitorSpec
from resources._sql import SqlBuilder

Step = Literal["reference", "daily", "performance", "fairness", "operations", "business", "versions"]
MAX_LISTED = 40  # columns named in the error; the rest are counted


@dataclass
class TableNeeds:
    """The columns one table must have: (spec field, column) pairs, in spec order."""

    table_field: str  # the spec field naming the table
    columns: list[tuple[str, str]] = field(default_factory=list)

    def add(self, spec_field: str, columns: Sequence[str | None]) -> None:
        for column in columns:
            if column is not None and (spec_field, column) not in self.columns:
                self.columns.append((spec_field, column))


def _score_field(spec: MonitorSpec) -> str:
    return "prediction.score_columns" if spec.prediction.score_columns else "prediction.score_column"


def _features(spec: MonitorSpec, needs: TableNeeds, *, slices: bool = True) -> None:
    needs.add("features.numeric", spec.features.numeric)
    needs.add("features.categorical", spec.features.categorical)
    needs.add(_score_field(spec), spec.prediction.numeric_columns)
    needs.add("prediction.label_column", [spec.prediction.predicted_class_column])
    if slices:
        needs.add("slices", spec.slices)


def _labeled(spec: MonitorSpec, tables: dict[str, TableNeeds]) -> None:
    """Scored rows joined to their labels: what labeled performance and fairness read."""
    source = tables.setdefault(spec.source.table, TableNeeds("source.table"))
    source.add("source.timestamp_column", [spec.source.timestamp_column])
    source.add(_score_field(spec), spec.prediction.numeric_columns)
    source.add("prediction.label_column", [spec.prediction.label_column])
    labels = spec.labels
    if labels is None:
        return
    if labels.table is None:
        source.add("labels.label_column", [labels.label_column])
        source.add("labels.arrived_at_column", [labels.arrived_at_column])
        return
    source.add("source.id_column", [spec.source.id_column])
    target = tables.setdefault(labels.table, TableNeeds("labels.table"))
    target.add("labels.id_column", [labels.id_column])
    target.add("labels.label_column", [labels.label_column])
    target.add("labels.arrived_at_column", [labels.arrived_at_column])


def required_columns(spec: MonitorSpec, step: Step) -> dict[str, TableNeeds]:
    """Per table, the columns ``step`` reads (the reference's labels are optional: without them
    the reference simply has no performance)."""
    tables: dict[str, TableNeeds] = {}
    if step == "reference":
        ref = spec.reference
        if ref.table is not None:
            needs = tables.setdefault(ref.table, TableNeeds("reference.table"))
            _features(spec, needs)
            needs.add("reference.timestamp_column", [ref.timestamp_column])
        else:
            needs = tables.setdefault(spec.source.table, TableNeeds("source.table"))
            _features(spec, needs)
            ts_field = "reference.timestamp_column" if ref.timestamp_column else "source.timestamp_column"
            needs.add(ts_field, [ref.timestamp_column or spec.source.timestamp_column])
            needs.add("source.model_version_column", [spec.source.model_version_column])
            if spec.labels is not None:
                _labeled(spec, tables)
    elif step == "daily":
        needs = tables.setdefault(spec.source.table, TableNeeds("source.table"))
        needs.add("source.timestamp_column", [spec.source.timestamp_column])
        _features(spec, needs)
        needs.add("source.id_column", [spec.source.id_column])  # the key of data-quality samples
        needs.add("source.model_version_column", [spec.source.model_version_column])
    elif step == "operations":
        needs = tables.setdefault(spec.source.table, TableNeeds("source.table"))
        needs.add("source.timestamp_column", [spec.source.timestamp_column])
        if spec.operations is not None:
            needs.add("operations.latency_column", [spec.operations.latency_column])
            needs.add("operations.status_column", [spec.operations.status_column])
    elif step == "versions":
        needs = tables.setdefault(spec.source.table, TableNeeds("source.table"))
        needs.add("source.timestamp_column", [spec.source.timestamp_column])
        needs.add("prediction.score_column", [spec.prediction.score_column])
        needs.add("prediction.label_column", [spec.prediction.label_column])
        needs.add("source.model_version_column", [spec.source.model_version_column])
        needs.add("prediction.shadow_score_columns", spec.prediction.shadow_score_columns)
    elif step == "business":
        needs = tables.setdefault(spec.source.table, TableNeeds("source.table"))
        needs.add("source.timestamp_column", [spec.source.timestamp_column])
        for i, m in enumerate(spec.business_metrics):
            needs.add(f"business_metrics[{i}].column", [m.column])
            needs.add(f"business_metrics[{i}].where", list(m.where))
    else:
        _labeled(spec, tables)
        if step == "fairness":
            tables[spec.source.table].add("slices", spec.slices)
    return tables


def table_columns(conn: sa.Connection, sql: SqlBuilder, table: str) -> list[str]:
    """The columns of ``table`` (no row read). DBAPIError when it is missing or unreadable; the
    connection is then rolled back, so that the next table can still be asked about."""
    try:
        return list(conn.execute(sql.no_rows_statement(table)).keys())
    except DBAPIError:
        conn.rollback()
        raise


def _listed(columns: Sequence[str]) -> str:
    shown = ", ".join(columns[:MAX_LISTED])
    more = len(columns) - MAX_LISTED
    return f"{shown}, and {more} more" if more > 0 else shown or "none"


def check_columns(engine: sa.Engine, sql: SqlBuilder, safe_url: str, spec: MonitorSpec, step: Step) -> None:
    """Raise one WarehouseError line for every table or column ``step`` needs and the warehouse lacks."""
    problems: list[str] = []
    # A failure to connect propagates (the caller says the warehouse is unreachable); only a failed
    # query on a connection that works means the table is missing or unreadable.
    with engine.connect() as conn:
        for table, needs in required_columns(spec, step).items():
            try:
                present = table_columns(conn, sql, table)
            except DBAPIError as e:
                # The driver's text can quote SQL; its class says enough (UndefinedTable, CatalogException).
                problems.append(
                    f"{needs.table_field}: table {table} not found or not readable on {safe_url} "
                    f"({type(e.orig).__name__})"
                )
                continue
            problems.extend(_missing_columns(sql, table, needs, present))
    if problems:
        raise WarehouseError(f"{spec.origin}: " + "; ".join(problems))


def _missing_columns(sql: SqlBuilder, table: str, needs: TableNeeds, present: list[str]) -> list[str]:
    # DuckDB matches identifiers without regard to case, even quoted; PostgreSQL exactly.
    fold = str.lower if sql.is_duckdb else str
    known = {fold(c) for c in present}
    missing = [(f, c) for f, c in needs.columns if fold(c) not in known]
    if not missing:
        return []
    clauses = [f"{f}: column {c!r} not found in table {table}" for f, c in missing]
    return ["; ".join(clauses) + f" (columns: {_listed(present)})"]
