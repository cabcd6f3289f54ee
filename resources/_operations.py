"""Operational aggregates of the inference log, computed in the warehouse (``operations`` spec block).

One ``GROUP BY (day, class, bucket)`` pass: each row's latency class (0: a finite latency above 0,
with its log bucket ``ceil(ln(x) / ln(gamma))``; 1: a finite latency at or below 0; 2: NULL or not
finite), the rows, the rows with a status and the rows whose status (as text) is one of the spec's
error values, bound as parameters. ``monitoring_assets.core.operations`` says what the buckets mean.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from monitoring_assets.core.operations import LatencyHistogram, OperationsDay, gamma
from monitoring_assets.spec import MonitorSpec
from resources import _store, schema
from resources._engine import WarehouseEngine, days_relation
from resources._sql import DAY, Relation, SqlBuilder, as_date

POSITIVE, ZERO, MISSING = 0, 1, 2


def operations_statement(sql: SqlBuilder, rel: Relation, spec: MonitorSpec) -> tuple[sa.TextClause, dict[str, Any]]:
    ops = spec.operations
    assert ops is not None and rel.timestamp_column is not None
    params: dict[str, Any] = {}
    cols = [f"CAST({sql.col(rel.timestamp_column)} AS DATE) AS {DAY}"]
    if ops.latency_column:
        lat = f"CAST({sql.col(ops.latency_column)} AS DOUBLE PRECISION)"
        params["ln_gamma"] = math.log(gamma(ops.relative_accuracy))
        cols += [
            f"CASE WHEN {sql.finite(lat)} AND {lat} > 0 THEN {POSITIVE} WHEN {sql.finite(lat)} THEN {ZERO} "
            f"ELSE {MISSING} END AS c",
            f"CASE WHEN {sql.finite(lat)} AND {lat} > 0 THEN CAST(ceil(ln({lat}) / :ln_gamma) AS BIGINT) END AS k",
        ]
    else:
        cols += [f"{MISSING} AS c", "CAST(NULL AS BIGINT) AS k"]
    if ops.status_column:
        status = f"CAST({sql.col(ops.status_column)} AS VARCHAR)"
        names = [f":err{i}" for i in range(len(ops.error_values))]
        params |= {f"err{i}": v for i, v in enumerate(ops.error_values)}
        cols += [
            f"CASE WHEN {status} IS NOT NULL THEN 1 ELSE 0 END AS s",
            f"CASE WHEN {status} IN ({', '.join(names)}) THEN 1 ELSE 0 END AS e",
        ]
    else:
        cols += ["0 AS s", "0 AS e"]
    text = (
        f"SELECT {DAY}, c, k, count(*), sum(s), sum(e) FROM "
        f"(SELECT {', '.join(cols)} FROM {sql.table(rel.table)}{sql.where(rel, params)}) AS o GROUP BY {DAY}, c, k"
    )
    return sa.text(text), params


class OperationsStore:
    """The operational aggregates of one monitor's days, and their metric rows."""

    def __init__(self, db: WarehouseEngine) -> None:
        self._db = db

    def operations_days(self, spec: MonitorSpec, days: Sequence[dt.date]) -> dict[dt.date, OperationsDay]:
        """Each day's aggregates in one query; a day without rows has none."""
        ops = spec.operations
        assert ops is not None
        stmt, params = operations_statement(self._db.sql, days_relation(spec, min(days), max(days)), spec)
        columns = [c for c in (ops.latency_column, ops.status_column) if c]
        with self._db.begin_days(spec, columns=columns) as conn:
            rows = conn.execute(stmt, params).all()
        parts: dict[dt.date, dict[str, Any]] = {
            d: {"requests": 0, "with_status": 0, "errors": 0, "buckets": {}, "zero": 0, "missing": 0} for d in days
        }
        for day, c, k, n, with_status, errors in rows:
            p = parts.get(as_date(day))  # type: ignore[arg-type]
            if p is None:
                continue
            p["requests"] += int(n)
            p["with_status"] += int(with_status or 0)
            p["errors"] += int(errors or 0)
            if c == POSITIVE:
                p["buckets"][int(k)] = int(n)
            elif c == ZERO:
                p["zero"] += int(n)
            else:
                p["missing"] += int(n)
        return {
            d: OperationsDay(
                p["requests"],
                p["errors"],
                p["with_status"],
                LatencyHistogram(ops.relative_accuracy, p["buckets"], p["zero"], p["missing"])
                if ops.latency_column
                else None,
            )
            for d, p in parts.items()
        }

    def write_metrics(
        self, spec: MonitorSpec, metrics: Mapping[dt.date, tuple[Mapping[str, float], _store.Audit]]
    ) -> None:
        """Replace the days' rows of ``monitoring.operations_metrics`` (NaN stored as NULL)."""
        rows = [
            {
                "monitor": spec.name,
                "partition_date": day,
                "metric": name,
                "value": value if math.isfinite(value) else None,
                **audit.row(),
            }
            for day, (values, audit) in metrics.items()
            for name, value in values.items()
        ]
        t = schema.operations_metrics.c
        where = (t.monitor == spec.name) & _store._dates_in(t.partition_date, metrics)
        with self._db.writing(spec) as conn:
            _store._replace(conn, schema.operations_metrics, where, rows)
