"""The work behind each asset, without Dagster: warehouse in, verdicts and metric rows out.

Assets are thin wrappers over these functions; the benchmark calls them directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from monitoring_assets.core.evaluate import ColumnRule, DatasetDrift, evaluate_drift
from monitoring_assets.core.profile import Profile
from monitoring_assets.core.thresholds import CalibratedThreshold
from monitoring_assets.errors import ProfileError
from monitoring_assets.spec import MonitorSpec, drift_rules
from resources._store import Audit
from resources.warehouse import ReferenceProfile, Warehouse

# Days profiled per query in a backfill: keeps each query bounded and gives progress to log.
CHUNK_DAYS = 31

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def build_reference(wh: Warehouse, spec: MonitorSpec, audit: Audit) -> ReferenceProfile:
    ref = wh.profile_reference(spec)
    wh.write_reference(spec, ref, audit)
    return ref


def build_daily_profiles(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], audit: Audit, progress: Progress = _quiet
) -> dict[dt.date, Profile]:
    """Profile ``days`` in chunks of CHUNK_DAYS (one query each) and write them."""
    layout = wh.read_layout(spec, [*spec.numeric_columns, *spec.categorical_columns])
    ordered = sorted(days)
    out: dict[dt.date, Profile] = {}
    for i in range(0, len(ordered), CHUNK_DAYS):
        chunk = ordered[i : i + CHUNK_DAYS]
        profiles = wh.profile_days(spec, layout, chunk)
        wh.write_daily_profiles(spec, profiles, audit)
        out |= profiles
        progress(f"profiled {len(out)}/{len(ordered)} days (through {chunk[-1].isoformat()})")
    return out


def scope_rules(spec: MonitorSpec, scope: str) -> dict[str, ColumnRule]:
    """Rules of the features (``feature``) or of the prediction score (``prediction``)."""
    rules = drift_rules(spec)
    score = spec.prediction.score_column
    if scope == "prediction":
        return {score: rules[score]}
    return {k: v for k, v in rules.items() if k != score}


def compute_drift(
    wh: Warehouse, spec: MonitorSpec, days: Sequence[dt.date], scope: str, audit: Audit
) -> dict[dt.date, DatasetDrift]:
    """Drift of each day's stored profile against the stored reference; results written."""
    rules = scope_rules(spec, scope)
    columns = list(rules)
    needs_windows = any(isinstance(r.threshold, CalibratedThreshold) for r in rules.values())
    ref = wh.read_reference(spec, columns, with_windows=needs_windows)
    if needs_windows and len(ref.windows) < 2:
        raise ProfileError(
            f"monitor {spec.name!r} calibrates thresholds on reference sub-windows but its reference has "
            f"{len(ref.windows)} days; set reference.timestamp_column or use constant thresholds"
        )
    daily = wh.read_daily_profiles(spec, ref.layout, days, columns)
    windows = list(ref.windows.values())  # empty unless a threshold is calibrated
    results: dict[dt.date, tuple[DatasetDrift, Audit]] = {}
    for day in sorted(days):
        result = evaluate_drift(rules, ref.profile, daily[day], spec.drift.drift_share, windows)
        stamped = Audit(audit.run_id, audit.spec_hash, next(iter(daily[day].model_versions), None), audit.computed_at)
        results[day] = (result, stamped)
    wh.write_drift(spec, scope, results)
    return {day: result for day, (result, _) in results.items()}
