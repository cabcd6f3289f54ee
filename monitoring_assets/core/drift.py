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
  column directly (see :mod:`monitoring_assets.core.profile` for the cells); ``wasserstein``
  also uses the tail sums and min / max for the mass outside the bin range.

Empty-bin epsilon: ``psi`` and ``kl_divergence`` replace a proportion of exactly 0 by
``EPSILON = 1e-4`` (no renormalisation) so that a bin empty on one side gives a large finite
value instead of infinity. The other methods need no epsilon. Logarithms are natural except
``jensenshannon``, which uses base 2 so that its range is [0, 1].

A current profile with no values in the column yields NaN: there is nothing to compare.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

import numpy as np

from monitoring_assets.core import catalog
from monitoring_assets.core.profile import (
    CategoricalProfile,
    ColumnProfile,
    FloatArray,
    IntArray,
    NumericProfile,
)
from monitoring_assets.errors import ProfileError

# The catalog's tables (monitoring_assets/core/catalog.py, numpy-free), importable from here too.
DEFAULT_METHODS = catalog.DEFAULT_METHODS
ColumnKind = catalog.ColumnKind

EPSILON = 1e-4
COARSE_BINS = 10


@dataclass(frozen=True)
class DriftMethod(catalog.DriftTraits):
    """A registered drift statistic: its traits (:class:`monitoring_assets.core.catalog.DriftTraits`)
    and ``compute``.

    ``drift_when`` says which side of the threshold is drift: ``"above"`` for distances,
    ``"below"`` for p-values. ``symmetric`` means swapping reference and current over the same
    cells gives the same value. ``divides_by_reference_std``: the value is scaled by the
    reference's spread, undefined for a constant reference column; the verdict then follows the
    constant-reference rule of :mod:`monitoring_assets.core.evaluate` instead of ``compute``.
    """

    compute: Callable[[ColumnProfile, ColumnProfile], float] = field(kw_only=True)


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
    from scipy import stats  # noqa: PLC0415 - on first use: scipy would slow the code location's start-up

    return float(stats.chi2_contingency(table, correction=False).pvalue)


def _cell_bounds(reference: NumericProfile, current: NumericProfile) -> FloatArray:
    """Boundaries of every fine cell, the open outer cells closed at the observed min / max."""
    inner = reference.bins.inner_edges()
    lo = min(reference.min, current.min, inner[0])
    hi = max(reference.max, current.max, inner[-1])
    return np.concatenate([[lo], inner, [hi]])


def _linear_areas(d0: FloatArray, d1: FloatArray, width: FloatArray) -> FloatArray:
    """Integral of |D| over each cell when D runs linearly from d0 to d1 across it."""
    same_sign = d0 * d1 >= 0
    denom = np.abs(d0) + np.abs(d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(denom > 0, (d0**2 + d1**2) / (2 * denom), 0.0)
    return np.asarray(np.where(same_sign, denom / 2, crossing) * width, dtype=np.float64)


@dataclass(frozen=True)
class TailModel:
    """One sample's tail beyond a bin bound, as a function of the distance ``t >= 0`` from it.

    ``G(t) = point * [t <= extent] + rest * exp(-t / scale)`` models ``F(lo - t)`` below the
    range and ``1 - F(hi + t)`` above it. ``point`` (``1 / count``) is the most extreme value,
    known exactly (min / max) at distance ``extent``; the tail's other values (mass ``rest``) get an
    exponential profile whose mean distance ``scale`` makes the integral of ``G`` equal the exact
    ``excess / count`` (``excess`` = sum of the tail values' distances from the bound).

    Why exponential: it is the profile fixed by its mean alone that decreases away from the bound,
    as a tail's CDF does, and two of them are ordered (one above the other everywhere) exactly
    when mass and mean distance are ordered alike, as for two tails of one shape at two scales.
    It is not cut at ``extent``; it only has to carry the right integral.
    """

    point: float
    extent: float
    rest: float
    scale: float

    @classmethod
    def fit(cls, n_tail: int, count: int, excess: float, extent: float) -> TailModel:
        if n_tail == 0:
            return cls(0.0, 0.0, 0.0, 1.0)
        extent = max(extent, 0.0)  # an overflow value within rounding of hi may sit just below it
        rest_excess = excess - extent
        if n_tail == 1 or rest_excess <= 0:
            return cls(1.0 / count, extent, 0.0, 1.0)  # the others sit at the bound: no area
        return cls(1.0 / count, extent, (n_tail - 1) / count, rest_excess / (n_tail - 1))


def tail_gap(a: TailModel, b: TailModel) -> float:
    """Exact integral over ``t in [0, inf)`` of ``|G_a(t) - G_b(t)|`` for two tail models."""
    cuts = sorted({0.0, a.extent, b.extent})
    total = 0.0
    for t0, t1 in zip(cuts, [*cuts[1:], math.inf], strict=True):
        if t1 <= t0:
            continue
        mid = t0 + 1.0 if math.isinf(t1) else (t0 + t1) / 2
        step = (a.point if mid < a.extent else 0.0) - (b.point if mid < b.extent else 0.0)
        total += _abs_exp_integral(step, a, b, t0, t1)
    return total


def _abs_exp_integral(step: float, a: TailModel, b: TailModel, t0: float, t1: float) -> float:
    """Integral over [t0, t1] of |h| with h(t) = step + a.rest exp(-t/a.scale) - b.rest
    exp(-t/b.scale), in closed form between the roots of h. h' has at most one root, so h is
    monotone on at most two pieces and has at most one root on each (found by Brent's method);
    ``t1 = inf`` only where ``step = 0``."""

    def h(t: float) -> float:
        return step + a.rest * math.exp(-t / a.scale) - b.rest * math.exp(-t / b.scale)

    def antiderivative(t: float) -> float:
        if math.isinf(t):
            return 0.0
        return step * t - a.rest * a.scale * math.exp(-t / a.scale) + b.rest * b.scale * math.exp(-t / b.scale)

    points = [t0, t1]
    if a.rest > 0 and b.rest > 0 and a.scale != b.scale:
        # h' = 0 where (a.rest / a.scale) exp(-t / a.scale) = (b.rest / b.scale) exp(-t / b.scale)
        critical = (math.log(b.rest / b.scale) - math.log(a.rest / a.scale)) / (1 / b.scale - 1 / a.scale)
        if t0 < critical < t1:
            points.insert(1, critical)
    cuts = [points[0]]
    for u, v in itertools.pairwise(points):
        if not math.isinf(v) and h(u) * h(v) < 0:
            cuts.append(_monotone_root(h, u, v))
        cuts.append(v)
    return sum(abs(antiderivative(v) - antiderivative(u)) for u, v in itertools.pairwise(cuts))


def _monotone_root(h: Callable[[float], float], u: float, v: float) -> float:
    """The root of ``h`` on ``[u, v]``, where ``h`` is monotone and changes sign: bisection until
    the bracket is two adjacent floats. (scipy's ``brentq`` gives the same root, but importing
    ``scipy.optimize`` costs every run process about 0.4 s for a handful of roots.)"""
    negative_at_u = h(u) < 0
    while True:
        mid = u + (v - u) / 2
        if mid in (u, v):
            return mid
        if (h(mid) < 0) == negative_at_u:
            u = mid
        else:
            v = mid


def tail_models(profile: NumericProfile) -> tuple[TailModel, TailModel]:
    """The lower and upper tail models of a profile with tail sums."""
    bins, n_low, n_high = profile.bins, int(profile.hist[0]), int(profile.hist[-1])
    low = TailModel.fit(n_low, profile.count, n_low * bins.lo - profile.tail_low_sum, bins.lo - profile.min)
    high = TailModel.fit(n_high, profile.count, profile.tail_high_sum - n_high * bins.hi, profile.max - bins.hi)
    return low, high


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
    population standard deviation. Range [0, inf); a constant reference column gives 0 when
    nothing moved and inf otherwise.

    Inside the reference's bin range ``[lo, hi)`` values are taken as spread uniformly within
    each fine cell (both CDFs linear between cell boundaries) and that piecewise-linear integral
    is computed exactly.

    Tails (below ``lo``, at or above ``hi``), when both profiles carry tail sums: the integral of
    each sample's CDF over the lower tail is exact, ``E[(lo - X)+] = (n_low * lo - tail_low_sum)
    / count`` (upper tail: ``(tail_high_sum - n_high * hi) / count`` for ``1 - F``). Each tail is
    then modelled by :class:`TailModel`: the extreme value (min / max) exactly, the others with an
    exponential profile whose integral keeps that exact value; the result is the exact integral of
    ``|G_ref - G_cur|`` between the two models (:func:`tail_gap`). Hence:

    * when one sample's tail CDF lies above the other's across the tail and the two models are
      ordered the same way (a change of scale; a shift of light-tailed data) the tail term is
      exact: ``|int F_ref - int F_cur|``. A shift of heavy-tailed data can order the data but
      not the models (more mass beyond the bound with a shorter mean reach): the term is then an
      estimate above the exact one;
    * in every case it lies in ``[|int F_ref - int F_cur|, int F_ref + int F_cur]``, the interval
      that the exact tail term is known to lie in, so its error is at most twice the smaller of
      the two tail integrals. Samples whose W1 rests on a few extreme values (Cauchy) can be
      10 % or more off; shifted, rescaled, skewed and Student-t (2-3 df) samples of 40,000 rows
      come within 2 % of ``scipy.stats.wasserstein_distance`` (``tests/test_faults_tails.py``).

    No epsilon is involved; the tail sums (not the observed min / max alone) fix each tail's
    integral, and min / max enter only as the extreme value of each tail model.

    Profiles stored without tail sums (before they existed) fall back to the earlier estimate:
    the underflow / overflow cells are taken as uniform out to the observed min / max of both
    samples, which overstates a widening day (+10 to +14 % on a 1.6x spread); rebuild the
    reference and re-profile the days to get exact tails.
    """
    ref, cur = _numeric_pair(reference, current)
    if ref.count == 0 or cur.count == 0:
        return math.nan
    d = np.concatenate([[0.0], np.cumsum(ref.hist) / ref.count - np.cumsum(cur.hist) / cur.count])
    areas = _linear_areas(d[:-1], d[1:], np.diff(_cell_bounds(ref, cur)))
    if ref.has_tail_sums and cur.has_tail_sums:
        (ref_low, ref_high), (cur_low, cur_high) = tail_models(ref), tail_models(cur)
        distance_ = float(areas[1:-1].sum()) + tail_gap(ref_low, cur_low) + tail_gap(ref_high, cur_high)
    else:
        distance_ = float(areas.sum())
    std = ref.std
    if std == 0:
        return 0.0 if distance_ == 0 else math.inf
    return distance_ / std


_COMPUTE: Mapping[str, Callable[[ColumnProfile, ColumnProfile], float]] = {
    "psi": psi,
    "jensenshannon": jensenshannon,
    "hellinger": hellinger,
    "kl_divergence": kl_divergence,
    "linf": linf,
    "chisquare": chisquare,
    "ks": ks,
    "wasserstein": wasserstein,
}
assert set(_COMPUTE) == set(catalog.DRIFT_TRAITS), "every drift method of the catalog needs its function"

# The catalog's properties (monitoring_assets.core.catalog, in its order) plus each function.
DRIFT_METHODS: Mapping[str, DriftMethod] = {
    t.name: DriftMethod(**{f.name: getattr(t, f.name) for f in fields(t)}, compute=_COMPUTE[t.name])
    for t in catalog.DRIFT_TRAITS.values()
}


def get_method(name: str) -> DriftMethod:
    try:
        return DRIFT_METHODS[name]
    except KeyError:
        raise ProfileError(f"unknown drift method {name!r}; choose one of {sorted(DRIFT_METHODS)}") from None


def column_kind(profile: ColumnProfile) -> ColumnKind:
    return "numeric" if isinstance(profile, NumericProfile) else "categorical"
