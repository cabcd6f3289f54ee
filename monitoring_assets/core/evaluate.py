"""Drift verdicts: apply thresholds to drift statistics. The statistics never decide.

A column is either *evaluated* (a value, a threshold, drifted or not) or *not evaluated* with the
reason (too few rows or values that day, a failed null-rate check, no comparable values: see
:mod:`monitoring_assets.core.guards`); a column not evaluated is never drift and never "no
drift". Constant reference columns under a method that divides by the reference's spread
(``DriftMethod.divides_by_reference_std``, i.e. ``wasserstein``) use
:func:`~monitoring_assets.core.guards.constant_reference_share` instead, against the same
threshold, and say so in ``reason``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from monitoring_assets.core.drift import DriftMethod, column_kind, get_method
from monitoring_assets.core.guards import (
    CONSTANT_REFERENCE_NOTE,
    GuardLimits,
    constant_reference_share,
    is_constant,
    not_evaluated,
    null_rate_verdicts,
)
from monitoring_assets.core.profile import ColumnProfile, NumericProfile, Profile
from monitoring_assets.core.thresholds import CalibratedThreshold, Threshold
from monitoring_assets.errors import ProfileError

Status = Literal["evaluated", "not_evaluated"]


@dataclass(frozen=True)
class FeatureDrift:
    """One column's drift verdict. Not evaluated: ``value`` NaN, ``drifted`` False (stored NULL)
    and ``reason`` says why; an evaluated column's ``reason`` is empty or a note on the rule used."""

    feature: str
    kind: str
    method: str
    value: float
    threshold: float
    drifted: bool
    status: Status = "evaluated"
    reason: str = ""

    @property
    def evaluated(self) -> bool:
        return self.status == "evaluated"


@dataclass(frozen=True)
class DatasetDrift:
    """Dataset verdict: drifted when ``share = n_drifted / n_features >= drift_share``.

    ``n_features`` counts the evaluated columns only: columns not evaluated count in neither
    numerator nor denominator, and ``reason`` names them. With no column evaluated, the dataset
    is not evaluated either (``share`` NaN, ``drifted`` False, ``reason`` why).
    """

    features: tuple[FeatureDrift, ...]
    drift_share: float
    n_drifted: int
    n_features: int
    share: float
    drifted: bool
    reason: str = ""

    @property
    def evaluated(self) -> bool:
        return self.n_features > 0

    @property
    def left_out(self) -> tuple[FeatureDrift, ...]:
        return tuple(f for f in self.features if not f.evaluated)


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


def _constant_rule(method: DriftMethod, reference: ColumnProfile) -> bool:
    return method.divides_by_reference_std and isinstance(reference, NumericProfile) and is_constant(reference)


def statistic(method: DriftMethod, reference: ColumnProfile, current: ColumnProfile) -> float:
    """The method's value, or the constant-reference rule's where the method divides by the
    reference's spread and that spread is 0."""
    if _constant_rule(method, reference):
        assert isinstance(reference, NumericProfile) and isinstance(current, NumericProfile)
        return constant_reference_share(reference, current)
    return method.compute(reference, current)


def resolve_threshold(rule: ColumnRule, reference: ColumnProfile, windows: Sequence[ColumnProfile]) -> float:
    """The threshold's number; a calibrated threshold is fitted on the reference sub-windows."""
    if isinstance(rule.threshold, CalibratedThreshold):
        method = get_method(rule.method)
        values = [statistic(method, reference, w) for w in windows]
        return rule.threshold.fit(values).value_
    return rule.threshold.value_


def evaluate_feature(
    name: str,
    rule: ColumnRule,
    reference: ColumnProfile,
    current: ColumnProfile,
    reference_windows: Sequence[ColumnProfile] = (),
    *,
    not_evaluated_reason: str | None = None,
) -> FeatureDrift:
    """The column's verdict; ``not_evaluated_reason`` (from the guards) skips the statistic."""
    method = get_method(rule.method)
    kind = column_kind(reference)
    if kind not in method.column_kinds:
        raise ProfileError(f"drift method {method.name!r} does not apply to {kind} column {name!r}")
    threshold = resolve_threshold(rule, reference, reference_windows)
    if not_evaluated_reason is not None:
        return FeatureDrift(name, kind, method.name, math.nan, threshold, False, "not_evaluated", not_evaluated_reason)
    value = statistic(method, reference, current)
    if math.isnan(value):
        return FeatureDrift(name, kind, method.name, value, threshold, False, "not_evaluated", "no comparable values")
    note = CONSTANT_REFERENCE_NOTE if _constant_rule(method, reference) else ""
    return FeatureDrift(name, kind, method.name, value, threshold, is_drift(method.name, value, threshold), reason=note)


def _dataset_reason(results: Sequence[FeatureDrift]) -> str:
    left_out = [r for r in results if not r.evaluated]
    if not left_out:
        return ""
    reasons = {r.reason for r in left_out}
    if len(left_out) == len(results) and len(reasons) == 1:
        return next(iter(reasons))  # e.g. the day's "1 row, minimum 100"
    listed = "; ".join(f"{r.feature} ({r.reason})" for r in left_out)
    return f"no column evaluated: {listed}" if len(left_out) == len(results) else f"left out: {listed}"


def evaluate_drift(
    rules: Mapping[str, ColumnRule],
    reference: Profile,
    current: Profile,
    drift_share: float,
    reference_windows: Sequence[Profile] = (),
    *,
    guards: GuardLimits | None = None,
) -> DatasetDrift:
    """Judge every column in ``rules`` and the dataset as a whole. With ``guards``, columns too
    thin to judge or failing the null-rate check are not evaluated (see the module docstring)."""
    skip: dict[str, str] = {}
    if guards is not None:
        rates = {v.column: v for v in null_rate_verdicts(reference, current, rules, guards)}
        skip = not_evaluated(current, rules, rates, guards)
    results = tuple(
        evaluate_feature(
            name,
            rule,
            reference.columns[name],
            current.columns[name],
            # Only a calibrated threshold reads the windows, which may hold just those columns.
            [w.columns[name] for w in reference_windows] if isinstance(rule.threshold, CalibratedThreshold) else [],
            not_evaluated_reason=skip.get(name),
        )
        for name, rule in rules.items()
    )
    judged = [r for r in results if r.evaluated]
    n_drifted = sum(r.drifted for r in judged)
    share = n_drifted / len(judged) if judged else math.nan
    drifted = bool(judged) and share >= drift_share
    return DatasetDrift(results, drift_share, n_drifted, len(judged), share, drifted, _dataset_reason(results))
