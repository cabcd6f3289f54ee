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

Multiclass (``classes`` given): per group ``n``, ``accuracy`` and, for each class c, one-vs-rest
rates ``selection_rate.<c>`` (predicted c / rows with a prediction), ``true_positive_rate.<c>``
(recall of c) and ``false_positive_rate.<c>`` (predicted c among labeled rows of another class).
Each disparity is then the worst over the classes of that class's disparity (largest difference,
smallest ratio), so a model fair to every class but one still fails. ``accuracy_difference`` is
the gap of accuracies, for both tasks.

Without a reference group they are taken between the extreme groups (difference = largest rate
minus smallest, ratio = smallest / largest), as fairlearn defines them. With a reference group
``g0`` the difference is the largest ``|rate_g - rate_g0|`` and the ratio the smallest
``min(rate_g, rate_g0) / max(rate_g, rate_g0)`` over the other groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
    # Multiclass: rows (labeled or not) by predicted class; the confusion is then (K, K).
    predicted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def merge(self, other: GroupCounts) -> GroupCounts:
        return GroupCounts(
            self.n + other.n,
            self.n_predicted + other.n_predicted,
            self.n_predicted_positive + other.n_predicted_positive,
            self.confusion + other.confusion,
            self.predicted + other.predicted,
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


def _binary_rates(g: GroupCounts, min_size: int) -> dict[str, tuple[float, bool]]:
    (tn, fp), (fn, tp) = (int(v) for v in g.confusion[0]), (int(v) for v in g.confusion[1])
    return {
        "selection_rate": _rate(g.n_predicted_positive, g.n_predicted, min_size),
        "true_positive_rate": _rate(tp, tp + fn, min_size),
        "false_positive_rate": _rate(fp, fp + tn, min_size),
        "precision": _rate(tp, tp + fp, min_size),
        "accuracy": _rate(tp + tn, tp + tn + fp + fn, min_size),
    }


def _multiclass_rates(g: GroupCounts, classes: Sequence[str], min_size: int) -> dict[str, tuple[float, bool]]:
    c = g.confusion.astype(np.int64)
    n_valid, tp = int(c.sum()), np.diag(c)
    rates = {"accuracy": _rate(int(tp.sum()), n_valid, min_size)}
    for i, name in enumerate(classes):
        support, predicted_i = int(c[i].sum()), int(c[:, i].sum())
        rates[f"selection_rate.{name}"] = _rate(int(g.predicted[i]), g.n_predicted, min_size)
        rates[f"true_positive_rate.{name}"] = _rate(int(tp[i]), support, min_size)
        rates[f"false_positive_rate.{name}"] = _rate(predicted_i - int(tp[i]), n_valid - support, min_size)
    return rates


def _worst(values: Sequence[float], kind: str) -> float:
    """The worst of per-class disparities: the largest difference or the smallest ratio."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan
    return max(finite) if kind == "difference" else min(finite)


def slice_report(
    column: str,
    groups: Mapping[str, GroupCounts],
    min_size: int,
    reference_group: str | None = None,
    classes: Sequence[str] | None = None,
) -> SliceReport:
    """``classes``: the multiclass spec's class values (None: binary)."""
    shown: dict[str, dict[str, float]] = {}
    comparable: dict[str, dict[str, float]] = {}
    suppressed = []
    for name in sorted(groups):
        g = groups[name]
        if g.n < min_size:
            suppressed.append(name)
            continue
        rates = _binary_rates(g, min_size) if classes is None else _multiclass_rates(g, classes, min_size)
        shown[name] = {"n": float(g.n)} | {m: v for m, (v, _) in rates.items()}
        for m, (v, ok) in rates.items():
            if ok:
                comparable.setdefault(m, {})[name] = v
    disparities = {}
    for name, (metric, kind) in DISPARITIES.items():
        if classes is None or metric == "accuracy":
            parts = [_disparity(comparable.get(m, {}), kind, reference_group) for m in metric.split("+")]
        else:
            parts = [
                _worst([_disparity(comparable.get(f"{m}.{c}", {}), kind, reference_group) for c in classes], kind)
                for m in metric.split("+")
            ]
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
