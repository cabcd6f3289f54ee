"""Labeled performance as a pure function of mergeable aggregates.

An aggregate summarizes the rows of a window (a scoring day, or several merged by addition).
Every row counts in ``n_scored``; rows with a label count in ``n_labeled``; labeled rows that
cannot be scored (missing or non-finite score or prediction, a binary score outside [0, 1], or a
binary label other than 0/1) count in ``n_invalid`` and are left out of the metrics.

Four more counts say whether the data is what the spec claims (see ``evaluate_validity`` and
``evaluate_duplicates``):

* ``n_invalid_labels``: labeled rows whose label is not a valid target (binary: not 0 or 1,
  NaN included; regression: not finite);
* ``n_invalid_scores``: rows (labeled or not) with a score that is present but not a valid score
  (binary: non-finite or outside [0, 1]; regression: non-finite);
* ``n_duplicate_ids``: source rows of the day that repeat an id already scored that day (each id
  is counted once in ``n_scored``);
* ``n_duplicate_labels``: label rows beyond the first for the day's scored ids (one label per id
  is used, by the spec's ``labels.duplicates`` policy).

Binary classification keeps, over the valid labeled rows:

* confusion counts ``confusion[label, predicted]`` (the predicted label is the spec's
  ``prediction.label_column`` when it has one, else ``score >= threshold``): the threshold metrics
  are exact;
* per-label histograms of the score over ``n_bins`` equal-width cells on [0, 1]
  (``cell = clamp(floor(score * n_bins), 0, n_bins - 1)``: a score of exactly 1 is in the last
  cell) and the sum of the scores in each cell. ROC AUC and average precision treat the
  scores in one cell as tied, which is exactly scikit-learn's result on scores rounded down to
  their cell; with the default 10,000 cells that is within 0.002 of scikit-learn on raw scores;
* per label, the sum of the scores in each of the 10 equal-width calibration bins, made of whole
  cells (``n_bins`` is a multiple of 10; bin ``cell // (n_bins // 10)``): the expected calibration
  error uses these exact sums, and nothing else needs scores finer than that;
* the sum of log losses with scores clipped to [eps, 1 - eps], eps = float64 machine epsilon
  (as scikit-learn >= 1.5 does), and the sum of squared errors (Brier score).

Multiclass classification (``MulticlassAggregate``) keeps the predicted-class counts of every
scored row, the K x K confusion counts over the valid labeled rows, and per class k the histogram
of P(k) over ``n_bins`` cells split by label == k, plus the log-loss sum; see
``multiclass_metrics`` for the definitions and the ROC AUC error bound.

Regression keeps sums of errors (prediction - target), absolute and squared errors, absolute
percentage errors over rows with a non-zero target (rows with a zero target are counted, not
used), and the target's mean and centered sum of squares (merged with Chan's formula) for R2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from monitoring_assets.core import catalog
from monitoring_assets.core.levels import Level
from monitoring_assets.errors import ProfileError

# The catalog's tables (monitoring_assets/core/catalog.py, numpy-free), importable from here too.
BINARY_METRICS = catalog.BINARY_METRICS
EXPECTED_LABELS = catalog.EXPECTED_LABELS
EXPECTED_SCORES = catalog.EXPECTED_SCORES
HIGHER_IS_BETTER = catalog.HIGHER_IS_BETTER
PRIMARY_METRIC = catalog.PRIMARY_METRIC
REGRESSION_METRICS = catalog.REGRESSION_METRICS
TASK_METRICS = catalog.TASK_METRICS

EPS = float(np.finfo(np.float64).eps)
CALIBRATION_BINS = 10


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


@dataclass(frozen=True)
class BinaryAggregate:
    n_bins: int
    n_scored: int
    n_predicted: int  # rows (labeled or not) with a predicted label
    n_predicted_positive: int
    n_labeled: int
    n_invalid: int
    confusion: np.ndarray  # (2, 2) int64, [label, predicted]
    hist: np.ndarray  # (2, n_bins) int64, [label, cell]
    score_sum: np.ndarray  # (2, CALIBRATION_BINS) float64, [label, calibration bin]
    log_loss_sum: float
    squared_error_sum: float
    # Defaults keep positional construction working; see the module docstring.
    n_invalid_labels: int = 0
    n_invalid_scores: int = 0
    n_duplicate_ids: int = 0
    n_duplicate_labels: int = 0

    @classmethod
    def empty(cls, n_bins: int) -> BinaryAggregate:
        if n_bins % CALIBRATION_BINS:
            raise ProfileError(f"n_bins must be a multiple of {CALIBRATION_BINS}, got {n_bins}")
        return cls(
            n_bins,
            0,
            0,
            0,
            0,
            0,
            np.zeros((2, 2), np.int64),
            np.zeros((2, n_bins), np.int64),
            np.zeros((2, CALIBRATION_BINS), np.float64),
            0.0,
            0.0,
        )

    @property
    def n_valid(self) -> int:
        return int(self.confusion.sum())

    def merge(self, other: BinaryAggregate) -> BinaryAggregate:
        if other.n_bins != self.n_bins:
            raise ProfileError(f"cannot merge aggregates with {self.n_bins} and {other.n_bins} score cells")
        return BinaryAggregate(
            self.n_bins,
            self.n_scored + other.n_scored,
            self.n_predicted + other.n_predicted,
            self.n_predicted_positive + other.n_predicted_positive,
            self.n_labeled + other.n_labeled,
            self.n_invalid + other.n_invalid,
            self.confusion + other.confusion,
            self.hist + other.hist,
            self.score_sum + other.score_sum,
            self.log_loss_sum + other.log_loss_sum,
            self.squared_error_sum + other.squared_error_sum,
            self.n_invalid_labels + other.n_invalid_labels,
            self.n_invalid_scores + other.n_invalid_scores,
            self.n_duplicate_ids + other.n_duplicate_ids,
            self.n_duplicate_labels + other.n_duplicate_labels,
        )


@dataclass(frozen=True)
class RegressionAggregate:
    n_scored: int
    n_labeled: int
    n_invalid: int
    count: int
    error_sum: float
    abs_error_sum: float
    squared_error_sum: float
    target_mean: float
    target_m2: float
    ape_sum: float
    n_zero_target: int
    n_invalid_labels: int = 0
    n_invalid_scores: int = 0
    n_duplicate_ids: int = 0
    n_duplicate_labels: int = 0

    @classmethod
    def empty(cls) -> RegressionAggregate:
        return cls(0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)

    @property
    def n_valid(self) -> int:
        return self.count

    def merge(self, other: RegressionAggregate) -> RegressionAggregate:
        n = self.count + other.count
        delta = other.target_mean - self.target_mean
        mean = self.target_mean + delta * other.count / n if n else 0.0
        m2 = self.target_m2 + other.target_m2 + (delta * delta * self.count * other.count / n if n else 0.0)
        return RegressionAggregate(
            self.n_scored + other.n_scored,
            self.n_labeled + other.n_labeled,
            self.n_invalid + other.n_invalid,
            n,
            self.error_sum + other.error_sum,
            self.abs_error_sum + other.abs_error_sum,
            self.squared_error_sum + other.squared_error_sum,
            mean,
            m2,
            self.ape_sum + other.ape_sum,
            self.n_zero_target + other.n_zero_target,
            self.n_invalid_labels + other.n_invalid_labels,
            self.n_invalid_scores + other.n_invalid_scores,
            self.n_duplicate_ids + other.n_duplicate_ids,
            self.n_duplicate_labels + other.n_duplicate_labels,
        )


@dataclass(frozen=True)
class MulticlassAggregate:
    """Multiclass classification over K classes (``prediction.classes``, class index = position).

    A labeled row is valid when its label and predicted class are classes and, with probability
    columns, its K probabilities are valid (finite, in [0, 1], summing to 1 within
    ``PROBABILITY_SUM_TOLERANCE``: used as given, never renormalized). ``n_bins == 0``: the
    monitor has no probability columns (no log loss, no ROC AUC)."""

    n_bins: int  # cells of each class's probability histogram; 0: no probability columns
    n_scored: int
    n_predicted: int  # rows (labeled or not) whose predicted class is a class
    n_labeled: int
    n_invalid: int
    predicted: np.ndarray  # (K,) int64: rows (labeled or not) by predicted class
    confusion: np.ndarray  # (K, K) int64, [label, predicted]
    hist: np.ndarray  # (K, 2, n_bins) int64, [class k, label == k, cell of P(k)]
    log_loss_sum: float  # sum of -ln(clip(P(label), eps, 1 - eps)) over the valid rows
    n_invalid_labels: int = 0
    n_invalid_scores: int = 0
    n_duplicate_ids: int = 0
    n_duplicate_labels: int = 0

    @classmethod
    def empty(cls, n_classes: int, n_bins: int) -> MulticlassAggregate:
        k = n_classes
        return cls(
            n_bins,
            0,
            0,
            0,
            0,
            np.zeros(k, np.int64),
            np.zeros((k, k), np.int64),
            np.zeros((k, 2, n_bins), np.int64),
            0.0,
        )

    @property
    def n_valid(self) -> int:
        return int(self.confusion.sum())

    def merge(self, other: MulticlassAggregate) -> MulticlassAggregate:
        if other.hist.shape != self.hist.shape:
            raise ProfileError(
                f"cannot merge multiclass aggregates of shapes {self.hist.shape} and {other.hist.shape} "
                "(classes, 2, probability cells)"
            )
        return MulticlassAggregate(
            self.n_bins,
            self.n_scored + other.n_scored,
            self.n_predicted + other.n_predicted,
            self.n_labeled + other.n_labeled,
            self.n_invalid + other.n_invalid,
            self.predicted + other.predicted,
            self.confusion + other.confusion,
            self.hist + other.hist,
            self.log_loss_sum + other.log_loss_sum,
            self.n_invalid_labels + other.n_invalid_labels,
            self.n_invalid_scores + other.n_invalid_scores,
            self.n_duplicate_ids + other.n_duplicate_ids,
            self.n_duplicate_labels + other.n_duplicate_labels,
        )


PerformanceAggregate = BinaryAggregate | RegressionAggregate | MulticlassAggregate


def merge_aggregates(aggregates: Iterable[PerformanceAggregate], empty: PerformanceAggregate) -> PerformanceAggregate:
    out = empty
    for agg in aggregates:
        out = out.merge(agg)  # type: ignore[arg-type]
    return out


def score_cells(scores: np.ndarray, n_bins: int) -> np.ndarray:
    """The contract for score cells, shared with the SQL: clamp(floor(score * n_bins), 0, n_bins - 1)."""
    cells: np.ndarray = np.clip(np.floor(scores * n_bins), 0, n_bins - 1).astype(np.int64)
    return cells


def calibration_bins(cells: np.ndarray, n_bins: int) -> np.ndarray:
    """The calibration bin of each score cell: 10 equal-width bins of whole cells."""
    bins: np.ndarray = np.asarray(cells, np.int64) // (n_bins // CALIBRATION_BINS)
    return bins


def binary_aggregate_from_rows(
    scores: np.ndarray, labels: np.ndarray, predicted: np.ndarray, n_bins: int
) -> BinaryAggregate:
    """Aggregate raw rows (NaN = missing) in numpy: the reference the SQL path is tested against.
    A NaN score counts as missing here (SQL keeps NaN apart from NULL: there it is invalid)."""
    scores, labels, predicted = (np.asarray(a, dtype=np.float64) for a in (scores, labels, predicted))
    has_pred = ~np.isnan(predicted)
    labeled = ~np.isnan(labels)
    good_score = np.isfinite(scores) & (scores >= 0) & (scores <= 1)
    good_label = np.isin(labels, (0.0, 1.0))
    valid = labeled & good_score & has_pred & good_label & np.isin(predicted, (0.0, 1.0))
    y, p, yhat = labels[valid].astype(np.int64), scores[valid], predicted[valid].astype(np.int64)
    confusion = np.zeros((2, 2), np.int64)
    np.add.at(confusion, (y, yhat), 1)
    cells = score_cells(p, n_bins)
    hist = np.zeros((2, n_bins), np.int64)
    np.add.at(hist, (y, cells), 1)
    score_sum = np.zeros((2, CALIBRATION_BINS), np.float64)
    np.add.at(score_sum, (y, calibration_bins(cells, n_bins)), p)
    clipped = np.clip(p, EPS, 1 - EPS)
    log_loss_sum = float(-np.sum(np.where(y == 1, np.log(clipped), np.log(1 - clipped))))
    return BinaryAggregate(
        n_bins,
        len(scores),
        int(has_pred.sum()),
        int((predicted[has_pred] == 1).sum()),
        int(labeled.sum()),
        int((labeled & ~valid).sum()),
        confusion,
        hist,
        score_sum,
        log_loss_sum,
        float(np.sum((p - y) ** 2)),
        int((labeled & ~good_label).sum()),
        int((~np.isnan(scores) & ~good_score).sum()),
    )


# Multiclass: a row's probabilities are valid when they sum to 1 within this (rounded outputs).
PROBABILITY_SUM_TOLERANCE = 0.01


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """The class of the largest probability; on a tie the first in ``classes`` order (the SQL's
    rule too: ``LabeledRows.multiclass_statement``)."""
    out: np.ndarray = np.argmax(np.asarray(probabilities, np.float64), axis=1).astype(np.int64)
    return out


def multiclass_aggregate_from_rows(
    labels: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray | None, n_classes: int, n_bins: int
) -> MulticlassAggregate:
    """Aggregate raw rows in numpy: the reference the SQL path is tested against. ``labels`` and
    ``predicted`` are class indices, -1 for a value that is not a class and NaN for missing (a
    label not arrived yet); ``probabilities`` is (rows, K) in ``classes`` order, or None
    (``n_bins`` must then be 0). NaN probabilities count as missing here, not as an invalid score
    (SQL keeps NaN apart from NULL: there a NaN is an invalid score, as for the binary score)."""
    labels, predicted = np.asarray(labels, np.float64), np.asarray(predicted, np.float64)
    k = n_classes
    labeled = ~np.isnan(labels)
    good_label = labeled & (labels >= 0)
    has_pred = ~np.isnan(predicted) & (predicted >= 0)
    good_scores: np.ndarray = np.ones(len(labels), bool)
    present_scores = np.zeros(len(labels), bool)
    if probabilities is not None:
        p = np.asarray(probabilities, np.float64)
        present_scores = np.asarray(~np.isnan(p).any(axis=1))
        filled = np.where(np.isfinite(p), p, -1.0)  # a non-finite probability fails the range test
        in_range = ((filled >= 0) & (filled <= 1)).all(axis=1)
        good_scores = np.asarray(in_range & (np.abs(filled.sum(axis=1) - 1) <= PROBABILITY_SUM_TOLERANCE))
    valid = good_label & has_pred & good_scores
    y, yhat = labels[valid].astype(np.int64), predicted[valid].astype(np.int64)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (y, yhat), 1)
    pred_counts = np.bincount(predicted[has_pred].astype(np.int64), minlength=k)
    hist = np.zeros((k, 2, n_bins), np.int64)
    log_loss_sum = 0.0
    if probabilities is not None:
        pv = np.asarray(probabilities, np.float64)[valid]
        for c in range(k):
            np.add.at(hist[c], ((y == c).astype(np.int64), score_cells(pv[:, c], n_bins)), 1)
        p_true = pv[np.arange(len(y)), y]
        log_loss_sum = float(-np.log(np.clip(p_true, EPS, 1 - EPS)).sum())
    return MulticlassAggregate(
        n_bins,
        len(labels),
        int(has_pred.sum()),
        int(labeled.sum()),
        int((labeled & ~valid).sum()),
        pred_counts.astype(np.int64),
        confusion,
        hist,
        log_loss_sum,
        int((labeled & ~good_label).sum()),
        int((present_scores & ~good_scores).sum()) if probabilities is not None else 0,
    )


def regression_aggregate_from_rows(predictions: np.ndarray, targets: np.ndarray) -> RegressionAggregate:
    """Aggregate raw rows (NaN target = not labeled yet) in numpy."""
    pred, y = np.asarray(predictions, np.float64), np.asarray(targets, np.float64)
    labeled = ~np.isnan(y)
    valid = labeled & np.isfinite(pred) & np.isfinite(y)
    err = pred[valid] - y[valid]
    yv = y[valid]
    nonzero = yv != 0
    return RegressionAggregate(
        len(pred),
        int(labeled.sum()),
        int((labeled & ~valid).sum()),
        int(valid.sum()),
        float(err.sum()),
        float(np.abs(err).sum()),
        float((err**2).sum()),
        float(yv.mean()) if len(yv) else 0.0,
        float(((yv - yv.mean()) ** 2).sum()) if len(yv) else 0.0,
        float((np.abs(err[nonzero]) / np.abs(yv[nonzero])).sum()),
        int((~nonzero).sum()),
        int((labeled & ~np.isfinite(y)).sum()),
        int((~np.isnan(pred) & ~np.isfinite(pred)).sum()),
    )


def _roc_auc(hist: np.ndarray) -> float:
    neg, pos = hist[0].astype(np.float64), hist[1].astype(np.float64)
    n_neg, n_pos = neg.sum(), pos.sum()
    if not n_neg or not n_pos:
        return math.nan
    neg_below = np.cumsum(neg) - neg
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (n_pos * n_neg))


def _average_precision(hist: np.ndarray) -> float:
    neg, pos = hist[0][::-1].astype(np.float64), hist[1][::-1].astype(np.float64)
    n_pos = pos.sum()
    if not n_pos:
        return math.nan
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    used = pos > 0
    return float(np.sum(pos[used] / n_pos * tp[used] / (tp[used] + fp[used])))


def _expected_calibration_error(agg: BinaryAggregate) -> float:
    n = agg.n_valid
    if not n:
        return math.nan
    width = agg.n_bins // CALIBRATION_BINS
    positives = agg.hist[1].reshape(CALIBRATION_BINS, width).sum(axis=1)
    score_sums = agg.score_sum.sum(axis=0)
    return float(np.abs(positives - score_sums).sum() / n)


def binary_metrics(agg: BinaryAggregate) -> dict[str, float]:
    (tn, fp), (fn, tp) = (int(v) for v in agg.confusion[0]), (int(v) for v in agg.confusion[1])
    n = tn + fp + fn + tp
    return {
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "false_positive_rate": _ratio(fp, fp + tn),
        "false_negative_rate": _ratio(fn, fn + tp),
        "roc_auc": _roc_auc(agg.hist),
        "average_precision": _average_precision(agg.hist),
        "log_loss": _ratio(agg.log_loss_sum, n),
        "brier_score": _ratio(agg.squared_error_sum, n),
        "expected_calibration_error": _expected_calibration_error(agg),
        "positive_prediction_rate": _ratio(agg.n_predicted_positive, agg.n_predicted),
        "prevalence": _ratio(fn + tp, n),
    }


def _mean_where_defined(values: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The (weighted) mean of the defined (non-NaN) values, NaN when none is: scikit-learn's
    averages with ``zero_division=np.nan``."""
    defined = ~np.isnan(values)
    w = np.ones(len(values)) if weights is None else np.asarray(weights, np.float64)
    total = w[defined].sum()
    return float((values[defined] * w[defined]).sum() / total) if defined.any() and total else math.nan


def _per_class_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.full(len(num), math.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def multiclass_metrics(agg: MulticlassAggregate, classes: Sequence[str]) -> dict[str, float]:
    """Multiclass metrics, scikit-learn's definitions with ``labels=classes`` and
    ``zero_division=np.nan``.

    Per class k: precision = TP / predicted k, recall = TP / labeled k, F1 = 2 TP / (2 TP + FP +
    FN); a zero denominator gives NaN, left out of the averages. ``macro`` averages the defined
    per-class values, ``weighted`` weighs them by the class's labeled rows (support), ``micro``
    pools the counts (for single-label data all three equal accuracy). Balanced accuracy is the
    mean recall over the classes with labeled rows.

    ``log_loss``: mean of -ln(clip(P(label), eps, 1 - eps)), eps = float64 machine epsilon, on
    the probabilities as given (rows are valid only if they sum to 1 within
    ``PROBABILITY_SUM_TOLERANCE``; scikit-learn >= 1.7 does not renormalize either).

    ``roc_auc_ovr_macro`` / ``_weighted``: per class, the ROC AUC of P(k) for label k against
    every other label, from that class's histogram (scores in one cell tied, exactly as the
    binary ``roc_auc``), then averaged (weighted by support). A class without positive or without
    negative rows has no AUC and is left out; scikit-learn refuses such data instead.

    Error bound (``ovr_auc_error_bound``): each class's AUC is exactly scikit-learn's on P(k)
    rounded down to its cell. Only (positive, negative) pairs in one cell can differ from the
    raw scores' verdict, by at most 1/2 each, so a class's AUC is within
    ``1/2 * sum_c pos_c * neg_c / (n_pos * n_neg) <= 1/2 * max_c pos_c / n_pos`` of scikit-learn
    on raw P(k); an average with weights summing to 1 is within the largest of these. For a
    positive-class density of P(k) bounded by f that is <= f / (2 n_bins): 0.002 at the
    default 10,000 cells for f up to 40 (tested against scikit-learn in
    ``tests/test_multiclass.py``)."""
    k = len(classes)
    if agg.confusion.shape != (k, k):
        raise ProfileError(f"aggregate has {agg.confusion.shape[0]} classes, the spec {k}")
    c = agg.confusion.astype(np.float64)
    n = c.sum()
    tp = np.diag(c)
    support, predicted = c.sum(axis=1), c.sum(axis=0)
    precision = _per_class_ratio(tp, predicted)
    recall = _per_class_ratio(tp, support)
    f1 = _per_class_ratio(2 * tp, support + predicted)
    micro = _ratio(float(tp.sum()), float(n))
    out = {
        "accuracy": micro,
        "balanced_accuracy": _mean_where_defined(recall),
        "precision_macro": _mean_where_defined(precision),
        "recall_macro": _mean_where_defined(recall),
        "f1_macro": _mean_where_defined(f1),
        "precision_micro": micro,
        "recall_micro": micro,
        "f1_micro": micro,
        "precision_weighted": _mean_where_defined(precision, support),
        "recall_weighted": _mean_where_defined(recall, support),
        "f1_weighted": _mean_where_defined(f1, support),
        "log_loss": _ratio(agg.log_loss_sum, float(n)) if agg.n_bins else math.nan,
    }
    auc = np.array([_roc_auc(agg.hist[i]) for i in range(k)]) if agg.n_bins else np.full(k, math.nan)
    out["roc_auc_ovr_macro"] = _mean_where_defined(auc)
    out["roc_auc_ovr_weighted"] = _mean_where_defined(auc, support)
    for i, name in enumerate(classes):
        out[f"precision.{name}"] = float(precision[i])
        out[f"recall.{name}"] = float(recall[i])
        out[f"predicted_rate.{name}"] = _ratio(float(agg.predicted[i]), float(agg.n_predicted))
    return out


def ovr_auc_error_bound(agg: MulticlassAggregate) -> float:
    """The largest gap between a class's histogram ROC AUC and scikit-learn's on the raw
    probabilities that the histogram allows: ``max_k 1/2 * sum_c pos_c neg_c / (n_pos n_neg)``
    (see ``multiclass_metrics``); also bounds the macro and weighted averages. NaN: no AUC."""
    bounds = []
    for hist in agg.hist:
        neg, pos = hist[0].astype(np.float64), hist[1].astype(np.float64)
        if neg.sum() and pos.sum():
            bounds.append(0.5 * float((pos * neg).sum() / (pos.sum() * neg.sum())))
    return max(bounds, default=math.nan)


def regression_metrics(agg: RegressionAggregate) -> dict[str, float]:
    n = agg.count
    return {
        "mae": _ratio(agg.abs_error_sum, n),
        "rmse": math.sqrt(agg.squared_error_sum / n) if n else math.nan,
        "mape": _ratio(agg.ape_sum, n - agg.n_zero_target),
        "r2": 1 - agg.squared_error_sum / agg.target_m2 if n and agg.target_m2 > 0 else math.nan,
        "mean_error": _ratio(agg.error_sum, n),
        "n_zero_target": float(agg.n_zero_target),
    }


def performance_metrics(agg: PerformanceAggregate, classes: Sequence[str] | None = None) -> dict[str, float]:
    """Every metric of the task, plus the row counts, label coverage and invalid-row counts
    (``classes``: the multiclass spec's class values, which name the per-class metrics)."""
    counts = {
        "n_scored": float(agg.n_scored),
        "n_labeled": float(agg.n_labeled),
        "label_coverage": _ratio(agg.n_labeled, agg.n_scored),
        "n_invalid": float(agg.n_invalid),
        "n_invalid_labels": float(agg.n_invalid_labels),
        "n_invalid_scores": float(agg.n_invalid_scores),
        "n_duplicate_ids": float(agg.n_duplicate_ids),
        "n_duplicate_labels": float(agg.n_duplicate_labels),
    }
    if isinstance(agg, MulticlassAggregate):
        if classes is None:
            raise ProfileError("multiclass metrics need the spec's classes")
        return counts | multiclass_metrics(agg, classes)
    values = binary_metrics(agg) if isinstance(agg, BinaryAggregate) else regression_metrics(agg)
    return counts | values


@dataclass(frozen=True)
class Tolerance:
    warn: float
    error: float
    relative: bool = False


@dataclass(frozen=True)
class MetricVerdict:
    metric: str
    value: float
    reference: float
    degradation: float  # how much worse than the reference, in the metric's units (or fraction)
    level: Level


def evaluate_performance(
    values: Mapping[str, float], reference: Mapping[str, float], tolerances: Mapping[str, Tolerance]
) -> list[MetricVerdict]:
    """Compare each toleranced metric with its reference value; worse by > warn / > error fails."""
    verdicts = []
    for metric, tol in tolerances.items():
        value, ref = values.get(metric, math.nan), reference.get(metric, math.nan)
        if math.isnan(value) or math.isnan(ref):
            verdicts.append(MetricVerdict(metric, value, ref, math.nan, Level.NOT_EVALUATED))
            continue
        worse = ref - value if HIGHER_IS_BETTER[metric] else value - ref
        if tol.relative:
            worse = worse / abs(ref) if ref else (math.inf if worse > 0 else 0.0)
        level = Level.ERROR if worse > tol.error else Level.WARN if worse > tol.warn else Level.OK
        verdicts.append(MetricVerdict(metric, value, ref, worse, level))
    return verdicts


@dataclass(frozen=True)
class CountVerdict:
    """A day's verdict on counts that should be (nearly) zero: ``passed`` and the counts as text."""

    passed: bool
    reason: str


def _share(count: float, total: float) -> float:
    return count / total if total else 0.0


def _count_text(count: float, total: float, what: str) -> str:
    return f"{int(count):,} of {int(total):,} {what}"


def evaluate_validity(values: Mapping[str, float], task: str, max_share: float) -> CountVerdict:
    """Fails when the share of labeled rows with an invalid label (``n_invalid_labels / n_labeled``)
    or of scored rows with an invalid score (``n_invalid_scores / n_scored``) is above
    ``max_share``. A day without labeled (or scored) rows has nothing invalid: share 0."""
    bad_labels, labeled = values.get("n_invalid_labels", 0.0), values.get("n_labeled", 0.0)
    bad_scores, scored = values.get("n_invalid_scores", 0.0), values.get("n_scored", 0.0)
    label_text = _count_text(bad_labels, labeled, f"labeled rows have {EXPECTED_LABELS[task]}")
    score_text = _count_text(bad_scores, scored, f"scored rows have {EXPECTED_SCORES[task]}")
    parts = [(label_text, _share(bad_labels, labeled)), (score_text, _share(bad_scores, scored))]
    return _count_verdict(parts, max_share, f"limit {max_share:.2%}")


def evaluate_duplicates(values: Mapping[str, float], max_share: float, policy: str) -> CountVerdict:
    """Fails when the source rows repeating an id already scored that day (``n_duplicate_ids``)
    are more than ``max_share`` of the day's scored ids (``n_scored``), or the label rows beyond
    the first per id (``n_duplicate_labels``) more than ``max_share`` of the labeled ids
    (``n_labeled``). Either way each id counted once: ``policy`` says which label was kept."""
    dup_ids, scored = values.get("n_duplicate_ids", 0.0), values.get("n_scored", 0.0)
    dup_labels, labeled = values.get("n_duplicate_labels", 0.0), values.get("n_labeled", 0.0)
    id_text = f"{int(dup_ids):,} repeated ids among {int(scored + dup_ids):,} source rows"
    label_text = f"{int(dup_labels):,} extra label rows for {int(labeled):,} labeled ids"
    parts = [(id_text, _share(dup_ids, scored)), (label_text, _share(dup_labels, labeled))]
    return _count_verdict(parts, max_share, f"limit {max_share:.2%}; each id counted once, label kept: {policy}")


def _count_verdict(parts: Sequence[tuple[str, float]], max_share: float, note: str) -> CountVerdict:
    """Failed, naming the parts whose share is above ``max_share``; else passed, naming them all."""
    failing = [text for text, share in parts if share > max_share]
    return CountVerdict(not failing, f"{'; '.join(failing or [t for t, _ in parts])} ({note})")
