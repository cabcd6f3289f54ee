"""The work behind each asset, without Dagster: warehouse in, verdicts and metric rows out.

Assets are thin wrappers over these functions; the benchmark calls them directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

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
from monitoring_assets.core.performance import (
    MetricVerdict,
    PerformanceAggregate,
    Tolerance,
    evaluate_performance,
    merge_aggregates,
    performance_metrics,
)
from monitoring_assets.core.profile import Profile
from monitoring_assets.core.thresholds import CalibratedThreshold
from monitoring_assets.errors import ProfileError
from monitoring_assets.spec import MonitorSpec, drift_rules
from resources._metrics import empty_aggregate
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
    agg = wh.metrics.reference_performance(spec)
    if agg is not None:
        wh.metrics.write_performance(
            spec, aggregates={}, metrics={("reference", None): performance_metrics(agg)}, audit=audit
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
        ("daily", d): performance_metrics(a) for d, a in (refreshed | daily).items()
    }
    versions = wh.metrics.model_versions(spec, sorted(reach | refreshed.keys()))
    with wh.metrics.performance_writer(spec, audit, versions) as writer:
        # The windows are derived from the days as stored once ours are written, under the monitor's
        # lock: a run writing a neighbouring day at the same time waits, then derives again with ours.
        writer.write_aggregates(refreshed | daily)
        stored = writer.read_aggregates(first - span, last + span)
        for day in sorted(reach & stored.keys()):
            window = [stored[w] for i in range(width) if (w := day - dt.timedelta(days=i)) in stored]
            metrics[(rolling, day)] = performance_metrics(merge_aggregates(window, empty_aggregate(spec)))
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
            column: slice_report(column, per_column.get(column, {}), f.min_slice_size, f.reference_groups.get(column))
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
    score = spec.prediction.score_column
    if scope == "prediction":
        return {score: rules[score]}
    return {k: v for k, v in rules.items() if k != score}


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
