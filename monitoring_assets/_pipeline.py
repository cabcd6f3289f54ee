"""The work behind each asset, without Dagster: warehouse in, verdicts and metric rows out.

Assets are thin wrappers over these functions; the benchmark calls them directly.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from monitoring_assets.core.business import BusinessAggregate, BusinessVerdict, calibrated_band, evaluate_business
from monitoring_assets.core.catalog import HIGHER_IS_BETTER, PRIMARY_METRIC
from monitoring_assets.core.drift import get_method
from monitoring_assets.core.evaluate import ColumnRule, DatasetDrift, evaluate_drift
from monitoring_assets.core.fairness import (
    DisparityVerdict,
    GroupCounts,
    SliceReport,
    evaluate_disparities,
    slice_report,
)
from monitoring_assets.core.guards import (
    GuardLimits,
    NullRateVerdict,
    VolumeVerdict,
    null_rate_finding,
    null_rate_verdicts,
    reference_daily_rate,
    volume_verdict,
)
from monitoring_assets.core.levels import Level
from monitoring_assets.core.multivariate import (
    MultivariateVerdict,
    ReconstructionPCA,
    Standardizer,
    evaluate_multivariate,
)
from monitoring_assets.core.operations import SloVerdict, evaluate_slos
from monitoring_assets.core.performance import (
    MetricVerdict,
    PerformanceAggregate,
    Tolerance,
    evaluate_performance,
    merge_aggregates,
    performance_metrics,
)
from monitoring_assets.core.profile import NumericProfile, Profile
from monitoring_assets.core.thresholds import CalibratedThreshold
from monitoring_assets.core.versions import VersionComparison, VersionSummary, compare, pairs
from monitoring_assets.errors import ProfileError
from monitoring_assets.spec import MonitorSpec, drift_rules
from monitoring_assets.spec._model import CalibratedThresholdSpec
from resources._metrics import empty_aggregate
from resources._moments import standardizer_columns
from resources._profiles import ReferenceProfile
from resources._store import Audit, model_version_label
from resources.warehouse import Warehouse

# Days profiled per query in a backfill: keeps each query bounded and gives progress to log.
CHUNK_DAYS = 31

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def build_reference(wh: Warehouse, spec: MonitorSpec, audit: Audit) -> ReferenceProfile:
    """Profile the reference, and measure performance on it when it has labels."""
    wh.check_columns(spec, "reference")
    ref = wh.profiles.profile_reference(spec)
    wh.profiles.write_reference(spec, ref, audit)
    if spec.drift.multivariate is not None:
        build_reference_moments(wh, spec, audit)
    agg = wh.metrics.reference_performance(spec)
    if agg is not None:
        wh.metrics.write_performance(
            spec,
            aggregates={},
            metrics={("reference", None): performance_metrics(agg, spec.prediction.classes)},
            audit=audit,
        )
    # The score's calibration for the estimate without labels, stored with the reference.
    from monitoring_assets._estimation import fit_calibrations  # noqa: PLC0415  (it imports scipy)

    wh.metrics.write_calibrations(spec, fit_calibrations(spec, agg), audit)
    return ref


def _chunks(days: Sequence[dt.date]) -> Iterator[list[dt.date]]:
    ordered = sorted(days)
    for i in range(0, len(ordered), CHUNK_DAYS):
        yield ordered[i : i + CHUNK_DAYS]


@dataclass(frozen=True)
class PerformanceDay:
    """One scoring day: its metrics, those of the rolling window ending that day, the verdicts."""

    metrics: dict[str, float]
    rolling: dict[str, float]
    verdicts: list[MetricVerdict]
    too_few_labels: bool


def tolerances(spec: MonitorSpec) -> dict[str, Tolerance]:
    return {
        m: Tolerance(t.warn, t.error, t.relative)
        for m, t in spec.performance.effective_tolerances(spec.prediction.task).items()
    }


def compute_performance(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], audit: Audit, progress: Progress = _quiet
) -> dict[dt.date, PerformanceDay]:
    """Aggregate each day's labeled rows in the warehouse, then merge stored daily aggregates into
    rolling windows. A day's new labels also change the windows of the ``rolling_days - 1`` days
    after it, so those stored windows are rewritten too (from aggregates, without a rescan)."""
    wh.check_columns(spec, "performance")
    width = spec.performance.rolling_days
    rolling = spec.performance.rolling_window
    daily: dict[dt.date, PerformanceAggregate] = {}
    for chunk in _chunks(days):
        daily |= wh.metrics.performance_aggregates(spec, chunk)
        progress(f"aggregated labeled rows of {len(daily)}/{len(days)} days (through {chunk[-1].isoformat()})")
    first, last = min(daily), max(daily)
    span = dt.timedelta(days=width - 1)
    # Neighbouring days an earlier release stored one row per cell cannot be merged: aggregate
    # them again from the warehouse (their rows are still there) and store them in today's layout.
    refreshed: dict[dt.date, PerformanceAggregate] = {}
    stale = sorted(wh.metrics.old_layout_days(spec, first - span, last + span) - daily.keys())
    if stale:
        progress(
            f"{len(stale)} day(s) of stored performance aggregates ({stale[0].isoformat()}..{stale[-1].isoformat()}) "
            "are in the layout of an earlier release: aggregating them again"
        )
        for chunk in _chunks(stale):
            refreshed |= wh.metrics.performance_aggregates(spec, chunk)
    reach = {d + dt.timedelta(days=i) for d in daily for i in range(width)}  # windows holding a day of ours
    metrics: dict[tuple[str, dt.date | None], dict[str, float]] = {
        ("daily", d): performance_metrics(a, spec.prediction.classes) for d, a in (refreshed | daily).items()
    }
    versions = wh.metrics.model_versions(spec, sorted(reach | refreshed.keys()))
    with wh.metrics.performance_writer(spec, audit, versions) as writer:
        # The windows are derived from the days as stored once ours are written, under the monitor's
        # lock: a run writing a neighbouring day at the same time waits, then derives again with ours.
        writer.write_aggregates(refreshed | daily)
        stored = writer.read_aggregates(first - span, last + span)
        for day in sorted(reach & stored.keys()):
            window = [stored[w] for i in range(width) if (w := day - dt.timedelta(days=i)) in stored]
            metrics[(rolling, day)] = performance_metrics(
                merge_aggregates(window, empty_aggregate(spec)), spec.prediction.classes
            )
        writer.write_metrics(metrics)
    reference = wh.metrics.read_performance(spec, "reference").get(None, {})
    tol = tolerances(spec)
    out = {}
    for day, agg in sorted(daily.items()):
        too_few = agg.n_valid < spec.performance.min_labeled
        values = metrics[("daily", day)]
        verdicts = [] if too_few else evaluate_performance(values, reference, tol)
        out[day] = PerformanceDay(values, metrics[(rolling, day)], verdicts, too_few)
    return out


def compute_fairness(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], audit: Audit, progress: Progress = _quiet
) -> dict[dt.date, dict[str, SliceReport]]:
    """Group counts per slice column in the warehouse, then group metrics and disparities."""
    wh.check_columns(spec, "fairness")
    layout = wh.profiles.read_layout(spec, spec.slices)
    counts: dict[dt.date, dict[str, dict[str, GroupCounts]]] = {}
    for chunk in _chunks(days):
        counts |= wh.metrics.slice_counts(spec, layout, chunk)
        progress(f"counted slices of {len(counts)}/{len(days)} days (through {chunk[-1].isoformat()})")
    f = spec.fairness
    reports = {
        day: {
            column: slice_report(
                column,
                per_column.get(column, {}),
                f.min_slice_size,
                f.reference_groups.get(column),
                spec.prediction.classes,
            )
            for column in spec.slices
        }
        for day, per_column in counts.items()
    }
    versions = wh.metrics.model_versions(spec, list(reports))
    wh.metrics.write_fairness(spec, reports, audit, versions)
    return reports


def disparity_verdicts(spec: MonitorSpec, reports: Mapping[str, SliceReport]) -> list[DisparityVerdict]:
    limits = {str(name): (t.warn, t.error) for name, t in spec.fairness.thresholds.items()}
    return evaluate_disparities(reports, limits)


def build_daily_profiles(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], audit: Audit, progress: Progress = _quiet
) -> dict[dt.date, Profile]:
    """Profile ``days`` in chunks of CHUNK_DAYS (one query each) and write them."""
    wh.check_columns(spec, "daily")
    layout = wh.profiles.read_layout(spec, spec.profiled_columns)
    ordered = sorted(days)
    out: dict[dt.date, Profile] = {}
    for i in range(0, len(ordered), CHUNK_DAYS):
        chunk = ordered[i : i + CHUNK_DAYS]
        profiles = wh.profiles.profile_days(spec, layout, chunk)
        wh.profiles.write_daily_profiles(spec, profiles, audit)
        out |= profiles
        progress(f"profiled {len(out)}/{len(ordered)} days (through {chunk[-1].isoformat()})")
    return out


def guard_limits(spec: MonitorSpec) -> GuardLimits:
    g = spec.guards
    return GuardLimits(g.min_rows, g.min_volume_ratio, g.null_rate_margin)


@dataclass(frozen=True)
class DayGuards:
    """One day's volume and null-rate verdicts (``null_rate``: the check's level and reason)."""

    volume: VolumeVerdict
    null_rates: list[NullRateVerdict]
    null_rate: tuple[Level, str]


def check_guards(wh: Warehouse, spec: MonitorSpec, profiles: Mapping[dt.date, Profile]) -> dict[dt.date, DayGuards]:
    """Volume and null rate of each profiled day against the stored reference (profiles only)."""
    limits = guard_limits(spec)
    columns = list(drift_rules(spec))
    ref = wh.profiles.read_reference(spec, columns, with_windows=False)
    rate = reference_daily_rate(ref.profile.n_rows, wh.profiles.reference_days(spec))
    out = {}
    for day, profile in sorted(profiles.items()):
        rates = null_rate_verdicts(ref.profile, profile, columns, limits)
        out[day] = DayGuards(
            volume_verdict(profile.n_rows, rate, limits), rates, null_rate_finding(rates, profile.n_rows, limits)
        )
    return out


def scope_rules(spec: MonitorSpec, scope: str) -> dict[str, ColumnRule]:
    """Rules of the features (``feature``) or of the prediction score (``prediction``)."""
    rules = drift_rules(spec)
    prediction = spec.prediction_drift_columns
    if scope == "prediction":
        return {c: rules[c] for c in prediction}
    return {k: v for k, v in rules.items() if k not in prediction}


@dataclass(frozen=True)
class DriftRun:
    """The days' drift verdicts, with the profiles they were judged on (for the pictures)."""

    results: dict[dt.date, DatasetDrift]
    reference: Profile
    profiles: dict[dt.date, Profile]


def compute_drift(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], scope: str, audit: Audit
) -> dict[dt.date, DatasetDrift]:
    """Drift of each day's stored profile against the stored reference; results written."""
    return compute_drift_run(wh, spec, days, scope, audit).results


def compute_drift_run(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], scope: str, audit: Audit) -> DriftRun:
    """:func:`compute_drift`, keeping the profiles."""
    rules = scope_rules(spec, scope)
    columns = list(rules)
    calibrated = [name for name, r in rules.items() if isinstance(r.threshold, CalibratedThreshold)]
    needs_windows = bool(calibrated)
    ref = wh.profiles.read_reference(spec, columns, with_windows=needs_windows, window_columns=calibrated)
    if needs_windows and len(ref.windows) < 2:
        raise ProfileError(
            f"monitor {spec.name!r} calibrates thresholds on reference sub-windows but its reference has "
            f"{len(ref.windows)} days; set reference.timestamp_column or use constant thresholds"
        )
    daily = wh.profiles.read_daily_profiles(spec, ref.layout, days, columns)
    windows = list(ref.windows.values())  # empty unless a threshold is calibrated
    results: dict[dt.date, tuple[DatasetDrift, Audit]] = {}
    limits = guard_limits(spec)
    for day in sorted(days):
        result = evaluate_drift(rules, ref.profile, daily[day], spec.drift.drift_share, windows, guards=limits)
        results[day] = (result, audit.with_version(model_version_label(daily[day].model_versions)))
    wh.profiles.write_drift(spec, scope, results)
    return DriftRun({day: result for day, (result, _) in results.items()}, ref.profile, daily)


def _standardizer(wh: Warehouse, spec: MonitorSpec) -> Standardizer:
    """From the stored reference profile: its numeric columns' means and spreads. Read back even
    right after the reference is built, so that its moments and every day's are standardized by the
    same stored floats (a variance stored and read back need not give the in-memory m2 bit for bit)."""
    columns = standardizer_columns(spec)
    ref = wh.profiles.read_reference(spec, columns, with_windows=False)
    return Standardizer.from_profiles(
        {c: p for c in columns if isinstance(p := ref.profile.columns[c], NumericProfile)}
    )


def build_reference_moments(wh: Warehouse, spec: MonitorSpec, audit: Audit) -> Standardizer:
    """The reference's moments of standardized features, whole and per day (multivariate drift)."""
    standardizer = _standardizer(wh, spec)
    whole, windows = wh.moments.reference_moments(spec, standardizer)
    wh.moments.write(spec, "reference", [(None, whole)], audit, clear_kind=True)
    wh.moments.write(spec, "reference_window", windows.items(), audit, clear_kind=True)
    return standardizer


@dataclass(frozen=True)
class MultivariateRun:
    """The days' verdicts and the PCA they were judged with."""

    verdicts: dict[dt.date, MultivariateVerdict]
    fitted: ReconstructionPCA
    excluded: tuple[str, ...]


def compute_multivariate(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], audit: Audit) -> MultivariateRun:
    """Each day's moments in one warehouse pass, then its reconstruction error against the
    reference PCA and threshold; moments and drift rows (scope ``multivariate``) written."""
    mv = spec.drift.multivariate
    assert mv is not None
    wh.check_columns(spec, "daily")
    standardizer = _standardizer(wh, spec)
    cols = standardizer.columns
    reference = wh.moments.read(spec, "reference", cols).get(None)
    if reference is None:
        raise ProfileError(
            f"no reference moments stored for {spec.name!r}: re-materialize {spec.name}/reference_profile"
        )
    fitted = ReconstructionPCA(mv.variance_share).fit(reference)
    threshold = mv.threshold
    if isinstance(threshold, CalibratedThresholdSpec):
        windows = wh.moments.read(spec, "reference_window", cols)
        errors = [fitted.error(m) for m in windows.values() if m.n >= spec.guards.min_rows]
        value = CalibratedThreshold(threshold.k).fit(errors).value_
    else:
        value = threshold if isinstance(threshold, float) else threshold.value
    moments = wh.moments.day_moments(spec, standardizer, days)
    versions = wh.metrics.model_versions(spec, list(days))
    wh.moments.write(spec, "daily", [(d, m) for d, m in moments.items()], audit)
    verdicts = {d: evaluate_multivariate(fitted, value, m, spec.guards.min_rows) for d, m in sorted(moments.items())}
    wh.moments.write_drift(spec, {d: (v, audit.with_version(versions.get(d))) for d, v in verdicts.items()})
    return MultivariateRun(verdicts, fitted, standardizer.excluded)


@dataclass(frozen=True)
class OperationsRun:
    """Each day's operational metrics and SLO verdicts."""

    metrics: dict[dt.date, dict[str, float]]
    verdicts: dict[dt.date, list[SloVerdict]]


def compute_operations(wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], audit: Audit) -> OperationsRun:
    """Aggregate the days' latencies and statuses in one warehouse pass, then the metrics and SLOs."""
    ops = spec.operations
    assert ops is not None
    wh.check_columns(spec, "operations")
    aggregates = wh.operations.operations_days(spec, days)
    metrics = {d: a.metrics() for d, a in sorted(aggregates.items())}
    versions = wh.metrics.model_versions(spec, list(days))
    wh.operations.write_metrics(spec, {d: (m, audit.with_version(versions.get(d))) for d, m in metrics.items()})
    limits = {str(name): (limit.warn, limit.error) for name, limit in ops.slo.items()}
    verdicts = {d: evaluate_slos(m, limits, ops.min_requests) for d, m in metrics.items()}
    return OperationsRun(metrics, verdicts)


def compute_business(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], audit: Audit
) -> dict[dt.date, list[BusinessVerdict]]:
    """Each day's business metrics in one warehouse pass, judged against their bands; rows written."""
    wh.check_columns(spec, "business")
    bands: dict[str, tuple[float | None, float | None]] = {}
    reference: dict[dt.date, dict[str, BusinessAggregate]] | None = None
    for m in spec.business_metrics:
        if m.threshold.type == "constant":
            bands[m.name] = (m.threshold.lower, m.threshold.upper)
            continue
        if reference is None:
            reference = wh.business.reference_days(spec)
        values = [day[m.name].value(m.aggregate) for day in reference.values() if day[m.name].n >= spec.guards.min_rows]
        try:
            bands[m.name] = calibrated_band(values, m.threshold.k)
        except ProfileError as e:
            raise ProfileError(f"business_metrics {m.name!r}: {e}") from None
    aggregates = wh.business.days(spec, days)
    versions = wh.metrics.model_versions(spec, list(days))
    out = {
        day: [
            evaluate_business(
                m.name,
                aggs[m.name].value(m.aggregate),
                aggs[m.name].n,
                bands[m.name],
                min_rows=spec.guards.min_rows,
                failing=Level.of(m.severity),
            )
            for m in spec.business_metrics
        ]
        for day, aggs in sorted(aggregates.items())
    }
    wh.business.write(spec, {d: (v, audit.with_version(versions.get(d))) for d, v in out.items()})
    return out


@dataclass(frozen=True)
class VersionsDay:
    """One day's versions (each summarized) and their comparisons."""

    summaries: list[VersionSummary]
    comparisons: list[VersionComparison]


def compute_versions(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], audit: Audit
) -> dict[dt.date, VersionsDay]:
    """Each day's model versions and shadow scores side by side: score profiles and positive rates
    in one warehouse pass, labeled aggregates per compared version; rows written."""
    vs = spec.versions
    assert vs is not None
    wh.check_columns(spec, "versions")
    score = spec.prediction.score_column
    assert score is not None  # the spec refuses versions for a multiclass model
    bins = wh.profiles.read_layout(spec, [score]).numeric[score]
    found = wh.versions.summaries(spec, bins, days)
    plan = {d: pairs(per.keys(), {v: rows for v, (_, rows, _) in per.items()}) for d, per in found.items()}
    compared = sorted({v for day_pairs in plan.values() for pair in day_pairs for v in pair})
    labeled = {v: wh.versions.labeled(spec, v, days) for v in compared} if spec.labels is not None else {}
    metric = PRIMARY_METRIC[spec.prediction.task]
    drift = get_method(spec.drift.methods.numeric).compute
    out = {}
    for day in sorted(days):
        summaries = {}
        for version, (profile, rows, positives) in sorted(found[day].items()):
            agg = labeled.get(version, {}).get(day)
            n_labeled = agg.n_valid if agg is not None else 0
            metrics = performance_metrics(agg) if agg is not None and n_labeled else {}
            rate = positives / rows if rows and spec.prediction.task == "binary_classification" else math.nan
            summaries[version] = VersionSummary(version, rows, rate, profile, n_labeled, metrics)
        comparisons = [
            compare(
                summaries[newer],
                summaries[older],
                metric=metric,
                higher_is_better=HIGHER_IS_BETTER[metric],
                tolerance=vs.tolerance,
                min_rows=vs.min_rows,
                min_labeled=vs.min_labeled,
                drift=drift,
                failing=Level.of(vs.severity),
            )
            for newer, older in plan[day]
        ]
        out[day] = VersionsDay(list(summaries.values()), comparisons)
    wh.versions.write(spec, {d: (v.summaries, v.comparisons, audit) for d, v in out.items()})
    return out
