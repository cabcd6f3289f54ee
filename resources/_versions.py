"""Model versions side by side, in the warehouse: each version's score profile and positive rate per
day, and its labeled aggregates (``monitoring_assets.core.versions`` says what is compared).

One ``GROUP BY (day, version, cell)`` pass, a ``UNION ALL`` branch per scored column: the live
score grouped by ``source.model_version_column`` (as text), and each shadow score column over all
rows under the name ``shadow:<column>`` (with the live score as ``live`` beside them). Cells are
the reference's bins of the live score (the binning contract of ``monitoring_assets.core.profile``);
per cell the rows, NULL scores, the sum, population variance, min and max of the finite values and
the rows predicted positive. Labeled aggregates are the performance aggregates of one version's
rows (``LabeledRows.version_filter``) or of a shadow score in the live score's place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa

from monitoring_assets.core.performance import PerformanceAggregate
from monitoring_assets.core.profile import NumericBins, NumericProfile
from monitoring_assets.core.versions import LIVE, SHADOW_PREFIX, VersionComparison, VersionSummary
from monitoring_assets.spec import MonitorSpec
from resources import _store, schema
from resources._engine import WarehouseEngine, days_relation
from resources._labels_sql import LabeledRows
from resources._metrics import MetricTables
from resources._sql import DAY, Relation, SqlBuilder, as_date, numeric_exprs


def _branch(
    sql: SqlBuilder,
    rel: Relation,
    spec: MonitorSpec,
    bins: NumericBins,
    *,
    column: str,
    version: str | None,
    params: dict[str, Any],
    i: int,
) -> str:
    """One scored column's groups; ``version`` None: grouped by the model version column."""
    assert rel.timestamp_column is not None
    raw, finite, cell = numeric_exprs(sql, i, column, bins, params)
    if version is None:
        assert spec.source.model_version_column is not None
        label = f"CAST({sql.col(spec.source.model_version_column)} AS VARCHAR)"
    else:
        params[f"v{i}"] = version
        label = f"CAST(:v{i} AS VARCHAR)"
    if spec.prediction.task != "binary_classification":
        positive = "0"
    elif version is None and spec.prediction.label_column:
        positive = f"CASE WHEN CAST({sql.col(spec.prediction.label_column)} AS INTEGER) = 1 THEN 1 ELSE 0 END"
    else:
        params["threshold"] = spec.prediction.threshold
        positive = f"CASE WHEN {sql.finite(raw)} AND {raw} >= :threshold THEN 1 ELSE 0 END"
    inner = (
        f"SELECT CAST({sql.col(rel.timestamp_column)} AS DATE) AS {DAY}, {label} AS v, {cell} AS k, "
        f"{finite} AS x, CASE WHEN {raw} IS NULL THEN 1 ELSE 0 END AS nul, "
        f"{positive} AS pos FROM {sql.table(rel.table)}{sql.where(rel, params)}"
    )
    return (
        f"SELECT {DAY}, v, k, count(*), sum(nul), sum(x), var_pop(x), min(x), max(x), sum(pos) "
        f"FROM ({inner}) AS b{i} GROUP BY {DAY}, v, k"
    )


def versions_statement(
    sql: SqlBuilder, rel: Relation, spec: MonitorSpec, bins: NumericBins
) -> tuple[sa.TextClause, dict[str, Any]]:
    params: dict[str, Any] = {}
    score = spec.prediction.score_column
    assert score is not None  # the spec refuses versions for a model without one score (multiclass)
    branches = []
    if spec.source.model_version_column:
        branches.append(_branch(sql, rel, spec, bins, column=score, version=None, params=params, i=0))
    shadows = spec.prediction.shadow_score_columns
    if shadows:
        branches.append(_branch(sql, rel, spec, bins, column=score, version=LIVE, params=params, i=1))
        for j, column in enumerate(shadows):
            branches.append(
                _branch(sql, rel, spec, bins, column=column, version=SHADOW_PREFIX + column, params=params, i=2 + j)
            )
    return sa.text(" UNION ALL ".join(branches)), params


def _profile(bins: NumericBins, groups: Sequence[tuple[Any, ...]]) -> tuple[NumericProfile, int, int]:
    """A version's score profile from its cell groups, merging (rows, mean, var) by Chan's formula;
    also its rows and its rows predicted positive."""
    hist = np.zeros(bins.n_cells, dtype=np.int64)
    cell_sum = np.zeros(bins.n_cells)
    rows = positives = nulls = 0
    lo, hi = math.inf, -math.inf
    stats: list[tuple[int, float, float]] = []
    for k, n, nul, total, var, low, high, pos in groups:
        rows, positives, nulls = rows + int(n), positives + int(pos or 0), nulls + int(nul or 0)
        if k is None:
            continue
        hist[int(k)] += int(n)
        cell_sum[int(k)] += float(total)
        lo, hi = min(lo, float(low)), max(hi, float(high))
        stats.append((int(n), float(total) / int(n), float(var or 0.0)))
    count = int(hist.sum())
    mean = float(cell_sum.sum()) / count if count else math.nan
    m2 = sum(n * v + n * (m - mean) ** 2 for n, m, v in stats) if count else 0.0
    profile = NumericProfile(
        bins,
        count,
        nulls,
        rows - count - nulls,
        lo if count else math.nan,
        hi if count else math.nan,
        mean,
        m2,
        hist,
        float(cell_sum[0]),
        float(cell_sum[-1]),
    )
    return profile, rows, positives


class VersionStore:
    """Per day and version: score profiles, positive rates, labeled aggregates; and their rows."""

    def __init__(self, db: WarehouseEngine, metrics: MetricTables) -> None:
        self._db = db
        self._metrics = metrics

    def summaries(
        self, spec: MonitorSpec, bins: NumericBins, days: Sequence[dt.date]
    ) -> dict[dt.date, dict[str, tuple[NumericProfile, int, int]]]:
        """Per day, per version (model versions, ``live`` and ``shadow:<column>``): its score
        profile, rows and rows predicted positive. Rows without a model version are left out."""
        stmt, params = versions_statement(self._db.sql, days_relation(spec, min(days), max(days)), spec, bins)
        columns = [c for c in (spec.prediction.score_column, *spec.prediction.shadow_score_columns) if c]
        with self._db.begin_days(spec, columns=columns) as conn:
            rows = conn.execute(stmt, params).all()
        groups: dict[tuple[dt.date, str], list[tuple[Any, ...]]] = {}
        for day, version, *rest in rows:
            d = as_date(day)
            if d is not None and version is not None:
                groups.setdefault((d, str(version)), []).append(tuple(rest))
        out: dict[dt.date, dict[str, tuple[NumericProfile, int, int]]] = {d: {} for d in days}
        for (d, version), parts in groups.items():
            if d in out:
                out[d][version] = _profile(bins, parts)
        return out

    def labeled(self, spec: MonitorSpec, version: str, days: Sequence[dt.date]) -> dict[dt.date, PerformanceAggregate]:
        """The labeled aggregates of one version's rows, a shadow score's, or the live score's."""
        column = spec.source.model_version_column
        if version == LIVE:
            return self._metrics.performance_aggregates(spec, days)
        if version.startswith(SHADOW_PREFIX):
            shadow = version.removeprefix(SHADOW_PREFIX)

            def variant(rows: LabeledRows) -> LabeledRows:
                return dataclasses.replace(rows, score_column=shadow, predicted_column=None)

        else:
            assert column is not None

            def variant(rows: LabeledRows) -> LabeledRows:
                return dataclasses.replace(rows, version_filter=(column, version))

        return self._metrics.variant_aggregates(spec, days, variant)

    def write(
        self,
        spec: MonitorSpec,
        results: Mapping[dt.date, tuple[Sequence[VersionSummary], Sequence[VersionComparison], _store.Audit]],
    ) -> None:
        """Replace the days' rows of ``monitoring.version_metrics``."""
        rows = []
        for day, (summaries, comparisons, audit) in results.items():
            stamp = audit.row()
            key = {"monitor": spec.name, "partition_date": day, **stamp}
            for s in summaries:
                values = {"rows": s.rows, "positive_rate": s.positive_rate, "n_labeled": s.n_labeled, **s.metrics}
                for metric, value in values.items():
                    rows.append(
                        {
                            **key,
                            "model_version": s.version,
                            "compared_with": None,
                            "metric": metric,
                            "value": _clean(value),
                            "status": "evaluated",
                        }
                    )
            for c in comparisons:
                values = {
                    "score_drift": c.score_drift,
                    "positive_rate_change": c.positive_rate_change,
                    f"{c.metric}_change": c.newer_value - c.older_value,
                }
                status = "evaluated" if c.level.evaluated else "not_evaluated"
                for metric, value in values.items():
                    rows.append(
                        {
                            **key,
                            "model_version": c.newer,
                            "compared_with": c.older,
                            "metric": metric,
                            "value": _clean(value),
                            "status": status,
                        }
                    )
        t = schema.version_metrics.c
        where = (t.monitor == spec.name) & _store._dates_in(t.partition_date, results)
        with self._db.writing(spec) as conn:
            _store._replace(conn, schema.version_metrics, where, rows)


def _clean(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
