"""What the monitoring said, read back from the metric tables (schema ``monitoring``) alone.

The demo's summary and the monitoring report (``monitoring_assets.report``) read through here:
row counts, drift rows, performance and fairness levels, slice reports, data-quality failures.
Every query is SQLAlchemy Core on ``resources.schema`` tables, values bound. ``days`` limits a
reader to those days; None reads every stored day.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from expectations._store import read_levels
from monitoring_assets import _pipeline
from monitoring_assets.core.business import evaluate_business
from monitoring_assets.core.fairness import SliceReport
from monitoring_assets.core.levels import Level, worst
from monitoring_assets.core.operations import evaluate_slos
from monitoring_assets.core.performance import PRIMARY_METRIC, evaluate_performance
from monitoring_assets.spec import MonitorSpec
from resources import schema
from resources._store import ESTIMATED
from resources.warehouse import Warehouse


def _worst(levels: Sequence[Level]) -> Level:
    """The worst of a day's verdict levels (OK when the day has none to judge)."""
    return worst(levels) if levels else Level.OK


def enough_labels(spec: MonitorSpec, values: Mapping[str, float]) -> bool:
    """Whether a day's stored aggregates have enough valid labels to judge (the rule
    ``_pipeline.compute_performance`` applies: labeled minus invalid rows >= min_labeled)."""
    return bool(values.get("n_labeled", 0) - values.get("n_invalid", 0) >= spec.performance.min_labeled)


@contextmanager
def _reading(wh: Warehouse) -> Iterator[sa.Connection]:
    """A transaction over the metric tables, created where missing (a warehouse not yet
    monitored reads as no rows, like ``Warehouse.metrics.read_performance``)."""
    with wh.begin() as conn:
        schema.ensure_tables(conn)
        yield conn


def _in_days(column: sa.ColumnElement[dt.date], days: Sequence[dt.date] | None) -> sa.ColumnElement[bool]:
    return sa.true() if days is None else column.in_(list(days))


def row_counts(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None = None) -> dict[dt.date, int]:
    """Rows of each profiled day (days never profiled are absent; a profiled empty day is 0)."""
    p = schema.profile_metrics.c
    with _reading(wh) as conn:
        rows = conn.execute(
            sa.select(p.partition_date, p.value).where(
                (p.monitor == spec.name)
                & (p.profile == "daily")
                & (p.column_name == schema.TABLE_ROW)
                & (p.metric == "row_count")
                & _in_days(p.partition_date, days)
            )
        ).fetchall()
    return {day: int(value or 0) for day, value in rows}


@dataclass(frozen=True)
class DriftRow:
    """One row of ``monitoring.drift_metrics``; ``value`` and ``drifted`` are None when not evaluated."""

    day: dt.date
    scope: str  # feature, prediction or multivariate
    feature: str  # a column, or ``__dataset__`` (method drift_share) for the dataset verdict
    method: str
    value: float | None
    threshold: float | None
    drifted: bool | None
    status: str  # evaluated or not_evaluated
    reason: str

    @property
    def evaluated(self) -> bool:
        return self.status == "evaluated" and self.value is not None

    @property
    def ratio(self) -> float:
        """value / threshold (>= 1 is drift for every method); NaN when not evaluated."""
        if not self.evaluated or not self.threshold:
            return math.nan
        assert self.value is not None
        return self.value / self.threshold


def drift_rows(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None = None) -> list[DriftRow]:
    """The stored drift rows, by day and feature."""
    d = schema.drift_metrics.c
    with _reading(wh) as conn:
        rows = conn.execute(
            sa.select(
                d.partition_date, d.scope, d.feature, d.method, d.value, d.threshold, d.drifted, d.status, d.reason
            )
            .where((d.monitor == spec.name) & _in_days(d.partition_date, days))
            .order_by(d.partition_date, d.scope, d.feature)
        ).fetchall()
    return [
        DriftRow(
            day,
            scope,
            feature,
            method,
            None if value is None else float(value),
            None if threshold is None else float(threshold),
            None if drifted is None else bool(drifted),
            status or "evaluated",
            reason or "",
        )
        for day, scope, feature, method, value, threshold, drifted, status, reason in rows
    ]


@dataclass(frozen=True)
class DayPerformance:
    """A day's stored performance as the check judges it."""

    label_coverage: float
    primary_metric: float  # the task's primary metric on the day's labeled rows
    level: Level  # NOT_EVALUATED when the day has too few valid labels
    too_few_labels: bool


NO_PERFORMANCE = DayPerformance(math.nan, math.nan, Level.NOT_EVALUATED, False)  # no labeled rows stored


def performance_levels(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None = None
) -> dict[dt.date, DayPerformance]:
    """Per day: label coverage, primary metric and the check level, from the stored metrics."""
    reference = wh.metrics.read_performance(spec, "reference").get(None, {})
    tolerances = _pipeline.tolerances(spec)
    primary = PRIMARY_METRIC[spec.prediction.task]
    out = {}
    for day, values in wh.metrics.read_performance(spec, "daily", days).items():
        assert day is not None
        judged = enough_labels(spec, values)
        level = _worst([v.level for v in evaluate_performance(values, reference, tolerances)]) if judged else None
        out[day] = DayPerformance(
            values.get("label_coverage", math.nan),
            values.get(primary, math.nan),
            level or Level.NOT_EVALUATED,
            not judged,
        )
    return out


def slice_reports(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None = None
) -> dict[dt.date, dict[str, SliceReport]]:
    """The stored slice reports per day and slice column: unsuppressed groups' metrics, the
    suppressed groups' names (as stored: callers show only their count) and the disparities."""
    f = schema.fairness_metrics.c
    with _reading(wh) as conn:
        rows = conn.execute(
            sa.select(f.partition_date, f.slice_column, f.slice_value, f.metric, f.value, f.n, f.suppressed).where(
                (f.monitor == spec.name) & _in_days(f.partition_date, days)
            )
        ).fetchall()
    groups: dict[tuple[dt.date, str], dict[str, dict[str, float]]] = {}
    suppressed: dict[tuple[dt.date, str], list[str]] = {}
    disparities: dict[tuple[dt.date, str], dict[str, float]] = {}
    for day, column, group, metric, value, n, hidden in rows:
        key = (day, column)
        number = math.nan if value is None else float(value)
        if hidden:
            suppressed.setdefault(key, []).append(group)
        elif group == schema.ALL_GROUPS:
            disparities.setdefault(key, {})[metric] = number
        else:
            groups.setdefault(key, {}).setdefault(group, {"n": float(n or 0)})[metric] = number
    out: dict[dt.date, dict[str, SliceReport]] = {}
    references = spec.fairness.reference_groups
    for key in sorted(groups.keys() | suppressed.keys() | disparities.keys()):
        day, column = key
        compared = f"reference group {references[column]}" if column in references else "extremes"
        out.setdefault(day, {})[column] = SliceReport(
            column, groups.get(key, {}), sorted(suppressed.get(key, [])), disparities.get(key, {}), compared
        )
    return out


def fairness_levels(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None = None
) -> dict[dt.date, tuple[float, Level]]:
    """Per day: the largest demographic parity difference over slice columns, and the worst level."""
    out = {}
    for day, reports in slice_reports(wh, spec, days).items():
        verdicts = _pipeline.disparity_verdicts(spec, reports)
        level = _worst([v.level for v in verdicts])
        dp = [r.disparities.get("demographic_parity_difference", math.nan) for r in reports.values()]
        out[day] = (max((x for x in dp if math.isfinite(x)), default=math.nan), level)
    return out


@dataclass(frozen=True)
class QualityFailure:
    """A failed expectation on one day, as the data_quality check's metadata shows it (never the
    failing values themselves, which stay in the table's ``unexpected_values``)."""

    day: dt.date
    severity: str
    expectation: str
    column: str | None
    observed: str
    expected: str


def quality_failures(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None = None) -> list[QualityFailure]:
    q = schema.quality_results.c
    with _reading(wh) as conn:
        rows = conn.execute(
            sa.select(q.partition_date, q.severity, q.expectation_type, q.column_name, q.observed, q.expected)
            .where((q.monitor == spec.name) & ~q.success & _in_days(q.partition_date, days))
            .order_by(q.partition_date, q.expectation_index)
        ).fetchall()
    return [QualityFailure(d, s, t, c, o or "", e or "") for d, s, t, c, o, e in rows]


@dataclass(frozen=True)
class DaySummary:
    day: dt.date
    rows: int
    drifted_features: tuple[str, ...]
    drift_share: float
    dataset_drift: bool
    prediction_drift: bool
    label_coverage: float = math.nan
    primary_metric: float = math.nan  # daily ROC AUC (binary) or MAE (regression)
    performance: Level = Level.NOT_EVALUATED  # worst check level of the day
    too_few_labels: bool = False  # performance not evaluated: too few valid labels
    worst_disparity: float = math.nan  # largest demographic parity difference over slice columns
    fairness: Level = Level.NOT_EVALUATED  # worst disparity level
    quality: Level = Level.NOT_EVALUATED  # worst failed expectation of the day's suite (OK: none failed)
    drift_blocked: bool = False  # no drift computed: data quality failed critically
    estimated_metric: float = math.nan  # the primary metric estimated without labels (binary)
    multivariate: Level = Level.NOT_EVALUATED  # no_multivariate_drift (WARN: drifted)
    slo: Level = Level.NOT_EVALUATED  # the operations block's worst SLO
    business: Level = Level.NOT_EVALUATED  # the worst business metric against its limits


def estimated_primary(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None) -> dict[dt.date, float]:
    """The primary metric estimated without labels on each day that has it (kind = 'estimated')."""
    if spec.prediction.task != "binary_classification" or spec.labels is None:
        return {}
    primary = PRIMARY_METRIC[spec.prediction.task]
    rows = wh.metrics.read_performance(spec, "daily", days, metrics=[primary], kind=ESTIMATED)
    return {d: v[primary] for d, v in rows.items() if d is not None and primary in v}


def signal_levels(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None) -> dict[str, dict[dt.date, Level]]:
    """Per day, the levels of the operations SLOs and the business metrics, judged again from their
    stored rows by the checks' own rules (operations_metrics against the spec's limits;
    business_metrics against the limits stored with them)."""
    out: dict[str, dict[dt.date, Level]] = {"slo": {}, "business": {}}
    with _reading(wh) as conn:
        if spec.operations is not None:
            o = schema.operations_metrics.c
            found: dict[dt.date, dict[str, float]] = {}
            rows = conn.execute(
                sa.select(o.partition_date, o.metric, o.value).where(
                    (o.monitor == spec.name) & _in_days(o.partition_date, days)
                )
            )
            for day, metric, value in rows:
                found.setdefault(day, {})[metric] = math.nan if value is None else float(value)
            limits = {str(m): (lim.warn, lim.error) for m, lim in spec.operations.slo.items()}
            for day, values in found.items():
                verdicts = evaluate_slos(values, limits, spec.operations.min_requests)
                out["slo"][day] = worst(v.level for v in verdicts) if verdicts else Level.OK
        if spec.business_metrics:
            b = schema.business_metrics.c
            severity = {m.name: Level.of(m.severity) for m in spec.business_metrics}
            stored = conn.execute(
                sa.select(b.partition_date, b.metric, b.value, b.n, b.lower, b.upper).where(
                    (b.monitor == spec.name) & _in_days(b.partition_date, days)
                )
            )
            for day, metric, value, n, lower, upper in stored:
                verdict = evaluate_business(
                    metric,
                    math.nan if value is None else float(value),
                    int(n),
                    (lower, upper),
                    min_rows=spec.guards.min_rows,
                    failing=severity.get(metric, Level.WARN),
                )
                out["business"][day] = worst([out["business"].get(day, Level.NOT_EVALUATED), verdict.level])
    return out


def day_summaries(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date] | None = None) -> list[DaySummary]:
    """Per-day rows, drift, performance and fairness verdicts, read back from the metric tables:
    every day with drift rows, and every day whose drift data quality blocked."""
    rows = row_counts(wh, spec, days)
    features: dict[dt.date, list[str]] = {}
    share: dict[dt.date, float] = {}
    dataset: dict[dt.date, bool] = {}
    prediction: dict[dt.date, bool] = {}
    multivariate: dict[dt.date, Level] = {}
    for r in drift_rows(wh, spec, days):
        features.setdefault(r.day, [])
        if r.scope == "multivariate":
            multivariate[r.day] = Level.NOT_EVALUATED if r.drifted is None else Level.WARN if r.drifted else Level.OK
        elif r.feature == schema.DATASET_ROW:
            share[r.day], dataset[r.day] = math.nan if r.value is None else r.value, bool(r.drifted)
        elif r.scope == "prediction":
            prediction[r.day] = bool(r.drifted)
        elif r.scope == "feature" and r.drifted:  # not the multivariate row: it is no feature
            features[r.day].append(r.feature)
    performance = performance_levels(wh, spec, days) if spec.labels else {}
    fairness = fairness_levels(wh, spec, days) if spec.labels and spec.slices else {}
    quality = read_levels(wh, spec, days)
    estimated = estimated_primary(wh, spec, days)
    signals = signal_levels(wh, spec, days)
    out = []
    for day in sorted(features.keys() | {d for d, level in quality.items() if level is Level.ERROR}):
        perf = performance.get(day, NO_PERFORMANCE)
        disparity, fair = fairness.get(day, (math.nan, Level.NOT_EVALUATED))
        out.append(
            DaySummary(
                day,
                rows.get(day, 0),
                tuple(features.get(day, [])),
                share.get(day, math.nan),
                dataset.get(day, False),
                prediction.get(day, False),
                perf.label_coverage,
                perf.primary_metric,
                perf.level,
                perf.too_few_labels,
                disparity,
                fair,
                quality.get(day, Level.NOT_EVALUATED),
                drift_blocked=day not in features and quality.get(day) is Level.ERROR,
                estimated_metric=estimated.get(day, math.nan),
                multivariate=multivariate.get(day, Level.NOT_EVALUATED),
                slo=signals["slo"].get(day, Level.NOT_EVALUATED),
                business=signals["business"].get(day, Level.NOT_EVALUATED),
            )
        )
    return out
