"""Business KPIs, computed in the warehouse (the spec's ``business_metrics``).

One ``GROUP BY day`` pass returns, for every metric, its ``total`` and ``n`` (see
``monitoring_assets.core.business``) over the rows matching its ``where`` equalities. Columns are
quoted; every filter value and rate value is bound and compared as text
(``CAST(column AS VARCHAR) = :value``), so ``where: {approved: true}`` matches a boolean column
whose text is ``true`` on both engines.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from monitoring_assets.core.business import BusinessAggregate, BusinessVerdict
from monitoring_assets.spec import MonitorSpec
from monitoring_assets.spec._model import BusinessMetricSpec
from resources import _store, schema
from resources._engine import WarehouseEngine, days_relation, reference_relation
from resources._sql import DAY, Relation, SqlBuilder, as_date


def _text(value: object) -> str:
    """A spec value as the text the warehouse casts a column to (booleans as ``true`` / ``false``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _aggregates(sql: SqlBuilder, i: int, metric: BusinessMetricSpec, params: dict[str, Any]) -> tuple[str, str]:
    conditions = []
    for j, (column, value) in enumerate(metric.where.items()):
        params[f"b{i}w{j}"] = _text(value)
        conditions.append(f"CAST({sql.col(column)} AS VARCHAR) = :b{i}w{j}")
    col = sql.col(metric.column)
    if metric.aggregate == "rate":
        params[f"b{i}v"] = _text(metric.value)
        hit = f"CAST({col} AS VARCHAR) = :b{i}v"
        present = f"{col} IS NOT NULL"
    else:
        raw = f"CAST({col} AS DOUBLE PRECISION)"
        hit, present = "", sql.finite(raw)
    where = " AND ".join([*conditions, present])
    if metric.aggregate == "rate":
        return f"sum(CASE WHEN {where} AND {hit} THEN 1 ELSE 0 END)", f"count(CASE WHEN {where} THEN 1 END)"
    return f"sum(CASE WHEN {where} THEN {raw} END)", f"count(CASE WHEN {where} THEN 1 END)"


def business_statement(sql: SqlBuilder, rel: Relation, spec: MonitorSpec) -> tuple[sa.TextClause, dict[str, Any]]:
    """``day, total0, n0, total1, n1, ...`` of every business metric, grouped by day."""
    assert rel.timestamp_column is not None
    params: dict[str, Any] = {}
    aggs = [a for i, m in enumerate(spec.business_metrics) for a in _aggregates(sql, i, m, params)]
    text = (
        f"SELECT CAST({sql.col(rel.timestamp_column)} AS DATE) AS {DAY}, {', '.join(aggs)} "
        f"FROM {sql.table(rel.table)}{sql.where(rel, params)} GROUP BY {DAY}"
    )
    return sa.text(text), params


def business_columns(spec: MonitorSpec) -> list[str]:
    return list(dict.fromkeys(c for m in spec.business_metrics for c in (m.column, *m.where)))


class BusinessStore:
    """The business metrics of one monitor's days (and reference days), and their rows."""

    def __init__(self, db: WarehouseEngine) -> None:
        self._db = db

    def _run(self, spec: MonitorSpec, rel: Relation) -> dict[dt.date, dict[str, BusinessAggregate]]:
        stmt, params = business_statement(self._db.sql, rel, spec)
        with self._db.begin_days(spec, columns=business_columns(spec)) as conn:
            rows = conn.execute(stmt, params).all()
        out: dict[dt.date, dict[str, BusinessAggregate]] = {}
        for row in rows:
            day = as_date(row[0])
            if day is None:
                continue
            out[day] = {
                m.name: BusinessAggregate(float(row[1 + 2 * i] or 0.0), int(row[2 + 2 * i] or 0))
                for i, m in enumerate(spec.business_metrics)
            }
        return out

    def days(self, spec: MonitorSpec, days: Sequence[dt.date]) -> dict[dt.date, dict[str, BusinessAggregate]]:
        """Each day's aggregates in one query (a day without rows: ``n = 0``)."""
        found = self._run(spec, days_relation(spec, min(days), max(days)))
        empty = {m.name: BusinessAggregate(0.0, 0) for m in spec.business_metrics}
        return {d: found.get(d, empty) for d in days}

    def reference_days(self, spec: MonitorSpec) -> dict[dt.date, dict[str, BusinessAggregate]]:
        """Per reference day, for calibrated bands (needs a reference with a timestamp column)."""
        rel = reference_relation(spec)
        if rel.timestamp_column is None:
            return {}
        return self._run(spec, rel)

    def write(
        self, spec: MonitorSpec, verdicts: Mapping[dt.date, tuple[Sequence[BusinessVerdict], _store.Audit]]
    ) -> None:
        """Replace the days' rows of ``monitoring.business_metrics`` (NaN stored as NULL)."""
        rows = [
            {
                "monitor": spec.name,
                "partition_date": day,
                "metric": v.name,
                "value": v.value if math.isfinite(v.value) else None,
                "n": v.n,
                "lower": v.lower,
                "upper": v.upper,
                "status": "evaluated" if v.level.evaluated else "not_evaluated",
                **audit.row(),
            }
            for day, (day_verdicts, audit) in verdicts.items()
            for v in day_verdicts
        ]
        t = schema.business_metrics.c
        where = (t.monitor == spec.name) & _store._dates_in(t.partition_date, verdicts)
        with self._db.writing(spec) as conn:
            _store._replace(conn, schema.business_metrics, where, rows)
