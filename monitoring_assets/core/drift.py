"""Drift statistics: pure functions of two column profiles (reference, current).

Each method is one small function plus a frozen :class:`DriftMethod` descriptor, registered by
name in :data:`DRIFT_METHODS`. A statistic returns a number; whether that number is drift is
decided elsewhere (:mod:`monitoring_assets.core.evaluate`) against a threshold.

How each method sees a column:

* **Distribution methods** (``psi``, ``jensenshannon``, ``hellinger``, ``kl_divergence``,
  ``linf``, ``chisquare``) compare two probability vectors over the same cells.
  Categorical columns: the reference's top-K categories plus ``other`` (nulls excluded; null
  rates are a data-quality concern). Numeric columns: the fine histogram cells grouped into
  ``COARSE_BINS = 10`` groups of about equal *reference* mass (reference deciles at fine-cell
  resolution, see :func:`coarse_starts`); the underflow/overflow cells fall into the first/last
  group, so values beyond the reference range move mass into the outer deciles.
* **Distance-on-the-line methods** (``ks``, ``wasserstein``) use the fine histogram of a numeric
  column directly (see :mod:`monitoring_assets.core.profile` for the cells).

Empty-bin epsilon: ``psi`` and ``kl_divergence`` replace a proportion of exactly 0 by
``EPSILON = 1e-4`` (no renormalisation) so that a bin empty on one side gives a large finite
value instead of infinity. The other methods need no epsilon. Logarithms are natural except
``jensenshannon``, which uses base 2 so that its range is [0, 1].

A current profile with no values in the column yields NaN: there is nothing to compare.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from monitoring_assets.core.profile import (
    CategoricalProfile,
    ColumnProfile,
    FloatArray,
    IntArray,
    NumericProfile,
)
from monitoring_assets.errors import ProfileError

ColumnKind = Literal["numeric", "categorical"]

EPSILON = 1e-4
COARSE_BINS = 10


@dataclass(frozen=True)
class DriftMethod:
    """A registered drift statistic.

    ``drift_when`` says which side of the threshold is drift: ``"above"`` for distances,
    ``"below"`` for p-values. ``symmetric`` means swapping reference and current over the same
    cells gives the same value. ``divides_by_reference_std``: the value is scaled by the
    reference's spread, undefined for a constant reference column; the verdict then follows the
    constant-reference rule of :mod:`monitoring_assets.core.evaluate` instead of ``compute``.
    """

    name: str
    column_kinds: frozenset[ColumnKind]
    default_threshold: float
    drift_when: Literal["above", "below"]
    symmetric: bool
    value_range: tuple[float, float]
    compute: Callable[[ColumnProfile, ColumnProfile], float]
    summary: str
    divides_by_reference_std: bool = False


def coarse_starts(reference: NumericProfile, n_groups: int = COARSE_BINS) -> IntArray:
    """First fine cell of each coarse group: cut where the reference CDF first reaches k/n_groups.

    Groups hold about ``1/n_groups`` of the reference each; ties (a point mass spanning several
    deciles) collapse into fewer groups.
    """
    if reference.count == 0:
        raise ProfileError("reference column has no finite values: cannot form drift bins")
    cdf = np.cumsum(reference.hist) / reference.count
    cuts = np.searchsorted(cdf, np.arange(1, n_groups) / n_groups, side="left")
    starts = np.unique(np.concatenate([[0], cuts + 1]))
    return starts[starts < reference.bins.n_cells].astype(np.int64)


def coarse_edges(reference: NumericProfile, n_groups: int = COARSE_BINS) -> FloatArray:
    """Value boundaries of the coarse groups, from -inf to +inf (for checks on raw values)."""
    starts = coarse_starts(reference, n_groups)
    inner = reference.bins.lo + reference.bins.width * (starts[1:] - 1).astype(np.float64)
    return np.concatenate([[-np.inf], inner, [np.inf]])


def binned_counts(reference: ColumnProfile, current: ColumnProfile) -> tuple[IntArray, IntArray]:
    """Counts of both profiles over the cells the distribution methods compare."""
    if isinstance(reference, CategoricalProfile) and isinstance(current, CategoricalProfile):
        _check_same_bins(reference, current)
        return reference.counts, current.counts
    if isinstance(reference, NumericProfile) and isinstance(current, NumericProfile):
        _check_same_bins(reference, current)
        starts = coarse_starts(reference)
        return np.add.reduceat(reference.hist, starts), np.add.reduceat(current.hist, starts)
    raise ProfileError("reference and current profiles are of different column kinds")


def _check_same_bins(a: ColumnProfile, b: ColumnProfile) -> None:
    if a.bins != b.bins:
        raise ProfileError("reference and current profiles were binned differently; rebuild the reference")


def _proportions(reference: ColumnProfile, current: ColumnProfile) -> tuple[FloatArray, FloatArray] | None:
    ref, cur = binned_counts(reference, current)
    if ref.sum() == 0 or cur.sum() == 0:
        return None
    return ref / ref.sum(), cur / cur.sum()


def _floor(p: FloatArray) -> FloatArray:
    return np.where(p == 0, EPSILON, p)


def psi(reference: ColumnProfile, current: ColumnProfile) -> float:
    """Population stability index: sum over cells of (c - r) * ln(c / r), proportions with
    zeros replaced by EPSILON. Range [0, inf); 0.1 / 0.2 are the customary warn / drift levels."""
    props = _proportions(reference, current)
    if props is None:
        return math.nan
    r, c = _floor(props[0]), _floor(props[1])
    return float(np.sum((c - r) * np.log(c / r)))


def kl_divergence(reference: ColumnProfile, current: ColumnProfile) -> float:
    """Kullback-Leibler divergence KL(reference || current) = sum r * ln(r / c), proportions with
    zeros replaced by EPSILON. Range [0, inf); not symmetric."""
    props = _proportions(reference, current)
    if props is None:
        return math.nan
    r, c = _floor(props[0]), _floor(props[1])
    return float(np.sum(r * np.log(r / c)))


def jensenshannon(reference: ColumnProfile, current: ColumnProfile) -> float:
    """Jensen-Shannon *distance* (square root of the JS divergence), log base 2. Range [0, 1]."""
    props = _proportions(reference, current)
    if props is None:
        return math.nan
    r, c = props
    m = (r + c) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_rm = np.where(r > 0, r * np.log2(r / m), 0.0).sum()
        kl_cm = np.where(c > 0, c * np.log2(c / m), 0.0).sum()
    return float(math.sqrt(max((kl_rm + kl_cm) / 2, 0.0)))


def hellinger(reference: ColumnProfile, current: ColumnProfile) -> float:
    """Hellinger distance sqrt(1 - sum sqrt(r * c)) = ||sqrt(r) - sqrt(c)||_2 / sqrt(2). Range [0, 1]."""
    props = _proportions(reference, current)
    if props is None:
        return math.nan
    r, c = props
    # The norm form: 1 - sum sqrt(r * c) cancels catastrophically near 0 (identical inputs gave ~1e-8).
    return float(min(math.sqrt(0.5 * float(np.sum((np.sqrt(r) - np.sqrt(c)) ** 2))), 1.0))


def linf(reference: ColumnProfile, current: ColumnProfile) -> float:
    """L-infinity distance: the largest absolute difference of cell proportions. Range [0, 1]."""
    props = _proportions(reference, current)
    if props is None:
        return math.nan
    return float(np.max(np.abs(props[0] - props[1])))


def chisquare(reference: ColumnProfile, current: ColumnProfile) -> float:
    """p-value of Pearson's chi-square test of homogeneity on the 2 x K table of counts
    (reference row, current row; cells empty in both are dropped; no Yates correction).
    Range [0, 1]; drift when *below* the threshold. With tens of thousands of rows even
    negligible shifts are significant: prefer a distance for large daily volumes."""
    ref, cur = binned_counts(reference, current)
    if ref.sum() == 0 or cur.sum() == 0:
        return math.nan
    keep = (ref + cur) > 0
    if keep.sum() < 2:
        return 1.0
    table = np.vstack([ref[keep], cur[keep]])
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def _cell_bounds(reference: NumericProfile, current: NumericProfile) -> FloatArray:
    """Boundaries of every fine cell, the open outer cells closed at the observed min / max."""
    inner = reference.bins.inner_edges()
    lo = min(reference.min, current.min, inner[0])
    hi = max(reference.max, current.max, inner[-1])
    return np.concatenate([[lo], inner, [hi]])


def _numeric_pair(reference: ColumnProfile, current: ColumnProfile) -> tuple[NumericProfile, NumericProfile]:
    if not (isinstance(reference, NumericProfile) and isinstance(current, NumericProfile)):
        raise ProfileError("this drift method applies to numeric columns only")
    _check_same_bins(reference, current)
    return reference, current


def ks(reference: ColumnProfile, current: ColumnProfile) -> float:
    """Two-sample Kolmogorov-Smirnov statistic max |F_ref - F_cur|, with both empirical CDFs
    evaluated at the fine cell boundaries. It never exceeds the exact statistic on raw rows and
    falls short of it by at most the largest single-cell proportion of either sample."""
    ref, cur = _numeric_pair(reference, current)
    if ref.count == 0 or cur.count == 0:
        return math.nan
    f_ref = np.cumsum(ref.hist) / ref.count
    f_cur = np.cumsum(cur.hist) / cur.count
    return float(np.max(np.abs(f_ref - f_cur)))


def wasserstein(reference: ColumnProfile, current: ColumnProfile) -> float:
    """Wasserstein-1 distance integral |F_ref(x) - F_cur(x)| dx divided by the reference's
    population standard deviation. Values are taken as spread uniformly within each fine cell
    (CDFs linear between cell boundaries; the outer cells end at the observed min / max), and
    the piecewise-linear integral is computed exactly. Range [0, inf); a constant reference
    column gives 0 when nothing moved and inf otherwise."""
    ref, cur = _numeric_pair(reference, current)
    if ref.count == 0 or cur.count == 0:
        return math.nan
    bounds = _cell_bounds(ref, cur)
    d = np.concatenate([[0.0], np.cumsum(ref.hist) / ref.count - np.cumsum(cur.hist) / cur.count])
    d0, d1, width = d[:-1], d[1:], np.diff(bounds)
    same_sign = d0 * d1 >= 0
    denom = np.abs(d0) + np.abs(d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(denom > 0, (d0**2 + d1**2) / (2 * denom), 0.0)
    area = np.where(same_sign, (np.abs(d0) + np.abs(d1)) / 2, crossing) * width
    distance_ = float(area.sum())
    std = ref.std
    if std == 0:
        return 0.0 if distance_ == 0 else math.inf
    return distance_ / std


_NUM: frozenset[ColumnKind] = frozenset({"numeric"})
_BOTH: frozenset[ColumnKind] = frozenset({"numeric", "categorical"})
_CAT: frozenset[ColumnKind] = frozenset({"categorical"})

DRIFT_METHODS: Mapping[str, DriftMethod] = {
    m.name: m
    for m in (
        DriftMethod("psi", _BOTH, 0.2, "above", True, (0.0, math.inf), psi, "population stability index"),
        DriftMethod(
            "jensenshannon", _BOTH, 0.1, "above", True, (0.0, 1.0), jensenshannon, "Jensen-Shannon distance, base 2"
        ),
        DriftMethod("hellinger", _BOTH, 0.1, "above", True, (0.0, 1.0), hellinger, "Hellinger distance"),
        DriftMethod(
            "kl_divergence",
            _BOTH,
            0.1,
            "above",
            False,
            (0.0, math.inf),
            kl_divergence,
            "KL(reference || current), natural log",
        ),
        DriftMethod("linf", _BOTH, 0.1, "above", True, (0.0, 1.0), linf, "largest cell-proportion gap"),
        DriftMethod("chisquare", _CAT, 0.05, "below", True, (0.0, 1.0), chisquare, "chi-square test p-value"),
        DriftMethod("ks", _NUM, 0.1, "above", True, (0.0, 1.0), ks, "Kolmogorov-Smirnov statistic"),
        DriftMethod(
            "wasserstein",
            _NUM,
            0.1,
            "above",
            False,
            (0.0, math.inf),
            wasserstein,
            "Wasserstein-1 distance / reference std",
            divides_by_reference_std=True,
        ),
    )
}

DEFAULT_METHODS: Mapping[ColumnKind, str] = {"numeric": "wasserstein", "categorical": "jensenshannon"}


def get_method(name: str) -> DriftMethod:
    try:
        return DRIFT_METHODS[name]
    except KeyError:
        raise ProfileError(f"unknown drift method {name!r}; choose one of {sorted(DRIFT_METHODS)}") from None


def column_kind(profile: ColumnProfile) -> ColumnKind:
    return "numeric" if isinstance(profile, NumericProfile) else "categorical"
