"""Materialization metadata: numbers the Dagster UI plots over time, and markdown tables.

Only aggregates go here (counts, rates, means, drift values); never raw values, never min/max
(a single person's value) and never category labels.
"""

from __future__ import annotations

import math
from typing import Any

import dagster as dg

from monitoring_assets.core.evaluate import DatasetDrift, FeatureDrift
from monitoring_assets.core.profile import NumericProfile, Profile


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
    if math.isnan(f.value):
        return "no data"
    return "**DRIFT**" if f.drifted else "ok"


def drift_metadata(result: DatasetDrift, include_dataset: bool) -> dict[str, Any]:
    lines = ["| column | method | value | threshold | verdict |", "|---|---|---|---|---|"]
    lines += [
        f"| {f.feature} | {f.method} | {_fmt(f.value)} | {_fmt(f.threshold)} | {_verdict(f)} |" for f in result.features
    ]
    finite = [f for f in result.features if math.isfinite(f.value) and f.threshold > 0]
    largest = max(finite, key=lambda f: f.value / f.threshold, default=None)
    meta: dict[str, Any] = {
        "n_drifted": dg.MetadataValue.int(result.n_drifted),
        "results": dg.MetadataValue.md("\n".join(lines)),
    }
    if include_dataset:
        meta["drift_share"] = dg.MetadataValue.float(0.0 if math.isnan(result.share) else result.share)
        meta["dataset_drift"] = dg.MetadataValue.bool(result.drifted)
    if largest is not None:
        meta["largest_drift_feature"] = dg.MetadataValue.text(largest.feature)
        meta["largest_drift_ratio"] = dg.MetadataValue.float(largest.value / largest.threshold)
    for f in result.features:
        if math.isfinite(f.value):
            meta[f"{f.feature}/{f.method}"] = dg.MetadataValue.float(f.value)
    return meta
