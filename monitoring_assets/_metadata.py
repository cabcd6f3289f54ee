"""Materialization metadata: numbers the Dagster UI plots over time, and markdown tables.

Only aggregates go here (counts, rates, means, drift values); never raw values, never min/max
(a single person's value) and never category labels.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from monitoring_assets._day_checks import drift_item, drift_ratios, ratio
from monitoring_assets.core.catalog import PRIMARY_METRIC, TASK_METRICS

if TYPE_CHECKING:
    # numpy: this module is loaded while definitions are built, which must not import it
    # (tests/test_definitions.py); the steps that call these functions have it loaded.
    from monitoring_assets._pipeline import DayGuards, PerformanceDay
    from monitoring_assets.core.evaluate import DatasetDrift, FeatureDrift
    from monitoring_assets.core.fairness import DisparityVerdict, SliceReport
    from monitoring_assets.core.profile import Profile

# Per-partition keys the retraining sensor reads back from materialization events.
DATASET_DRIFT_KEY = "dataset_drift"
PERFORMANCE_CHECK_KEY = "performance_check"


def _float(x: float) -> dg.MetadataValue:
    """A plotted number, rounded to 4 significant digits: the UI shows floats as stored."""
    return dg.MetadataValue.float(float(f"{x:.4g}") if math.isfinite(x) else x)


def _fmt(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}g}"


def profile_metadata(profile: Profile) -> dict[str, Any]:
    from monitoring_assets.core.profile import NumericProfile, is_score_cells  # noqa: PLC0415  (step time, see the imports)

    lines = ["| column | kind | non-null | null rate | non-finite | mean | std |", "|---|---|---|---|---|---|---|"]
    null_rates = []
    for name, col in profile.columns.items():
        if is_score_cells(name):  # the score's fine histogram, for the estimate: the score has its own row
            continue
        null_rate = col.null_count / col.n_rows if col.n_rows else math.nan
        if not math.isnan(null_rate):
            null_rates.append(null_rate)
        if isinstance(col, NumericProfile):
            lines.append(
                f"| {name} | numeric | {col.count} | {_fmt(null_rate)} | {col.nonfinite_count} "
                f"| {_fmt(col.mean)} | {_fmt(col.std)} |"
            )
        else:
            lines.append(f"| {name} | categorical | {col.count} | {_fmt(null_rate)} | - | - | - |")
    meta: dict[str, Any] = {
        "row_count": dg.MetadataValue.int(profile.n_rows),
        "columns": dg.MetadataValue.md("\n".join(lines)),
    }
    # A day of no rows has no null rate: a 0 here would plot as a perfectly complete day.
    if null_rates:
        meta["max_null_rate"] = _float(max(null_rates))
    return meta


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
    finite = [f for f in result.features if math.isfinite(ratio(f))]
    largest = max(finite, key=ratio, default=None)
    meta: dict[str, Any] = {
        "n_drifted": dg.MetadataValue.int(result.n_drifted),
        "n_not_evaluated": dg.MetadataValue.int(len(result.left_out)),
        "results": dg.MetadataValue.md("\n".join(lines)),
    }
    if include_dataset and result.evaluated:
        meta["drift_share"] = _float(result.share)
        meta[DATASET_DRIFT_KEY] = dg.MetadataValue.bool(result.drifted)
    elif include_dataset:
        # Neither drift nor no drift: the retraining sensor reads null as "no verdict that day".
        meta[DATASET_DRIFT_KEY] = dg.MetadataValue.null()
        meta["not_evaluated"] = dg.MetadataValue.text(f"not evaluated: {result.reason}")
    if largest is not None:
        meta["largest_drift_feature"] = dg.MetadataValue.text(largest.feature)
        meta["largest_drift_ratio"] = _float(ratio(largest))
    for f in result.features:
        if math.isfinite(f.value):
            meta[f"{f.feature}/{f.method}"] = _float(f.value)
    return meta


def guard_metadata(day: DayGuards) -> dict[str, Any]:
    """Per-partition volume and null-rate numbers of daily_profile (plottable)."""
    meta: dict[str, Any] = {
        "volume": dg.MetadataValue.text(day.volume.level.value),
        "null_rate_failures": dg.MetadataValue.int(sum(v.failed for v in day.null_rates)),
    }
    if day.volume.daily_rate:
        meta["volume_vs_reference_rate"] = _float(day.volume.n_rows / day.volume.daily_rate)
    return meta


def performance_metadata(task: str, day: PerformanceDay, reference: Mapping[str, float]) -> dict[str, Any]:
    """Primary metric, label coverage and counts as plottable numbers; all metrics as a table
    (daily, rolling window, reference)."""
    primary = PRIMARY_METRIC[task]
    lines = ["| metric | daily | rolling | reference |", "|---|---|---|---|"]
    per_class = [m for m in day.metrics if "." in m]  # multiclass: recall.<class>, precision.<class>, ...
    for metric in [*TASK_METRICS[task], *per_class]:
        lines.append(
            f"| {metric} | {_fmt(day.metrics.get(metric, math.nan))} | {_fmt(day.rolling.get(metric, math.nan))} "
            f"| {_fmt(reference.get(metric, math.nan))} |"
        )
    # NaN cannot be plotted, and a stand-in 0 would plot as a real value: a number is left out on
    # days it is undefined (label coverage of a day with no scored rows, a metric with no labels).
    meta: dict[str, Any] = {
        "n_scored": dg.MetadataValue.int(int(day.metrics["n_scored"])),
        "n_labeled": dg.MetadataValue.int(int(day.metrics["n_labeled"])),
        **_finite_floats({"label_coverage": day.metrics.get("label_coverage")}),
        "too_few_labels": dg.MetadataValue.bool(day.too_few_labels),
        "metrics": dg.MetadataValue.md("\n".join(lines)),
    }
    for count in ("n_invalid_labels", "n_invalid_scores", "n_duplicate_ids", "n_duplicate_labels"):
        if count in day.metrics:
            meta[count] = dg.MetadataValue.int(int(day.metrics[count]))
    meta |= _finite_floats({primary: day.metrics.get(primary), f"rolling_{primary}": day.rolling.get(primary)})
    # Multiclass: each class's recall over time shows a class the model stops finding.
    meta |= _finite_floats({m: day.metrics[m] for m in per_class if m.startswith("recall.")})
    return meta


def _finite_floats(values: Mapping[str, float | None]) -> dict[str, dg.MetadataValue]:
    """The defined values as plotted numbers; undefined ones (None, NaN) are left out."""
    return {key: _float(x) for key, x in values.items() if x is not None and math.isfinite(x)}


def fairness_metadata(reports: Mapping[str, SliceReport], verdicts: list[DisparityVerdict]) -> dict[str, Any]:
    """Per-group metrics of unsuppressed groups only; suppressed groups are counted, never shown."""
    lines = [
        "| slice | group | n | selection rate | TPR | FPR | precision | accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    suppressed = 0
    for column, report in reports.items():
        for group, v in report.groups.items():
            if "selection_rate" not in v:  # multiclass: accuracy and the rate of each predicted class
                rates = ", ".join(f"{k.split('.', 1)[1]} {_fmt(x)}" for k, x in v.items() if k.startswith("selection_"))
                lines.append(f"| {column} | {group} | {int(v['n'])} | {rates} | | | | {_fmt(v['accuracy'])} |")
                continue
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
        "failed_disparities": dg.MetadataValue.int(sum(v.level.failed for v in verdicts)),
    }
    for name in ("demographic_parity_difference", "equalized_odds_difference"):
        values = [r.disparities[name] for r in reports.values() if math.isfinite(r.disparities.get(name, math.nan))]
        if values:
            meta[f"worst_{name}"] = _float(max(values))
    return meta


# -- pictures (aggregates only: monitoring_assets._plots) ----------------------------------------
# _plots is imported in each function below, not at the top: it loads matplotlib, which would slow
# every start of the code location (run and step processes included) by over half a second.

PICTURE_DAYS = 7  # a run draws the per-day pictures of its last 7 days (each costs ~0.2 s to draw)
TOP_FEATURES = 3  # distributions drawn per day: the drifted features furthest over their threshold


def _picture(png: bytes, alt: str) -> dg.MetadataValue:
    from monitoring_assets import _plots  # noqa: PLC0415 - matplotlib: see above

    return dg.MetadataValue.md(_plots.markdown_image(png, alt))


def distribution_pictures(
    result: DatasetDrift, reference: Profile, current: Profile, *, min_count: int, scope: str
) -> dict[str, Any]:
    """Reference against current for the day's drifted features (the top few by value over
    threshold), or for the score; nothing on a feature day without drift."""
    ratios = {f.feature: r for f, r in ((f, ratio(f)) for f in result.features) if math.isfinite(r)}
    if scope == "prediction":
        chosen = [f for f in result.features if f.evaluated]
    else:
        drifted = [f for f in result.features if f.drifted and f.feature in ratios]
        chosen = sorted(drifted, key=lambda f: -ratios[f.feature])[:TOP_FEATURES]
    if not chosen:
        return {}
    from monitoring_assets import _plots  # noqa: PLC0415 - matplotlib: see above

    images = []
    for f in chosen:
        note = drift_item(f).removeprefix(f"{f.feature} ") + (" (drift)" if f.drifted else "")
        png = _plots.distribution_png(
            reference.columns[f.feature], current.columns[f.feature], column=f.feature, min_count=min_count, note=note
        )
        images.append(_plots.markdown_image(png, f"{f.feature}: reference against this day"))
    return {"distributions": dg.MetadataValue.md("\n\n".join(images))}


def heatmap_picture(results: Mapping[dt.date, DatasetDrift], drift_share: float) -> dict[str, Any]:
    """The run's days x features, value over threshold (>= 1: drift), and the dataset drift
    share per day against ``drift_share``."""
    ratios = {day: drift_ratios(r) for day, r in results.items()}
    shares = {day: r.share for day, r in results.items() if r.evaluated}
    days = sorted(results)
    span = f"{days[0]}..{days[-1]}" if days else ""
    from monitoring_assets import _plots  # noqa: PLC0415 - matplotlib: see above

    return {
        "drift_heatmap": _picture(
            _plots.heatmap_png(ratios, title=f"drift value / threshold per day, {span}"), "drift heat-map"
        ),
        "drift_share_over_days": _picture(
            _plots.drift_over_days_png(shares, label="share of drifted features", threshold=drift_share),
            "dataset drift share per day",
        ),
    }


def performance_picture(
    metric: str,
    daily: Mapping[dt.date, float],
    coverage: Mapping[dt.date, float],
    reference: float | None,
    bands: Sequence[tuple[str, float]],
) -> dict[str, Any]:
    from monitoring_assets import _plots  # noqa: PLC0415 - matplotlib: see above

    png = _plots.metric_over_days_png(daily, metric=metric, reference=reference, bands=bands, coverage=coverage)
    return {"performance_over_days": _picture(png, f"{metric} per day")}


def fairness_picture(reports: Mapping[str, SliceReport], limit: float, disparity: str) -> dict[str, Any]:
    rate = "selection_rate" if disparity.startswith("demographic_parity") else "true_positive_rate"
    from monitoring_assets import _plots  # noqa: PLC0415 - matplotlib: see above

    png = _plots.group_rates_png(
        reports, rate=rate, limit=limit, title=f"{rate} per group ({disparity} limit {limit:g})"
    )
    return {"group_rates": _picture(png, f"{rate} per group")}


def estimate_picture(
    metric: str,
    estimated: Mapping[dt.date, tuple[float, float, float]],
    realized: Mapping[dt.date, float],
    reference: float | None,
    bands: Sequence[tuple[str, float]],
) -> dict[str, Any]:
    from monitoring_assets import _plots  # noqa: PLC0415 - matplotlib: see above

    png = _plots.estimate_over_days_png(estimated, realized, metric=metric, reference=reference, bands=bands)
    return {"estimate_over_days": _picture(png, f"{metric} estimated and realized per day")}
