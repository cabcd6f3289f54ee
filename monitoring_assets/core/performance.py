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


PerformanceAggregate = BinaryAggregate | RegressionAggregate


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


def performance_metrics(agg: PerformanceAggregate) -> dict[str, float]:
    """Every metric of the task, plus the row counts, label coverage and invalid-row counts."""
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
