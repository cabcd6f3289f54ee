"""Labeled performance metrics checked against independent references computed on the RAW rows.

Every expected value comes from scikit-learn (or a short numpy loop written here) applied to the
raw rows the aggregate was built from, never from an earlier output of our own code. Rows are
generated the way a scoring table looks: binary labels that arrive late (NaN = unlabeled), scores
in [0, 1] correlated with the label (some exactly 0 or 1, some rounded to 6 decimals), a few
labeled rows that cannot be scored.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from monitoring_assets.core.performance import (
    BINARY_METRICS,
    REGRESSION_METRICS,
    BinaryAggregate,
    MetricVerdict,
    RegressionAggregate,
    Tolerance,
    binary_aggregate_from_rows,
    binary_metrics,
    evaluate_performance,
    merge_aggregates,
    performance_metrics,
    regression_aggregate_from_rows,
)
from monitoring_assets.errors import ProfileError

N_ROWS = 6_000
DEFAULT_BINS = 10_000
THRESHOLD = 0.5
SCORE_KINDS = ("clipped_normal", "beta", "rounded")


# ---------------------------------------------------------------------------------------------
# Raw rows
# ---------------------------------------------------------------------------------------------


def make_binary_rows(kind: str, seed: int, n: int = N_ROWS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (scores, labels, predicted) with NaN labels, NaN scores on labeled rows, and bad rows."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.float64)
    if kind == "beta":
        scores = np.where(y == 1, rng.beta(5, 2, n), rng.beta(2, 5, n))
    else:
        # Wide noise: plenty of scores clipped to exactly 0 and 1, on both labels.
        scores = np.clip(0.3 + 0.3 * y + rng.normal(0.0, 0.3, n), 0.0, 1.0)
        if kind == "rounded":
            scores = np.round(scores, 6)
    labels = y.copy()
    labels[rng.random(n) < 0.2] = np.nan  # not labeled yet
    labeled_idx = np.flatnonzero(~np.isnan(labels))
    bad = rng.choice(labeled_idx, size=40, replace=False)
    scores[bad[:30]] = np.nan  # labeled but not scored
    scores[bad[30:33]] = np.inf  # non-finite score
    labels[bad[33:36]] = 2.0  # a label that is not 0/1
    # An unlabeled row with a missing score too.
    unlabeled_idx = np.flatnonzero(np.isnan(labels))
    scores[unlabeled_idx[:5]] = np.nan
    predicted = np.where(np.isnan(scores), np.nan, (scores >= THRESHOLD).astype(np.float64))
    return scores, labels, predicted


def valid_rows(scores: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, ...]:
    """The labeled rows that can be scored: label 0/1, finite score, a predicted label."""
    ok = np.isin(labels, (0.0, 1.0)) & np.isfinite(scores) & ~np.isnan(predicted)
    return labels[ok].astype(np.int64), scores[ok], predicted[ok].astype(np.int64)


def floored(scores: np.ndarray, n_bins: int) -> np.ndarray:
    """Scores rounded down to their cell: clamp(floor(p * n), 0, n - 1) / n."""
    return np.clip(np.floor(scores * n_bins), 0, n_bins - 1) / n_bins


def ece_by_hand(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: 10 equal-width bins via np.digitize, |sum(y) - sum(p)| / n."""
    edges = np.arange(1, n_bins) / n_bins
    which = np.digitize(p, edges)  # bin i holds [i/10, (i+1)/10), 1.0 in the last bin
    total = 0.0
    for b in range(n_bins):
        in_bin = which == b
        if in_bin.any():
            total += abs(y[in_bin].sum() - p[in_bin].sum())
    return total / len(y)


def sklearn_binary(y: np.ndarray, p: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    """scikit-learn (and numpy) on the valid labeled rows."""
    tn, fp, fn, tp = skm.confusion_matrix(y, yhat, labels=[0, 1]).ravel()
    return {
        "accuracy": skm.accuracy_score(y, yhat),
        "precision": skm.precision_score(y, yhat),
        "recall": skm.recall_score(y, yhat),
        "f1": skm.f1_score(y, yhat),
        "false_positive_rate": fp / (fp + tn),
        "false_negative_rate": fn / (fn + tp),
        "roc_auc": skm.roc_auc_score(y, p),
        "average_precision": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier_score": skm.brier_score_loss(y, p),
        "expected_calibration_error": ece_by_hand(y, p),
        "prevalence": float(np.mean(y)),
    }


EXACT_TOL = {
    "accuracy": 1e-12,
    "precision": 1e-12,
    "recall": 1e-12,
    "f1": 1e-12,
    "false_positive_rate": 1e-12,
    "false_negative_rate": 1e-12,
    "log_loss": 1e-9,
    "brier_score": 1e-12,
    "expected_calibration_error": 1e-12,
    "prevalence": 1e-12,
}


def assert_matches_sklearn(
    got: dict[str, float], scores: np.ndarray, labels: np.ndarray, predicted: np.ndarray, n_bins: int
) -> None:
    y, p, yhat = valid_rows(scores, labels, predicted)
    expected = sklearn_binary(y, p, yhat)
    for metric, tol in EXACT_TOL.items():
        assert got[metric] == pytest.approx(expected[metric], abs=tol, rel=0), metric
    # Ranking metrics: close to sklearn on raw scores, exact on scores rounded down to their cell.
    for metric in ("roc_auc", "average_precision"):
        assert abs(got[metric] - expected[metric]) <= 0.002, (metric, got[metric], expected[metric])
    pc = floored(p, n_bins)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, pc), abs=1e-9, rel=0)
    assert got["average_precision"] == pytest.approx(skm.average_precision_score(y, pc), abs=1e-9, rel=0)
    # Positive prediction rate: over every row with a predicted label, labeled or not.
    has_pred = ~np.isnan(predicted)
    assert got["positive_prediction_rate"] == pytest.approx(np.sum(predicted[has_pred] == 1) / has_pred.sum())


# ---------------------------------------------------------------------------------------------
# Binary classification
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SCORE_KINDS)
def test_binary_metrics_match_sklearn(kind: str) -> None:
    """binary_metrics on one aggregate vs sklearn.metrics on the valid labeled raw rows."""
    scores, labels, predicted = make_binary_rows(kind, seed=11)
    agg = binary_aggregate_from_rows(scores, labels, predicted, DEFAULT_BINS)
    got = binary_metrics(agg)
    assert set(got) == set(BINARY_METRICS)
    assert_matches_sklearn(got, scores, labels, predicted, DEFAULT_BINS)


@pytest.mark.parametrize("n_bins", [10, 100, 1000])
@pytest.mark.parametrize("kind", SCORE_KINDS)
def test_ranking_metrics_tie_semantics_coarse_cells(kind: str, n_bins: int) -> None:
    """With coarse cells (many ties), AUC / AP equal sklearn on the cell-floored scores exactly."""
    scores, labels, predicted = make_binary_rows(kind, seed=12)
    got = binary_metrics(binary_aggregate_from_rows(scores, labels, predicted, n_bins))
    y, p, _ = valid_rows(scores, labels, predicted)
    pc = floored(p, n_bins)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, pc), abs=1e-9, rel=0)
    assert got["average_precision"] == pytest.approx(skm.average_precision_score(y, pc), abs=1e-9, rel=0)
    # The calibration error uses the exact score sums whatever the cell width.
    assert got["expected_calibration_error"] == pytest.approx(ece_by_hand(y, p), abs=1e-12, rel=0)


def test_log_loss_clipping_is_exercised() -> None:
    """Confidently wrong rows (score 0 on a positive, 1 on a negative) hit the eps clipping like sklearn."""
    scores, labels, predicted = make_binary_rows("clipped_normal", seed=13)
    y, p, _ = valid_rows(scores, labels, predicted)
    assert np.any((p == 0.0) & (y == 1)) and np.any((p == 1.0) & (y == 0))
    got = binary_metrics(binary_aggregate_from_rows(scores, labels, predicted, DEFAULT_BINS))
    eps = np.finfo(np.float64).eps
    by_hand = -np.mean(y * np.log(np.clip(p, eps, 1 - eps)) + (1 - y) * np.log(1 - np.clip(p, eps, 1 - eps)))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p), abs=1e-9, rel=0)
    assert got["log_loss"] == pytest.approx(by_hand, abs=1e-9, rel=0)
    assert math.isfinite(got["log_loss"])


@pytest.mark.parametrize("kind", SCORE_KINDS)
def test_counts_by_hand(kind: str) -> None:
    """n_scored / n_labeled / label_coverage / n_invalid / prevalence from hand counts on the raw rows."""
    scores, labels, predicted = make_binary_rows(kind, seed=14)
    got = performance_metrics(binary_aggregate_from_rows(scores, labels, predicted, DEFAULT_BINS))
    n_labeled = int(np.sum(~np.isnan(labels)))
    # 30 NaN scores, 3 infinite scores, 3 labels equal to 2 (all on labeled rows).
    assert got["n_scored"] == N_ROWS
    assert got["n_labeled"] == n_labeled
    assert got["label_coverage"] == pytest.approx(n_labeled / N_ROWS, abs=1e-15)
    assert got["n_invalid"] == 36
    y_valid = labels[np.isin(labels, (0.0, 1.0)) & np.isfinite(scores)]
    assert got["prevalence"] == pytest.approx(np.mean(y_valid), abs=1e-12)
    for metric in BINARY_METRICS:
        assert metric in got


def test_predicted_label_column_independent_of_score() -> None:
    """A predicted-label column (not score >= threshold): the threshold metrics follow it, not the score."""
    rng = np.random.default_rng(15)
    n = 3_000
    y = (rng.random(n) < 0.4).astype(np.float64)
    scores = rng.beta(2 + 3 * y, 5 - 3 * y)
    predicted = (rng.random(n) < np.where(y == 1, 0.7, 0.2)).astype(np.float64)
    predicted[rng.random(n) < 0.05] = np.nan  # no predicted label: invalid if labeled
    labels = np.where(rng.random(n) < 0.25, np.nan, y)
    got = performance_metrics(binary_aggregate_from_rows(scores, labels, predicted, DEFAULT_BINS))
    assert_matches_sklearn(got, scores, labels, predicted, DEFAULT_BINS)
    assert got["n_invalid"] == np.sum(~np.isnan(labels) & np.isnan(predicted))


@pytest.mark.parametrize("kind", SCORE_KINDS)
def test_merged_chunks_match_sklearn_on_concatenated_rows(kind: str) -> None:
    """Aggregates of uneven chunks (one empty), merged, vs sklearn on all the rows (a rolling window)."""
    scores, labels, predicted = make_binary_rows(kind, seed=16)
    cuts = [0, 1, 1, 700, 2_900, 3_100, N_ROWS]  # includes an empty and a one-row chunk
    chunks = [
        binary_aggregate_from_rows(scores[a:b], labels[a:b], predicted[a:b], DEFAULT_BINS)
        for a, b in itertools.pairwise(cuts)
    ]
    chained = chunks[0]
    for c in chunks[1:]:
        chained = chained.merge(c)
    merged = merge_aggregates(chunks, BinaryAggregate.empty(DEFAULT_BINS))
    for agg in (chained, merged):
        assert isinstance(agg, BinaryAggregate)
        got = performance_metrics(agg)
        assert_matches_sklearn(got, scores, labels, predicted, DEFAULT_BINS)
        assert got["n_scored"] == N_ROWS
        assert got["n_labeled"] == np.sum(~np.isnan(labels))
        assert got["n_invalid"] == 36


def test_merged_days_with_different_score_distributions() -> None:
    """Days with shifted score distributions: the merged window is sklearn on the union, not an average."""
    sizes = (500, 4_000, 90)
    kinds = zip(SCORE_KINDS, sizes, strict=True)
    parts = [make_binary_rows(kind, seed=20 + i, n=n) for i, (kind, n) in enumerate(kinds)]
    aggs = [binary_aggregate_from_rows(s, y, yhat, DEFAULT_BINS) for s, y, yhat in parts]
    scores, labels, predicted = (np.concatenate([p[i] for p in parts]) for i in range(3))
    got = performance_metrics(merge_aggregates(aggs, BinaryAggregate.empty(DEFAULT_BINS)))
    assert_matches_sklearn(got, scores, labels, predicted, DEFAULT_BINS)


# ---------------------------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------------------------


def make_regression_rows(seed: int, n: int = 5_000, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Raw (predictions, targets): NaN targets (unlabeled), zero targets, bad labeled rows."""
    rng = np.random.default_rng(seed)
    target = rng.normal(50.0 + shift, 20.0, n)
    pred = target + rng.normal(1.5, 8.0, n)
    target[rng.choice(n, 25, replace=False)] = 0.0
    target[rng.random(n) < 0.15] = np.nan
    labeled = np.flatnonzero(~np.isnan(target))
    bad = rng.choice(labeled, 8, replace=False)
    pred[bad[:5]] = np.nan  # labeled, no prediction
    pred[bad[5]] = np.inf
    target[bad[6:]] = np.inf  # non-finite target
    return pred, target


def sklearn_regression(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """sklearn on the valid labeled rows; MAPE on the non-zero targets only."""
    ok = ~np.isnan(target) & np.isfinite(pred) & np.isfinite(target)
    p, y = pred[ok], target[ok]
    nz = y != 0
    return {
        "mae": skm.mean_absolute_error(y, p),
        "rmse": math.sqrt(skm.mean_squared_error(y, p)),
        "mape": skm.mean_absolute_percentage_error(y[nz], p[nz]),
        "r2": skm.r2_score(y, p),
        "mean_error": float(np.mean(p - y)),
        "n_zero_target": float(np.sum(~nz)),
    }


def assert_regression_matches(got: dict[str, float], pred: np.ndarray, target: np.ndarray) -> None:
    expected = sklearn_regression(pred, target)
    assert expected["n_zero_target"] > 0
    for metric in REGRESSION_METRICS:
        assert got[metric] == pytest.approx(expected[metric], rel=1e-9, abs=1e-12), metric
    assert got["n_zero_target"] == expected["n_zero_target"]


def test_regression_metrics_match_sklearn() -> None:
    """regression_metrics vs sklearn MAE / sqrt(MSE) / R2 / MAPE (non-zero targets) and numpy mean error."""
    pred, target = make_regression_rows(seed=31)
    agg = regression_aggregate_from_rows(pred, target)
    got = performance_metrics(agg)
    assert_regression_matches(got, pred, target)
    assert got["n_scored"] == len(pred)
    assert got["n_labeled"] == np.sum(~np.isnan(target))
    assert got["label_coverage"] == pytest.approx(np.mean(~np.isnan(target)), abs=1e-15)
    assert got["n_invalid"] == 8
    zero_valid = (target == 0) & np.isfinite(pred)  # zero targets still count, just not in the MAPE
    assert got["n_zero_target"] == np.sum(zero_valid) > 0


def test_regression_merged_chunks_chan() -> None:
    """Chunks with very different target means merged (Chan) vs sklearn on the concatenated rows."""
    parts = [
        make_regression_rows(seed=41, n=3_000, shift=0.0),
        make_regression_rows(seed=42, n=50, shift=1_000.0),
        (np.array([]), np.array([])),
        (np.array([7.0]), np.array([3.0])),  # a one-row chunk
        make_regression_rows(seed=43, n=1_200, shift=-300.0),
    ]
    aggs = [regression_aggregate_from_rows(p, t) for p, t in parts]
    pred = np.concatenate([p for p, _ in parts])
    target = np.concatenate([t for _, t in parts])
    chained = aggs[0]
    for a in aggs[1:]:
        chained = chained.merge(a)
    merged = merge_aggregates(aggs, RegressionAggregate.empty())
    for agg in (chained, merged):
        got = performance_metrics(agg)
        assert_regression_matches(got, pred, target)
        assert got["n_scored"] == len(pred)
        assert got["n_invalid"] == 24


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_single_class_gives_nan_auc(label: float) -> None:
    """Only one label value: ROC AUC is undefined (NaN), not an exception; exact metrics still work."""
    rng = np.random.default_rng(51)
    scores = rng.random(200)
    labels = np.full(200, label)
    predicted = (scores >= THRESHOLD).astype(np.float64)
    got = binary_metrics(binary_aggregate_from_rows(scores, labels, predicted, DEFAULT_BINS))
    assert math.isnan(got["roc_auc"])
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted), abs=1e-12)
    assert got["brier_score"] == pytest.approx(np.mean((scores - label) ** 2), abs=1e-12)
    if label == 0.0:
        assert math.isnan(got["average_precision"])  # no positives
        assert math.isnan(got["recall"])


def test_empty_binary_aggregate_is_nan() -> None:
    """No rows at all: every metric and the label coverage are NaN, counts are 0."""
    got = performance_metrics(BinaryAggregate.empty(DEFAULT_BINS))
    assert got["n_scored"] == 0 and got["n_labeled"] == 0 and got["n_invalid"] == 0
    assert math.isnan(got["label_coverage"])
    for metric in BINARY_METRICS:
        assert math.isnan(got[metric]), metric
    # Same from zero raw rows.
    empty_rows = binary_aggregate_from_rows(np.array([]), np.array([]), np.array([]), DEFAULT_BINS)
    got = performance_metrics(empty_rows)
    assert math.isnan(got["label_coverage"])
    assert all(math.isnan(got[m]) for m in BINARY_METRICS)


def test_no_labels_yet() -> None:
    """Scored rows without any label: coverage 0, labeled metrics NaN, positive prediction rate defined."""
    scores = np.array([0.1, 0.7, 0.9, np.nan])
    predicted = np.array([0.0, 1.0, 1.0, np.nan])
    got = performance_metrics(binary_aggregate_from_rows(scores, np.full(4, np.nan), predicted, DEFAULT_BINS))
    assert got["n_scored"] == 4 and got["n_labeled"] == 0 and got["label_coverage"] == 0.0
    assert got["positive_prediction_rate"] == pytest.approx(2 / 3)
    for metric in set(BINARY_METRICS) - {"positive_prediction_rate"}:
        assert math.isnan(got[metric]), metric


def test_empty_regression_aggregate_is_nan() -> None:
    """No rows: every regression metric and the coverage are NaN; merging empties stays empty."""
    agg = RegressionAggregate.empty().merge(RegressionAggregate.empty())
    got = performance_metrics(agg)
    assert math.isnan(got["label_coverage"])
    for metric in REGRESSION_METRICS:
        assert math.isnan(got[metric]), metric
    assert got["n_zero_target"] == 0


def test_merge_different_n_bins_raises() -> None:
    """Aggregates with different score cells cannot be added."""
    with pytest.raises(ProfileError, match="score cells"):
        BinaryAggregate.empty(100).merge(BinaryAggregate.empty(1000))
    with pytest.raises(ProfileError, match="score cells"):
        merge_aggregates([BinaryAggregate.empty(100)], BinaryAggregate.empty(10_000))


@pytest.mark.parametrize("n_bins", [5, 25, 1001])
def test_empty_requires_multiple_of_ten(n_bins: int) -> None:
    """The calibration bins are whole cells, so n_bins must be a multiple of 10."""
    with pytest.raises(ProfileError, match="multiple of 10"):
        BinaryAggregate.empty(n_bins)


# ---------------------------------------------------------------------------------------------
# Tolerances
# ---------------------------------------------------------------------------------------------


def _verdict(value: float, reference: float, metric: str, tol: Tolerance) -> MetricVerdict:
    (v,) = evaluate_performance({metric: value}, {metric: reference}, {metric: tol})
    return v


@pytest.mark.parametrize(
    ("value", "level", "degradation"),
    [(0.87, "warn", 0.03), (0.84, "error", 0.06), (0.95, "ok", -0.05), (0.89, "ok", 0.01)],
)
def test_evaluate_higher_is_better_absolute(value: float, level: str, degradation: float) -> None:
    """roc_auc against reference 0.90 with tolerance (warn 0.025, error 0.05): degradation = ref - value."""
    v = _verdict(value, 0.90, "roc_auc", Tolerance(0.025, 0.05))
    assert v.level == level
    assert v.degradation == pytest.approx(degradation, abs=1e-12)
    assert v.value == value and v.reference == 0.90


@pytest.mark.parametrize(
    ("value", "level", "degradation"),
    [(1.3, "error", 0.3), (1.2, "warn", 0.2), (1.05, "ok", 0.05), (0.7, "ok", -0.3)],
)
def test_evaluate_lower_is_better_relative(value: float, level: str, degradation: float) -> None:
    """mae against reference 1.0 with relative tolerance (0.1, 0.25): degradation = (value - ref) / |ref|."""
    v = _verdict(value, 1.0, "mae", Tolerance(0.1, 0.25, relative=True))
    assert v.level == level
    assert v.degradation == pytest.approx(degradation, abs=1e-12)


def test_evaluate_relative_scale() -> None:
    """A relative degradation is divided by the reference: log_loss 0.26 vs 0.2 is 30 % worse."""
    v = _verdict(0.26, 0.2, "log_loss", Tolerance(0.1, 0.25, relative=True))
    assert v.degradation == pytest.approx(0.3, abs=1e-12)
    assert v.level == "error"
    # The same absolute gap against a large reference is fine.
    assert _verdict(10.06, 10.0, "log_loss", Tolerance(0.1, 0.25, relative=True)).level == "ok"


@pytest.mark.parametrize(("value", "reference"), [(math.nan, 0.9), (0.9, math.nan), (math.nan, math.nan)])
def test_evaluate_nan_is_no_data(value: float, reference: float) -> None:
    """A missing value or reference gives no_data, never ok."""
    v = _verdict(value, reference, "roc_auc", Tolerance(0.025, 0.05))
    assert v.level == "not_evaluated"
    assert math.isnan(v.degradation)


def test_evaluate_missing_metric_is_no_data_and_order_follows_tolerances() -> None:
    """A toleranced metric absent from the values is no_data; one verdict per tolerance, in order."""
    tolerances = {"r2": Tolerance(0.05, 0.1), "roc_auc": Tolerance(0.025, 0.05), "mae": Tolerance(0.1, 0.25, True)}
    verdicts = evaluate_performance({"roc_auc": 0.80}, {"roc_auc": 0.90, "r2": 0.5, "mae": 1.0}, tolerances)
    assert [v.metric for v in verdicts] == ["r2", "roc_auc", "mae"]
    assert [v.level for v in verdicts] == ["not_evaluated", "error", "not_evaluated"]


def test_evaluate_on_real_metrics() -> None:
    """End to end: a degraded model (noisier scores) against the reference window's sklearn values."""
    rng = np.random.default_rng(61)
    n = 8_000
    y = (rng.random(n) < 0.3).astype(np.float64)
    good = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.15, n), 0, 1)
    bad = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.4, n), 0, 1)
    ref = binary_metrics(binary_aggregate_from_rows(good, y, (good >= 0.5).astype(float), DEFAULT_BINS))
    cur = binary_metrics(binary_aggregate_from_rows(bad, y, (bad >= 0.5).astype(float), DEFAULT_BINS))
    drop = skm.roc_auc_score(y, good) - skm.roc_auc_score(y, bad)
    assert drop > 0.06  # the data really degraded
    (v,) = evaluate_performance(cur, ref, {"roc_auc": Tolerance(0.025, 0.05)})
    assert v.level == "error"
    assert v.degradation == pytest.approx(drop, abs=0.004)


@pytest.mark.parametrize(("value", "level"), [(0.75, "ok"), (0.5, "warn"), (0.375, "error")])
def test_evaluate_boundaries_are_strict(value: float, level: str) -> None:
    """Worse by more than a tolerance is strict: exactly the warn (error) gap is still ok (warn)."""
    assert _verdict(value, 1.0, "roc_auc", Tolerance(0.25, 0.5)).level == level
