"""Drift verdicts: apply thresholds to drift statistics. The statistics never decide."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitoring_assets.core.drift import column_kind, get_method
from monitoring_assets.core.profile import ColumnProfile, Profile
from monitoring_assets.core.thresholds import CalibratedThreshold, Threshold
from monitoring_assets.errors import ProfileError


@dataclass(frozen=True)
class FeatureDrift:
    """One column's drift verdict. ``value`` is NaN when the current day has no values."""

    feature: str
    kind: str
    method: str
    value: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DatasetDrift:
    """Dataset verdict: drifted when ``share = n_drifted / n_features >= drift_share``.

    Features whose value is NaN (no data that day) count in neither numerator nor denominator.
    """

    features: tuple[FeatureDrift, ...]
    drift_share: float
    n_drifted: int
    n_features: int
    share: float
    drifted: bool


@dataclass(frozen=True)
class ColumnRule:
    """How to judge one column: which method, with which threshold."""

    method: str
    threshold: Threshold


def is_drift(method: str, value: float, threshold: float) -> bool:
    if not math.isfinite(threshold) or math.isnan(value):
        return False
    if get_method(method).drift_when == "below":
        return value < threshold
    return value > threshold


def resolve_threshold(rule: ColumnRule, reference: ColumnProfile, windows: Sequence[ColumnProfile]) -> float:
    """The threshold's number; a calibrated threshold is fitted on the reference sub-windows."""
    if isinstance(rule.threshold, CalibratedThreshold):
        method = get_method(rule.method)
        values = [method.compute(reference, w) for w in windows]
        return rule.threshold.fit(values).value_
    return rule.threshold.value_


def evaluate_feature(
    name: str,
    rule: ColumnRule,
    reference: ColumnProfile,
    current: ColumnProfile,
    reference_windows: Sequence[ColumnProfile] = (),
) -> FeatureDrift:
    method = get_method(rule.method)
    kind = column_kind(reference)
    if kind not in method.column_kinds:
        raise ProfileError(f"drift method {method.name!r} does not apply to {kind} column {name!r}")
    threshold = resolve_threshold(rule, reference, reference_windows)
    value = method.compute(reference, current)
    return FeatureDrift(name, kind, method.name, value, threshold, is_drift(method.name, value, threshold))


def evaluate_drift(
    rules: Mapping[str, ColumnRule],
    reference: Profile,
    current: Profile,
    drift_share: float,
    reference_windows: Sequence[Profile] = (),
) -> DatasetDrift:
    """Judge every column in ``rules`` and the dataset as a whole."""
    results = tuple(
        evaluate_feature(
            name,
            rule,
            reference.columns[name],
            current.columns[name],
            [w.columns[name] for w in reference_windows],
        )
        for name, rule in rules.items()
    )
    judged = [r for r in results if not math.isnan(r.value)]
    n_drifted = sum(r.drifted for r in judged)
    share = n_drifted / len(judged) if judged else math.nan
    drifted = bool(judged) and share >= drift_share
    return DatasetDrift(results, drift_share, n_drifted, len(judged), share, drifted)
