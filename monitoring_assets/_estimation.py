"""The work behind ``estimated_performance``, without Dagster: the calibration fitted with the
reference profile, and each day's estimate from stored profiles alone (no scan of the day's rows).

Imported at step time only (numpy, scipy and SQLAlchemy through the warehouse).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitoring_assets.core.estimate import (
    ESTIMATED_METRICS,
    BinaryEstimate,
    CalibrationError,
    IsotonicCalibration,
    ScoreHistogram,
    estimate_binary,
)
from monitoring_assets.core.levels import Level, worst
from monitoring_assets.core.performance import (
    BinaryAggregate,
    MetricVerdict,
    PerformanceAggregate,
    Tolerance,
    evaluate_performance,
)
from monitoring_assets.core.profile import NumericProfile, score_cells_column
from monitoring_assets.spec import MonitorSpec
from resources._profiles import probability_columns
from resources._store import Audit, StoredCalibration, model_version_label
from resources.warehouse import Warehouse

METHOD = "isotonic"


def fit_calibrations(spec: MonitorSpec, reference: PerformanceAggregate | None) -> list[StoredCalibration]:
    """One calibration per probability column from the reference's labeled score histograms; a
    column that cannot be calibrated is stored with the reason (the estimate then says it)."""
    out = []
    n_bins = spec.performance.score_bins
    for column in probability_columns(spec):
        if not isinstance(reference, BinaryAggregate):
            reason = "the reference has no labels" if reference is None else "the reference is not binary"
            out.append(StoredCalibration(column, METHOD, n_bins, 0, 0, None, reason))
            continue
        n_labeled, n_positive = int(reference.hist.sum()), int(reference.hist[1].sum())
        try:
            cal = IsotonicCalibration(min_labeled=spec.performance.min_labeled).fit(reference.hist)
        except CalibrationError as e:
            out.append(StoredCalibration(column, METHOD, n_bins, n_labeled, n_positive, None, str(e)))
            continue
        out.append(StoredCalibration(column, METHOD, n_bins, n_labeled, n_positive, cal.p_, None))
    return out


@dataclass(frozen=True)
class EstimatedDay:
    """One day's estimate (None when not evaluated, with ``reason``), its verdicts against the
    reference's realized metrics, and its check finding (level, reason)."""

    n_scored: int
    estimate: BinaryEstimate | None
    verdicts: list[MetricVerdict]
    finding: tuple[Level, str]

    def metrics(self) -> dict[str, float]:
        """The rows written: every estimated number, or only ``n_scored`` on a day not evaluated."""
        return self.estimate.as_metrics() if self.estimate is not None else {"n_scored": float(self.n_scored)}


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4g}"


def _finding(est: BinaryEstimate, verdicts: Sequence[MetricVerdict]) -> tuple[Level, str]:
    judged = [v for v in verdicts if v.level.evaluated]
    if not judged:
        toleranced = ", ".join(v.metric for v in verdicts) or "none"
        return Level.NOT_EVALUATED, (
            f"no toleranced metric ({toleranced}) could be estimated and compared with the reference "
            f"(estimated: {', '.join(ESTIMATED_METRICS)})"
        )
    failing = [v for v in judged if v.level.failed]
    band = {v.metric: f"[{_fmt(est.lower(v.metric))}, {_fmt(est.upper(v.metric))}]" for v in judged}
    if not failing:
        said = ", ".join(f"{v.metric} {_fmt(v.value)} {band[v.metric]} (reference {_fmt(v.reference)})" for v in judged)
        return Level.OK, f"estimated within tolerance: {said}"
    return worst(v.level for v in failing), "; ".join(
        f"estimated {v.metric} {_fmt(v.value)} {band[v.metric]} vs reference {_fmt(v.reference)} ({v.level.upper()})"
        for v in failing
    )


def estimate_day(
    column: NumericProfile | None,
    calibration: StoredCalibration | None,
    spec: MonitorSpec,
    reference: Mapping[str, float],
    tolerances: Mapping[str, Tolerance],
) -> EstimatedDay:
    """The estimate of one day from its fine score histogram, or "not evaluated" with the reason."""
    hist = ScoreHistogram.from_profile(column) if column is not None else None
    n = hist.n if hist is not None else 0

    def skipped(reason: str) -> EstimatedDay:
        return EstimatedDay(n, None, [], (Level.NOT_EVALUATED, reason))

    if calibration is None:
        return skipped("no calibration stored: re-materialize reference_profile")
    if calibration.p is None:
        return skipped(f"the score is not calibrated: {calibration.reason}")
    if hist is None:
        return skipped("the day's profile has no fine score histogram: re-materialize reference_profile, then the day")
    minimum = spec.performance.min_labeled
    if n < minimum:
        return skipped(f"too few scored rows ({n} with a valid score, minimum {minimum})")
    cal = IsotonicCalibration.from_fitted(calibration.p, calibration.n_labeled, calibration.n_positive)
    est = estimate_binary(hist, cal, spec.prediction.threshold)
    verdicts = evaluate_performance(est.values, reference, tolerances)
    return EstimatedDay(n, est, verdicts, _finding(est, verdicts))


def compute_estimated_performance(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], audit: Audit, tolerances: Mapping[str, Tolerance]
) -> dict[dt.date, EstimatedDay]:
    """Each day's estimate from its stored daily profile and the stored calibration (no rows
    scanned); written as ``kind = 'estimated'`` rows of performance_metrics."""
    score = spec.prediction.score_column
    assert score is not None  # built for binary monitors only (_estimate_assets.estimates)
    name = score_cells_column(score)
    calibration = wh.metrics.read_calibrations(spec).get(score)
    layout = wh.profiles.read_layout(spec, [])
    columns = [name] if name is not None and name in layout.numeric else []
    profiles = wh.profiles.read_daily_profiles(spec, layout, days, columns)
    reference = wh.metrics.read_performance(spec, "reference").get(None, {})
    out: dict[dt.date, EstimatedDay] = {}
    for day in sorted(days):
        col = profiles[day].columns.get(name) if name is not None else None
        out[day] = estimate_day(
            col if isinstance(col, NumericProfile) else None, calibration, spec, reference, tolerances
        )
    versions = {d: model_version_label(p.model_versions) for d, p in profiles.items()}
    wh.metrics.write_estimated(spec, {d: e.metrics() for d, e in out.items()}, audit, versions)
    return out
