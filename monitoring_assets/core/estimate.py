"""Performance estimated without labels (confidence-based performance estimation, as NannyML's
CBPE: https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html).

Inputs are profiles only: the reference's labeled score histograms (``BinaryAggregate.hist``,
``[label, cell]`` over ``n_bins`` equal-width cells on [0, 1]) and a day's histogram of all its
scored rows on the same cells (:class:`ScoreHistogram`, from the daily profile's fine score
histogram, ``monitoring_assets.core.profile.score_cells_column``).

Calibration (:class:`IsotonicCalibration`): the reference's positive share per cell,
``pos_k / n_k``, fitted by weighted isotonic regression (weights ``n_k``, non-decreasing in the
cell, ``scipy.optimize.isotonic_regression``) over the cells that hold reference rows; the other
cells take the linear interpolation between the fitted cells on either side (the first / last
fitted value beyond them). That is scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``
fitted on the cell indexes and predicting every cell. Its result ``p_k`` is the probability that a
row scored in cell ``k`` is positive.

Estimate of one day (:func:`estimate_binary`), with ``c_k`` the day's rows in cell ``k`` and the
rows predicted positive those of cells ``k >= k_t = ceil(threshold * n_bins)`` (the cells whose
lower edge is at or above the threshold: exact for a threshold on a cell edge, such as 0.5):

* expected confusion counts: ``TP = sum_{k >= k_t} c_k p_k``, ``FP = sum_{k >= k_t} c_k (1 - p_k)``,
  ``FN = sum_{k < k_t} c_k p_k``, ``TN = sum_{k < k_t} c_k (1 - p_k)``;
* accuracy ``(TP + TN) / n``, precision ``TP / (TP + FP)``, recall ``TP / (TP + FN)``, F1
  ``2 TP / (2 TP + FP + FN)``: ratios of the expected counts (NaN when a denominator is 0);
* ROC AUC: each cell holds ``c_k p_k`` expected positives and ``c_k (1 - p_k)`` expected
  negatives at one tied score, and the AUC of those weights is computed as the labeled AUC of a
  histogram is (``performance._roc_auc``: pairs within a cell count one half). This is NannyML's
  expected TPR / FPR curve over the thresholds, evaluated at the cell edges.

Band (:attr:`BinaryEstimate.lower` / ``upper``): ``value -+ Z * se``, clipped to [0, 1]. The
standard error ``se`` is the sampling error of the realized metric around the estimate when the
calibration holds, i.e. when each row's label is an independent Bernoulli(``p_k``) draw, in closed
form: ``A = TP`` and ``B = FN`` are independent sums of Bernoullis with variances
``V_A = sum_{k >= k_t} c_k p_k (1 - p_k)`` and ``V_B = sum_{k < k_t} c_k p_k (1 - p_k)``, and with
``m`` the rows predicted positive (known without labels):

* accuracy: ``sqrt(V_A + V_B) / n`` (the correct rows are ``A + (n - m) - B``);
* precision ``A / m``: ``sqrt(V_A) / m``;
* recall ``A / (A + B)`` (delta method): ``sqrt(B^2 V_A + A^2 V_B) / (A + B)^2``;
* F1 ``2A / (A + B + m)`` (delta method): ``2 sqrt((B + m)^2 V_A + A^2 V_B) / (A + B + m)^2``;
* ROC AUC: Hanley and McNeil (1982), ``se^2 = (AUC (1 - AUC) + (P - 1)(Q1 - AUC^2) + (N - 1)(Q2 -
  AUC^2)) / (P N)`` with ``Q1 = AUC / (2 - AUC)``, ``Q2 = 2 AUC^2 / (1 + AUC)`` and ``P = TP + FN``,
  ``N = FP + TN`` the expected positives and negatives;

all at the expected counts. ``Z = 3`` as NannyML's sampling-error band (3 standard errors). The
band covers label sampling only: an error of the calibration itself (a small reference) or a
change of P(y | score) (concept drift) is outside it, and nothing without labels can see the
latter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import isotonic_regression

from monitoring_assets.core.performance import _roc_auc  # the labeled AUC of a histogram, reused as is
from monitoring_assets.core.profile import NumericProfile
from monitoring_assets.errors import ProfileError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
Z = 3.0  # standard errors each side of the estimate, as NannyML's band


@dataclass(frozen=True, eq=False)
class ScoreHistogram:
    """All scored rows of a window by score cell: ``counts[k]`` rows with
    ``floor(score * n_bins) == k`` (a score of exactly 1 in the last cell); ``n_invalid`` rows
    whose score is outside [0, 1] or not finite, ``n_missing`` rows without a score."""

    n_bins: int
    counts: IntArray = field(repr=False)
    n_invalid: int = 0
    n_missing: int = 0

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.int64)
        if counts.shape != (self.n_bins,):
            raise ProfileError(f"a score histogram of {self.n_bins} cells got {counts.shape}")
        object.__setattr__(self, "counts", counts)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @classmethod
    def from_profile(cls, column: NumericProfile) -> ScoreHistogram:
        """From a profile's fine score histogram (bins ``[0, 1)`` in ``n_bins`` cells plus the
        underflow and overflow cells): cells ``1..n_bins`` are the score cells, the underflow
        (scores below 0) is invalid, and the overflow holds the scores of exactly 1 (last cell)
        unless the column's max is above 1, when it is counted invalid as a whole."""
        bins = column.bins
        if (bins.lo, bins.hi) != (0.0, 1.0):
            raise ProfileError(f"a fine score histogram is binned on [0, 1), got [{bins.lo}, {bins.hi})")
        hist = column.hist
        counts = hist[1 : bins.n_bins + 1].copy()
        over = int(hist[-1])
        invalid = int(hist[0]) + column.nonfinite_count
        if over and column.max <= 1.0:
            counts[-1] += over
        else:
            invalid += over
        return cls(bins.n_bins, counts, invalid, column.null_count)

    @classmethod
    def from_scores(cls, scores: npt.ArrayLike, n_bins: int) -> ScoreHistogram:
        """Raw scores (NaN = missing) in numpy, on the labeled performance's cells."""
        s = np.asarray(scores, dtype=np.float64)
        missing = np.isnan(s)
        valid = np.isfinite(s) & (s >= 0) & (s <= 1)
        cells = np.clip(np.floor(s[valid] * n_bins), 0, n_bins - 1).astype(np.int64)
        return cls(n_bins, np.bincount(cells, minlength=n_bins), int((~valid & ~missing).sum()), int(missing.sum()))


class CalibrationError(ProfileError):
    """The reference cannot calibrate the score (no labels, one class only, too few rows)."""


class IsotonicCalibration:
    """P(y = 1 | score cell) fitted on the reference's labeled score histograms (module docstring).

    scikit-learn's contract: ``__init__`` stores the settings, :meth:`fit` learns ``p_`` (one
    probability per cell), ``n_labeled_`` and ``n_positive_``; :meth:`predict` returns ``p_``
    for cell indexes. ``fit`` raises :class:`CalibrationError` with the reason when the reference
    has under ``min_labeled`` valid labeled rows or a single class."""

    def __init__(self, min_labeled: int = 1) -> None:
        self.min_labeled = min_labeled

    def fit(self, hist: npt.ArrayLike) -> IsotonicCalibration:
        h = np.asarray(hist, dtype=np.float64)
        if h.ndim != 2 or h.shape[0] != 2:
            raise ProfileError(f"calibration needs per-label histograms of shape (2, n_bins), got {h.shape}")
        neg, pos = h
        total = neg + pos
        n_labeled, n_positive = int(total.sum()), int(pos.sum())
        if n_labeled < self.min_labeled:
            raise CalibrationError(
                f"the reference has {n_labeled} valid labeled rows, fewer than the {self.min_labeled} needed"
            )
        if n_positive in (0, n_labeled):
            raise CalibrationError(
                f"the reference's labels are all {int(n_positive > 0)}: one class calibrates nothing"
            )
        filled = np.flatnonzero(total)
        fitted = isotonic_regression(pos[filled] / total[filled], weights=total[filled], increasing=True).x
        cells = np.arange(h.shape[1], dtype=np.float64)
        self.p_: FloatArray = np.clip(np.interp(cells, filled.astype(np.float64), fitted), 0.0, 1.0)
        self.n_labeled_ = n_labeled
        self.n_positive_ = n_positive
        return self

    @classmethod
    def from_fitted(cls, p: npt.ArrayLike, n_labeled: int, n_positive: int) -> IsotonicCalibration:
        """A calibration read back from storage (its fitted ``p_``)."""
        out = cls()
        out.p_ = np.asarray(p, dtype=np.float64)
        out.n_labeled_, out.n_positive_ = int(n_labeled), int(n_positive)
        return out

    @property
    def n_bins(self) -> int:
        return int(self.p_.shape[0])

    def predict(self, cells: npt.ArrayLike) -> FloatArray:
        out: FloatArray = self.p_[np.asarray(cells, dtype=np.int64)]
        return out


@dataclass(frozen=True)
class BinaryEstimate:
    """One window's estimated performance (module docstring for every formula).

    ``confusion[label, predicted]`` holds expected counts (floats); ``values`` and ``se`` map each
    of ``ESTIMATED_METRICS`` to its estimate and standard error (NaN when undefined)."""

    n: int
    n_invalid: int
    n_missing: int
    confusion: FloatArray
    values: Mapping[str, float]
    se: Mapping[str, float]
    z: float = Z

    def lower(self, metric: str) -> float:
        """The band's lower end, clipped at 0; NaN when the estimate or its error is undefined."""
        value, width = self.values[metric], self.z * self.se[metric]
        return max(0.0, value - width) if math.isfinite(value + width) else math.nan

    def upper(self, metric: str) -> float:
        """The band's upper end, clipped at 1; NaN when the estimate or its error is undefined."""
        value, width = self.values[metric], self.z * self.se[metric]
        return min(1.0, value + width) if math.isfinite(value + width) else math.nan

    def as_metrics(self) -> dict[str, float]:
        """The flat numbers stored as rows: each metric, its band, and the expected counts."""
        (tn, fp), (fn, tp) = self.confusion
        out: dict[str, float] = {"n_scored": float(self.n), "n_invalid_scores": float(self.n_invalid)}
        out |= {"expected_tp": tp, "expected_fp": fp, "expected_fn": fn, "expected_tn": tn}
        for m in ESTIMATED_METRICS:
            v = self.values[m]
            out[m] = v
            out[f"{m}_lower"] = self.lower(m)
            out[f"{m}_upper"] = self.upper(m)
        return out


def threshold_cell(threshold: float, n_bins: int) -> int:
    """The first cell predicted positive: ``ceil(threshold * n_bins)`` (rounded to 9 decimals
    first, so that 0.3 * 10,000 is cell 3,000 and not 3,001)."""
    return math.ceil(round(threshold * n_bins, 9))


def expected_confusion(hist: ScoreHistogram, p: npt.ArrayLike, threshold: float) -> FloatArray:
    """``[[TN, FP], [FN, TP]]`` expected under the per-cell probabilities ``p``."""
    c, q = hist.counts.astype(np.float64), np.asarray(p, dtype=np.float64)
    kt = threshold_cell(threshold, hist.n_bins)
    pos, neg = c * q, c * (1 - q)
    return np.array([[neg[:kt].sum(), neg[kt:].sum()], [pos[:kt].sum(), pos[kt:].sum()]], dtype=np.float64)


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def _hanley_mcneil(auc: float, n_pos: float, n_neg: float) -> float:
    if not (math.isfinite(auc) and n_pos > 0 and n_neg > 0):
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def estimate_binary(hist: ScoreHistogram, calibration: IsotonicCalibration, threshold: float) -> BinaryEstimate:
    """The day's expected confusion counts, metrics and standard errors (module docstring)."""
    if calibration.n_bins != hist.n_bins:
        raise ProfileError(
            f"the calibration has {calibration.n_bins} score cells and the day's histogram {hist.n_bins}: "
            "re-materialize the reference profile after changing performance.score_bins"
        )
    p = calibration.p_
    confusion = expected_confusion(hist, p, threshold)
    (tn, fp), (fn, tp) = (float(v) for v in confusion[0]), (float(v) for v in confusion[1])
    n = hist.n
    c = hist.counts.astype(np.float64)
    kt = threshold_cell(threshold, hist.n_bins)
    bern = c * p * (1 - p)
    va, vb = float(bern[kt:].sum()), float(bern[:kt].sum())
    m = tp + fp  # rows predicted positive: c summed over k >= k_t
    values = {
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, m),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": _roc_auc(np.stack([c * (1 - p), c * p])),
    }
    d = tp + fn + m
    se = {
        "accuracy": _ratio(math.sqrt(va + vb), n),
        "precision": _ratio(math.sqrt(va), m),
        "recall": _ratio(math.sqrt(fn * fn * va + tp * tp * vb), (tp + fn) ** 2),
        "f1": _ratio(2 * math.sqrt((fn + m) ** 2 * va + tp * tp * vb), d * d),
        "roc_auc": _hanley_mcneil(values["roc_auc"], tp + fn, tn + fp),
    }
    return BinaryEstimate(n, hist.n_invalid, hist.n_missing, confusion, values, se)
