"""Materialization metadata: numbers the Dagster UI plots over time, and markdown tables.

Only aggregates go here (counts, rates, means, drift values); never raw values, never min/max
(a single person's value) and never category labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

from monitoring_assets.core.evaluate import DatasetDrift, FeatureDrift
from monitoring_assets.core.fairness import DisparityVerdict, SliceReport
from monitoring_assets.core.performance import PRIMARY_METRIC, TASK_METRICS
from monitoring_assets.core.profile import NumericProfile, Profile

if TYPE_CHECKING:
    from monitoring_assets._pipeline import DayGuards, PerformanceDay

# Per-partition keys the retraining sensor reads back from materialization events.
DATASET_DRIFT_KEY = "dataset_drift"
PERFORMANCE_CHECK_KEY = "performance_check"


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}g}"


def profile_metadata(profile: Profile) -> dict[str, Any]:
    lines = ["| column | kind | non-null | null rate | non-finite | mean | std |", "|---|---|---|---|---|---|---|"]
    worst_null = 0.0
    for name, col in profile.columns.items():
        null_rate = col.null_count / col.n_rows if col.n_rows else math.nan
        worst_null = max(worst_null, 0.0 if math.isnan(null_rate) else null_rate)
        if isinstance(col, NumericProfile):
            lines.append(
                f"| {name} | numeric | {col.count} | {_fmt(null_rate)} | {col.nonfinite_count} "
                f"| {_fmt(col.mean)} | {_fmt(col.std)} |"
            )
        else:
            lines.append(f"| {name} | categorical | {col.count} | {_fmt(null_rate)} | - | - | - |")
    return {
        "row_count": dg.MetadataValue.int(profile.n_rows),
        "max_null_rate": dg.MetadataValue.float(worst_null),
        "columns": dg.MetadataValue.md("\n".join(lines)),
    }


def _verdict(f: FeatureDrift) -> str:
    if not f.evaluated:
        return f"not evaluated: {f.reason}"
    verdict = "**DRIFT**" if f.drifted else "ok"
    return f"{verdict} ({f.reason})" if f.reason else verdict


def drift_metadata(result: DatasetDrift, include_dataset: bool) -> dict[str, Any]:
    lines = ["| column | method | value | threshold | verdict |", "|---|---|---|---|---|"]
    lines += [
        f"| {f.feature} | {f.method} | {_fmt(f.value)} | {_fmt(f.threshold)} | {_verdict(f)} |" for f in result.features
    ]
    finite = [f for f in result.features if math.isfinite(f.value) and f.threshold > 0]
    largest = max(finite, key=lambda f: f.value / f.threshold, default=None)
    meta: dict[str, Any] = {
        "n_drifted": dg.MetadataValue.int(result.n_drifted),
        "n_not_evaluated": dg.MetadataValue.int(len(result.left_out)),
        "results": dg.MetadataValue.md("\n".join(lines)),
    }
    if include_dataset and result.evaluated:
        meta["drift_share"] = dg.MetadataValue.float(result.share)
        meta[DATASET_DRIFT_KEY] = dg.MetadataValue.bool(result.drifted)
    elif include_dataset:
        # Neither drift nor no drift: the retraining sensor reads null as "no verdict that day".
        meta[DATASET_DRIFT_KEY] = dg.MetadataValue.null()
        meta["not_evaluated"] = dg.MetadataValue.text(f"not evaluated: {result.reason}")
    if largest is not None:
        meta["largest_drift_feature"] = dg.MetadataValue.text(largest.feature)
        meta["largest_drift_ratio"] = dg.MetadataValue.float(largest.value / largest.threshold)
    for f in result.features:
        if math.isfinite(f.value):
            meta[f"{f.feature}/{f.method}"] = dg.MetadataValue.float(f.value)
    return meta


def guard_metadata(day: DayGuards) -> dict[str, Any]:
    """Per-partition volume and null-rate numbers of daily_profile (plottable)."""
    meta: dict[str, Any] = {
        "volume": dg.MetadataValue.text(day.volume.level),
        "null_rate_failures": dg.MetadataValue.int(sum(v.failed for v in day.null_rates)),
    }
    if day.volume.daily_rate:
        meta["volume_vs_reference_rate"] = dg.MetadataValue.float(day.volume.n_rows / day.volume.daily_rate)
    return meta


def performance_metadata(task: str, day: PerformanceDay, reference: Mapping[str, float]) -> dict[str, Any]:
    """Primary metric, label coverage and counts as plottable numbers; all metrics as a table
    (daily, rolling window, reference)."""
    primary = PRIMARY_METRIC[task]
    lines = ["| metric | daily | rolling | reference |", "|---|---|---|---|"]
    for metric in TASK_METRICS[task]:
        lines.append(
            f"| {metric} | {_fmt(day.metrics.get(metric, math.nan))} | {_fmt(day.rolling.get(metric, math.nan))} "
            f"| {_fmt(reference.get(metric, math.nan))} |"
        )
    meta: dict[str, Any] = {
        "n_scored": dg.MetadataValue.int(int(day.metrics["n_scored"])),
        "n_labeled": dg.MetadataValue.int(int(day.metrics["n_labeled"])),
        "label_coverage": dg.MetadataValue.float(_finite(day.metrics["label_coverage"])),
        "too_few_labels": dg.MetadataValue.bool(day.too_few_labels),
        "metrics": dg.MetadataValue.md("\n".join(lines)),
    }
    for count in ("n_invalid_labels", "n_invalid_scores", "n_duplicate_ids", "n_duplicate_labels"):
        meta[count] = dg.MetadataValue.int(int(day.metrics.get(count, 0)))
    # NaN cannot be plotted; leave a metric out on days it is undefined (e.g. no labels yet).
    for key, value in ((primary, day.metrics.get(primary)), (f"rolling_{primary}", day.rolling.get(primary))):
        if value is not None and math.isfinite(value):
            meta[key] = dg.MetadataValue.float(value)
    return meta


def fairness_metadata(reports: Mapping[str, SliceReport], verdicts: list[DisparityVerdict]) -> dict[str, Any]:
    """Per-group metrics of unsuppressed groups only; suppressed groups are counted, never shown."""
    lines = [
        "| slice | group | n | selection rate | TPR | FPR | precision | accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    suppressed = 0
    for column, report in reports.items():
        for group, v in report.groups.items():
            lines.append(
                f"| {column} | {group} | {int(v['n'])} | {_fmt(v['selection_rate'])} | "
                f"{_fmt(v['true_positive_rate'])} | {_fmt(v['false_positive_rate'])} | {_fmt(v['precision'])} | "
                f"{_fmt(v['accuracy'])} |"
            )
        suppressed += len(report.suppressed)
    lines += ["", "| slice | disparity | value | compared |", "|---|---|---|---|"]
    for column, report in reports.items():
        lines += [
            f"| {column} | {name} | {_fmt(value)} | {report.compared} |" for name, value in report.disparities.items()
        ]
    meta: dict[str, Any] = {
        "suppressed_groups": dg.MetadataValue.int(suppressed),
        "groups": dg.MetadataValue.md("\n".join(lines)),
        "failed_disparities": dg.MetadataValue.int(sum(v.level in ("warn", "error") for v in verdicts)),
    }
    for name in ("demographic_parity_difference", "equalized_odds_difference"):
        values = [r.disparities[name] for r in reports.values() if math.isfinite(r.disparities.get(name, math.nan))]
        if values:
            meta[f"worst_{name}"] = dg.MetadataValue.float(max(values))
    return meta


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0
