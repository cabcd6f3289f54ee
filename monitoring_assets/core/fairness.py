"""Fairness slices as a pure function of per-group counts.

For one slice column, each group (a value of the column: the reference's top K, ``__other__``
for the rest, ``__null__`` for missing) has counts that merge by addition: rows, rows with a
predicted label, predicted positives, and on valid labeled rows the confusion counts.

Per group: ``n``, ``selection_rate`` (predicted positives / rows with a prediction, labeled or
not), and on labeled rows ``true_positive_rate``, ``false_positive_rate``, ``precision``,
``accuracy``.

Privacy and noise: a group with fewer than ``min_size`` rows is *suppressed*: none of its values
leave this module. A rate whose own denominator (e.g. a group's labeled positives, for the TPR)
is under ``min_size`` is reported but left out of the disparities, where a handful of rows would
make a gap out of noise.

Disparities per slice column, over the groups that are left:

* ``demographic_parity_difference`` / ``_ratio``: of selection rates;
* ``equal_opportunity_difference``: of true positive rates;
* ``equalized_odds_difference``: the larger of the TPR and FPR differences.

Without a reference group they are taken between the extreme groups (difference = largest rate
minus smallest, ratio = smallest / largest), as fairlearn defines them. With a reference group
``g0`` the difference is the largest ``|rate_g - rate_g0|`` and the ratio the smallest
``min(rate_g, rate_g0) / max(rate_g, rate_g0)`` over the other groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from monitoring_assets.core import catalog
from monitoring_assets.core.levels import Level

# The catalog's tables (monitoring_assets/core/catalog.py, numpy-free), importable from here too.
DISPARITIES = catalog.DISPARITIES

NULL_GROUP = "__null__"  # the group of rows whose slice value is NULL; OTHER holds the rest
GROUP_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision", "accuracy")


@dataclass(frozen=True)
class GroupCounts:
    n: int = 0
    n_predicted: int = 0
    n_predicted_positive: int = 0
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((2, 2), np.int64))  # [label, predicted]

    def merge(self, other: GroupCounts) -> GroupCounts:
        return GroupCounts(
            self.n + other.n,
            self.n_predicted + other.n_predicted,
            self.n_predicted_positive + other.n_predicted_positive,
            self.confusion + other.confusion,
        )


def _rate(num: int, den: int, min_den: int) -> tuple[float, bool]:
    """The rate, and whether its denominator is large enough to compare."""
    return (num / den if den else math.nan), den >= min_den


@dataclass(frozen=True)
class SliceReport:
    column: str
    groups: dict[str, dict[str, float]]  # unsuppressed groups only: n and GROUP_METRICS
    suppressed: list[str]
    disparities: dict[str, float]
    compared: str  # "extremes" or "reference group <value>"


def _gap(a: float, b: float, kind: str) -> float:
    """Difference |a - b|, or ratio smaller / larger (1 when both are 0)."""
    if kind == "difference":
        return abs(a - b)
    return min(a, b) / max(a, b) if max(a, b) > 0 else 1.0


def _disparity(rates: Mapping[str, float], kind: str, reference: str | None) -> float:
    finite = {g: r for g, r in rates.items() if math.isfinite(r)}
    if reference is None:
        if len(finite) < 2:
            return math.nan
        return _gap(max(finite.values()), min(finite.values()), kind)
    others = [r for g, r in finite.items() if g != reference]
    if reference not in finite or not others:
        return math.nan
    gaps = [_gap(r, finite[reference], kind) for r in others]
    return max(gaps) if kind == "difference" else min(gaps)


def slice_report(
    column: str, groups: Mapping[str, GroupCounts], min_size: int, reference_group: str | None = None
) -> SliceReport:
    shown: dict[str, dict[str, float]] = {}
    comparable: dict[str, dict[str, float]] = {m: {} for m in GROUP_METRICS}
    suppressed = []
    for name in sorted(groups):
        g = groups[name]
        if g.n < min_size:
            suppressed.append(name)
            continue
        (tn, fp), (fn, tp) = (int(v) for v in g.confusion[0]), (int(v) for v in g.confusion[1])
        rates = {
            "selection_rate": _rate(g.n_predicted_positive, g.n_predicted, min_size),
            "true_positive_rate": _rate(tp, tp + fn, min_size),
            "false_positive_rate": _rate(fp, fp + tn, min_size),
            "precision": _rate(tp, tp + fp, min_size),
            "accuracy": _rate(tp + tn, tp + tn + fp + fn, min_size),
        }
        shown[name] = {"n": float(g.n)} | {m: v for m, (v, _) in rates.items()}
        for m, (v, ok) in rates.items():
            if ok:
                comparable[m][name] = v
    disparities = {}
    for name, (metric, kind) in DISPARITIES.items():
        parts = [_disparity(comparable[m], kind, reference_group) for m in metric.split("+")]
        disparities[name] = max(parts) if all(math.isfinite(p) for p in parts) else math.nan
    compared = "extremes" if reference_group is None else f"reference group {reference_group}"
    return SliceReport(column, shown, suppressed, disparities, compared)


@dataclass(frozen=True)
class DisparityVerdict:
    column: str
    disparity: str
    value: float
    warn: float
    error: float
    level: Level  # NOT_EVALUATED: the disparity cannot be computed (groups suppressed or missing)


def evaluate_disparities(
    reports: Mapping[str, SliceReport], thresholds: Mapping[str, tuple[float, float]]
) -> list[DisparityVerdict]:
    """Differences fail above (warn, error); ratios fail below them."""
    out = []
    for column, report in reports.items():
        for name, (warn, error) in thresholds.items():
            value = report.disparities.get(name, math.nan)
            if math.isnan(value):
                level = Level.NOT_EVALUATED
            elif name.endswith("_ratio"):
                level = Level.ERROR if value < error else Level.WARN if value < warn else Level.OK
            else:
                level = Level.ERROR if value > error else Level.WARN if value > warn else Level.OK
            out.append(DisparityVerdict(column, name, value, warn, error, level))
    return out
